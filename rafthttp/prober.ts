/**
 * etcd's peer prober (`probing_status.go` over xiang90/probing): each peer is probed at
 * `/raft/probing` every half connection-read timeout by two probers, one per round tripper
 * (snapshot and raft message), as etcd runs two. Each keeps a smoothed round-trip time; a
 * monitor observes it into `etcd_network_peer_round_trip_time_seconds` first after 5 s, then
 * every 30 s while the peer is healthy (every 5 s, with a warning, while it is not).
 *
 * @module
 */

import { peerRoundTripTimeSeconds } from "./metrics.ts";
import type { TransportContext } from "./transport_types.ts";
import type { UrlPicker } from "./url_picker.ts";
import { PROBING_PREFIX } from "./stream_type.ts";
import { HEADER_SERVER_FROM, idToHex } from "./version.ts";

/** etcd's statusErrorInterval and statusMonitoringInterval. */
export const STATUS_ERROR_INTERVAL_MS = 5_000;
export const STATUS_MONITORING_INTERVAL_MS = 30_000;
/** xiang90/probing's smoothing weight of a new sample. */
const _SRTT_ALPHA = 0.125;

/** The round trippers etcd probes a peer through. */
export const ROUND_TRIPPER_NAMES = ["ROUND_TRIPPER_SNAPSHOT", "ROUND_TRIPPER_RAFT_MESSAGE"];

/** A smoothed round-trip time and the health of the last probe. */
export class ProbeStatus {
  #srttMs: number | undefined;
  #healthy = false;
  #error = "";

  /** A probe answered after `rttMs`. */
  record(rttMs: number): void {
    this.#srttMs = this.#srttMs === undefined
      ? rttMs
      : (1 - _SRTT_ALPHA) * this.#srttMs + _SRTT_ALPHA * rttMs;
    this.#healthy = true;
    this.#error = "";
  }

  /** A probe failed. */
  recordFailure(error: string): void {
    this.#healthy = false;
    this.#error = error;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  get error(): string {
    return this.#error;
  }

  /** Smoothed round-trip time in milliseconds (0 before the first answer). */
  get srttMs(): number {
    return this.#srttMs ?? 0;
  }
}

/** Probes one peer through one round tripper until stopped. */
export class PeerProber {
  readonly status = new ProbeStatus();
  readonly #context: TransportContext;
  readonly #peerId: bigint;
  readonly #picker: UrlPicker;
  readonly #name: string;
  readonly #abort = new AbortController();
  #probeTimer: ReturnType<typeof setInterval> | undefined;
  #monitorTimer: ReturnType<typeof setTimeout> | undefined;
  #inFlight = false;

  constructor(context: TransportContext, peerId: bigint, picker: UrlPicker, name: string) {
    this.#context = context;
    this.#peerId = peerId;
    this.#picker = picker;
    this.#name = name;
  }

  /** Starts probing and monitoring. */
  start(): void {
    const intervalMs = Math.max(10, this.#context.timings.connReadTimeoutMs / 2);
    this.#probeTimer = setInterval(() => this.#probe(), intervalMs);
    Deno.unrefTimer(this.#probeTimer);
    this.#probe();
    this.#monitor(STATUS_ERROR_INTERVAL_MS);
  }

  /** Stops both timers and any probe in flight. */
  stop(): void {
    clearInterval(this.#probeTimer);
    clearTimeout(this.#monitorTimer);
    this.#abort.abort();
  }

  async #probe(): Promise<void> {
    if (this.#inFlight || this.#abort.signal.aborted) return;
    this.#inFlight = true;
    const began = performance.now();
    try {
      const signal = AbortSignal.any([
        this.#abort.signal,
        AbortSignal.timeout(this.#context.timings.connReadTimeoutMs),
      ]);
      const response = await this.#context.peerClient.request(
        this.#picker.pick() + PROBING_PREFIX,
        // etcd's prober sends no headers; naming the dialer lets a proxy in front of the peer
        // (tests' partitions) tell whose pooled connection this is before raft traffic reuses it.
        { method: "GET", signal, headers: { [HEADER_SERVER_FROM]: idToHex(this.#context.id) } },
      );
      const text = await response.text();
      if (response.status !== 200) throw new Error(`unexpected status ${response.status}`);
      if ((JSON.parse(text) as { OK?: boolean }).OK !== true) throw new Error("probe not OK");
      this.status.record(performance.now() - began);
    } catch (error) {
      this.status.recordFailure(error instanceof Error ? error.message : String(error));
    } finally {
      this.#inFlight = false;
    }
  }

  #monitor(afterMs: number): void {
    this.#monitorTimer = setTimeout(() => {
      const id = idToHex(this.#peerId);
      let nextMs = STATUS_MONITORING_INTERVAL_MS;
      if (!this.status.healthy) {
        this.#context.logger.warn("prober detected unhealthy status", {
          "round-tripper-name": this.#name,
          "remote-peer-id": id,
          rtt: `${this.status.srttMs}ms`,
          error: this.status.error,
        });
        nextMs = STATUS_ERROR_INTERVAL_MS;
      }
      peerRoundTripTimeSeconds.observe({ To: id }, this.status.srttMs / 1000);
      this.#monitor(nextMs);
    }, afterMs);
    Deno.unrefTimer(this.#monitorTimer);
  }
}
