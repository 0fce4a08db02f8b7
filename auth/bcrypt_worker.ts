/**
 * The bcrypt worker: hashes and compares passwords off the member's event loop (see
 * `bcrypt_pool.ts`). One request at a time, each answered with its id.
 *
 * @module
 */

import bcrypt from "bcryptjs";

/** A request from the pool. */
export type BcryptRequest =
  | { id: number; op: "hash"; password: string; cost: number }
  | { id: number; op: "compare"; password: string; hash: string };

/** The answer: the hash, or whether the password matched; `error` when bcrypt threw. */
export type BcryptResponse = { id: number; hash?: string; same?: boolean; error?: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<BcryptRequest>) => void) | null;
  postMessage(message: BcryptResponse): void;
};

scope.onmessage = (event) => {
  const request = event.data;
  try {
    if (request.op === "hash") {
      scope.postMessage({ id: request.id, hash: bcrypt.hashSync(request.password, request.cost) });
    } else {
      const same = bcrypt.compareSync(request.password, request.hash);
      scope.postMessage({ id: request.id, same });
    }
  } catch (error) {
    scope.postMessage({ id: request.id, error: String(error) });
  }
};
