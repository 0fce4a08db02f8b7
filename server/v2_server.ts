/**
 * The v2 request API of a member (etcd 3.4 `etcdserver/v2_server.go`): writes and quorum reads
 * go through raft as bare `etcdserverpb.Request`s; plain reads and watches are served from
 * the local v2 store. The HTTP layer (`api/v2_keys.ts`) only parses and formats.
 *
 * @module
 */

import type { etcdserverpb } from "../etcdserverpb/mod.ts";
import type { V2Event, Watcher } from "../v2store/mod.ts";
import type { EtcdServer } from "./etcd_server.ts";
import { UnknownMethodError } from "./apply_v2.ts";

/** What a v2 request gives: an event or a watcher, with the raft term and commit index. */
export interface V2Response {
  event?: V2Event;
  watcher?: Watcher;
  /** The raft term (X-Raft-Term). */
  term: number;
  /** The raft commit index (X-Raft-Index). */
  index: number;
}

/** The v2 API over one member. */
export class V2Server {
  readonly #core: EtcdServer;

  /** Serves v2 requests on `core`. */
  constructor(core: EtcdServer) {
    this.#core = core;
  }

  /** The cluster ID as etcd prints it (hex), for X-Etcd-Cluster-ID. */
  get clusterIdHex(): string {
    return this.#core.clusterId.toString(16);
  }

  /** The v2 store's counters (`/v2/stats/store`). */
  storeStatsJson(): string {
    return this.#core.v2store.jsonStats();
  }

  /** The v2 store's index. */
  get storeIndex(): number {
    return this.#core.v2store.currentIndex;
  }

  /**
   * Runs one request (etcd's `Do`): throws a V2Error for store failures and the server's
   * errors (timeout, no leader, stopped) as they are.
   */
  async do(r: etcdserverpb.Request.$Properties, signal?: AbortSignal): Promise<V2Response> {
    let method = r.Method ?? "";
    if (method === "GET" && r.Quorum === true) method = "QGET";
    r.Method = method;
    const store = this.#core.v2store;
    let event: V2Event | undefined;
    let watcher: Watcher | undefined;
    switch (method) {
      case "POST":
      case "PUT":
      case "DELETE":
      case "QGET": {
        const result = await this.#core.proposeV2(r, signal);
        if (result.error !== undefined) throw result.error;
        event = result.event;
        break;
      }
      case "GET":
        if (r.Wait === true) {
          watcher = store.watch(r.Path ?? "", {
            recursive: r.Recursive === true,
            stream: r.Stream === true,
            sinceIndex: Number(r.Since ?? 0),
          });
        } else {
          event = store.get(r.Path ?? "", r.Recursive === true, r.Sorted === true);
        }
        break;
      case "HEAD":
        event = store.get(r.Path ?? "", r.Recursive === true, r.Sorted === true);
        break;
      default:
        throw new UnknownMethodError();
    }
    const response: V2Response = { term: this.#core.term, index: this.#core.committedIndex };
    if (event !== undefined) response.event = event;
    if (watcher !== undefined) response.watcher = watcher;
    return response;
  }
}
