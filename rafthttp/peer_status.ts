/**
 * Whether a peer is reachable, with the transitions logged (etcd peer_status.go).
 *
 * @module
 */

import type { Logger } from "./logger.ts";
import { idToHex } from "./version.ts";
import { activePeers, disconnectedPeersTotal } from "./metrics.ts";

/** The reachability of one peer. */
export class PeerStatus {
  #active = false;
  #since: Date | undefined;

  readonly #logger: Logger;
  readonly #localId: bigint;
  readonly #peerId: bigint;

  constructor(
    logger: Logger,
    localId: bigint,
    peerId: bigint,
  ) {
    this.#logger = logger;
    this.#localId = localId;
    this.#peerId = peerId;
  }

  /** Marks the peer reachable (a stream connected or a POST succeeded). */
  activate(): void {
    if (this.#active) return;
    this.#active = true;
    activePeers.inc(this.#labels());
    this.#since = new Date();
    this.#logger.info("peer became active", {
      "local-member-id": idToHex(this.#localId),
      "peer-id": idToHex(this.#peerId),
    });
  }

  /** Marks the peer unreachable after a failure of `source` doing `action`. */
  deactivate(source: string, action: string, reason: string): void {
    if (!this.#active) {
      this.#logger.debug("peer deactivated again", { source, action, error: reason });
      return;
    }
    this.#active = false;
    this.#since = undefined;
    activePeers.dec(this.#labels());
    disconnectedPeersTotal.inc(this.#labels());
    this.#logger.warn("peer became inactive (message send to peer failed)", {
      "local-member-id": idToHex(this.#localId),
      "peer-id": idToHex(this.#peerId),
      error: `failed to ${action} ${idToHex(this.#peerId)} on ${source} (${reason})`,
    });
  }

  #labels(): { Local: string; Remote: string } {
    return { Local: idToHex(this.#localId), Remote: idToHex(this.#peerId) };
  }

  /** True while the peer is reachable. */
  isActive(): boolean {
    return this.#active;
  }

  /** When the peer became reachable, or `undefined` while it is not. */
  activeSince(): Date | undefined {
    return this.#since;
  }
}
