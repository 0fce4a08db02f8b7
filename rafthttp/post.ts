/**
 * One POST to a peer and the reading of its answer (etcd util.go createPostRequest,
 * checkPostResponse).
 *
 * @module
 */

import type { TransportContext } from "./transport_types.ts";
import { ERROR_MEMBER_REMOVED } from "./transport_types.ts";
import {
  ERROR_CLUSTER_ID_MISMATCH,
  ERROR_INCOMPATIBLE_VERSION,
  HEADER_CLUSTER_ID,
  idToHex,
  peerRequestHeaders,
} from "./version.ts";

/** A POST that did not end in 204 No Content. */
export class PostError extends Error {
  override name = "PostError";
  constructor(message: string, readonly memberRemoved = false) {
    super(message);
  }
}

/**
 * POSTs `body` to `url` and resolves when the peer answered 204; rejects with a
 * {@link PostError} (or the fetch failure) otherwise. A 403 means we were removed and is
 * reported to the owner as critical.
 */
export async function postToPeer(
  context: TransportContext,
  options: {
    url: string;
    peerId: bigint;
    body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
    contentType: string;
    timeoutMs: number;
    signal: AbortSignal;
  },
): Promise<void> {
  const headers = {
    "Content-Type": options.contentType,
    ...peerRequestHeaders({ from: context.id, clusterId: context.clusterId, urls: context.urls }),
  };
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]);
  const response = await context.peerClient.request(options.url, {
    method: "POST",
    headers,
    body: options.body,
    signal,
  });
  const text = await response.text();
  switch (response.status) {
    case 204:
      return;
    case 412: {
      const reason = text.replace(/\n$/, "");
      if (reason === ERROR_INCOMPATIBLE_VERSION) {
        context.logger.error("request sent was ignored by peer (server version incompatible)", {
          "remote-peer-id": idToHex(options.peerId),
        });
        throw new PostError(ERROR_INCOMPATIBLE_VERSION);
      }
      if (reason === ERROR_CLUSTER_ID_MISMATCH) {
        context.logger.error(
          `request sent was ignored (cluster ID mismatch: remote[${idToHex(options.peerId)}]=${
            response.headers.get(HEADER_CLUSTER_ID) ?? ""
          }, local=${idToHex(context.clusterId)})`,
        );
        throw new PostError(ERROR_CLUSTER_ID_MISMATCH);
      }
      throw new PostError(`unhandled error ${JSON.stringify(text)} when precondition failed`);
    }
    case 403:
      context.reportCriticalError(new Error(ERROR_MEMBER_REMOVED));
      throw new PostError(ERROR_MEMBER_REMOVED, true);
    default:
      throw new PostError(
        `unexpected http status ${response.status} while posting to ${JSON.stringify(options.url)}`,
      );
  }
}
