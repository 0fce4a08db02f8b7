/**
 * The auth store's metric (etcd's `auth/metrics.go`).
 *
 * Names, help texts, label names and buckets are etcd 3.4.23's; all metrics live in
 * prom-client's default registry, which `/metrics` serves.
 *
 * @module
 */

import { Gauge } from "../metrics/mod.ts";

/** `etcd_debugging_auth_revision`. */
export const authRevision = new Gauge({
  name: "etcd_debugging_auth_revision",
  help: "The current revision of auth store.",
  collect() {
    const read = _revisionSource;
    if (read !== undefined) this.set(read());
  },
});

let _revisionSource: (() => number) | undefined;

/** Makes `etcd_debugging_auth_revision` read `source` on scrape (the store opened last). */
export function reportAuthRevision(source: () => number): void {
  _revisionSource = source;
}
