/**
 * A private duration histogram (benchmarks and tests) for WAL fsyncs, with the buckets of etcd's
 * `etcd_disk_wal_fsync_duration_seconds`: upper bounds 0.001 * 2^k seconds for k = 0..13
 * (1 ms to 8.192 s), plus +Inf.
 *
 * @module
 */

/** One cumulative bucket as Prometheus exposes it. */
export interface HistogramBucket {
  /** Upper bound in seconds (`Infinity` for +Inf). */
  le: number;
  /** Observations at or below `le`. */
  count: number;
}

/** A point-in-time copy of a histogram. */
export interface HistogramSnapshot {
  name: string;
  help: string;
  buckets: HistogramBucket[];
  sum: number;
  count: number;
}

/** A histogram of durations in seconds. */
export class DurationHistogram {
  readonly bounds: readonly number[];
  readonly #counts: Float64Array;
  #total = 0;
  #sumSeconds = 0;

  constructor(readonly name: string, readonly help: string, bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError("histogram bounds must increase");
    }
    this.bounds = [...bounds];
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** Records one duration in seconds. */
  observe(seconds: number): void {
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
    this.#counts[i]!++;
    this.#total++;
    this.#sumSeconds += seconds;
  }

  /** Number of observations. */
  get count(): number {
    return this.#total;
  }

  /** Cumulative buckets, sum and count, as the metrics layer exposes them. */
  snapshot(): HistogramSnapshot {
    const buckets: HistogramBucket[] = [];
    let running = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      running += this.#counts[i]!;
      buckets.push({ le: this.bounds[i] ?? Infinity, count: running });
    }
    return { name: this.name, help: this.help, buckets, sum: this.#sumSeconds, count: this.#total };
  }

  /** The histogram in the Prometheus text exposition format. */
  toPrometheus(): string {
    const s = this.snapshot();
    const lines = [`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} histogram`];
    for (const b of s.buckets) {
      const le = b.le === Infinity ? "+Inf" : String(b.le);
      lines.push(`${s.name}_bucket{le="${le}"} ${b.count}`);
    }
    lines.push(`${s.name}_sum ${s.sum}`, `${s.name}_count ${s.count}`);
    return lines.join("\n") + "\n";
  }

  /** Forgets every observation (for tests and benchmarks). */
  reset(): void {
    this.#counts.fill(0);
    this.#total = 0;
    this.#sumSeconds = 0;
  }
}

/** Upper bounds 0.001 * 2^k s, k = 0..13, as etcd's `prometheus.ExponentialBuckets(0.001, 2, 14)`. */
export const WAL_FSYNC_BUCKETS: readonly number[] = Array.from(
  { length: 14 },
  (_, k) => 0.001 * 2 ** k,
);
