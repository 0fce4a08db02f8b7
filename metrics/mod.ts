/**
 * The Prometheus client, as much of it as detcd uses: prom-client's counter, gauge, histogram,
 * registry (with its default registry, `register`, which `/metrics` serves) and bucket helper.
 *
 * Why not `import ... from "prom-client"`: its index loads every part of the package, and an
 * idle member pays for the parts it never uses: the summary (with `tdigest` and `bintrees`), the
 * push gateway, the cluster aggregator and the default process metrics (with Node's `perf_hooks`
 * and `v8`); detcd serves its own process metrics (`api/process_metrics.ts`). Importing
 * the files of the package that hold what detcd uses costs 0.6 MiB less V8 heap and 1.4 MiB
 * less RssAnon (docs/memory.md, 2026-12-07 round 6). The objects are the same: the index
 * re-exports these very files, so that code importing `"prom-client"` (tests, benchmarks) sees
 * the same default registry.
 *
 * The types are prom-client's own (the files have none of their own): each export is a value
 * and a type of the same name, as the package's are.
 *
 * @module
 */

import type * as PromClient from "prom-client";
import bucketGenerators from "prom-client/lib/bucketGenerators.js";
import counterClass from "prom-client/lib/counter.js";
import gaugeClass from "prom-client/lib/gauge.js";
import histogramClass from "prom-client/lib/histogram.js";
import registryClass from "prom-client/lib/registry.js";

/** A metric that only goes up (prom-client's `Counter`). */
export const Counter: typeof PromClient.Counter = counterClass;
/** A counter with labels `T`. */
export type Counter<T extends string = string> = PromClient.Counter<T>;

/** A metric that goes up and down (prom-client's `Gauge`). */
export const Gauge: typeof PromClient.Gauge = gaugeClass;
/** A gauge with labels `T`. */
export type Gauge<T extends string = string> = PromClient.Gauge<T>;

/** Observations counted in buckets (prom-client's `Histogram`). */
export const Histogram: typeof PromClient.Histogram = histogramClass;
/** A histogram with labels `T`. */
export type Histogram<T extends string = string> = PromClient.Histogram<T>;

/** A set of metrics that can be serialized together (prom-client's `Registry`). */
export const Registry: typeof PromClient.Registry = registryClass;
/** A registry. */
export type Registry = PromClient.Registry;

/** The default registry, where metrics register unless told otherwise; `/metrics` serves it. */
export const register: PromClient.Registry = (
  registryClass as unknown as { globalRegistry: PromClient.Registry }
).globalRegistry;

/** `count` bucket bounds from `start`, each `factor` times the previous one. */
export const exponentialBuckets: typeof PromClient.exponentialBuckets = (
  bucketGenerators as unknown as { exponentialBuckets: typeof PromClient.exponentialBuckets }
).exponentialBuckets;
