/**
 * Latency statistics, a text histogram and an SVG plot for the KV load tool.
 *
 * @module
 */

/** The outcome of one load run. */
export interface RunResult {
  /** Label in reports, e.g. `etcd` or `detcd`. */
  label: string;
  /** Operation name, e.g. `put`. */
  operation: string;
  /** Requests that succeeded. */
  succeeded: number;
  /** Requests that failed. */
  failed: number;
  /** Wall time of the run, in milliseconds. */
  elapsedMs: number;
  /** Latency of each successful request, in milliseconds. */
  latenciesMs: Float64Array<ArrayBuffer>;
}

/** Throughput and percentiles of a run. */
export interface Summary {
  qps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Summarises a run; the latencies are sorted in place. */
export function summarize(result: RunResult): Summary {
  const sorted = result.latenciesMs.sort();
  const at = (fraction: number): number => {
    if (sorted.length === 0) return Number.NaN;
    const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
    return sorted[Math.max(0, index)] ?? Number.NaN;
  };
  let total = 0;
  for (const latency of sorted) total += latency;
  return {
    qps: result.succeeded / (result.elapsedMs / 1000),
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1] ?? Number.NaN,
    meanMs: total / Math.max(1, sorted.length),
  };
}

/** Histogram buckets: upper bounds in milliseconds, doubling from 1/16 ms. */
export function bucketBoundsMs(): number[] {
  const bounds: number[] = [];
  for (let bound = 1 / 16; bound < 20_000; bound *= 2) bounds.push(bound);
  return bounds;
}

/** Counts per bucket of `bucketBoundsMs()` (the last bucket takes everything above). */
export function histogram(latenciesMs: Float64Array): number[] {
  const bounds = bucketBoundsMs();
  const counts = new Array<number>(bounds.length).fill(0);
  for (const latency of latenciesMs) {
    let index = bounds.findIndex((bound) => latency <= bound);
    if (index < 0) index = bounds.length - 1;
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return counts;
}

/** A text report of one run: throughput, percentiles and a bar histogram. */
export function formatRun(result: RunResult): string {
  const summary = summarize(result);
  const lines = [
    `${result.label} ${result.operation}: ${result.succeeded} ok, ${result.failed} failed in ` +
    `${(result.elapsedMs / 1000).toFixed(2)} s`,
    `  QPS ${summary.qps.toFixed(0)}   latency ms: p50 ${_ms(summary.p50Ms)}  ` +
    `p90 ${_ms(summary.p90Ms)}  p99 ${_ms(summary.p99Ms)}  p99.9 ${_ms(summary.p999Ms)}  ` +
    `max ${_ms(summary.maxMs)}  mean ${_ms(summary.meanMs)}`,
  ];
  const counts = histogram(result.latenciesMs);
  const bounds = bucketBoundsMs();
  const largest = Math.max(1, ...counts);
  const first = counts.findIndex((count) => count > 0);
  const last = counts.length - 1 - [...counts].reverse().findIndex((count) => count > 0);
  for (let index = Math.max(0, first); first >= 0 && index <= last; index++) {
    const count = counts[index] ?? 0;
    const bar = "#".repeat(Math.round((count / largest) * 40));
    lines.push(
      `  <= ${_ms(bounds[index] ?? 0).padStart(9)} ms ${String(count).padStart(8)} ${bar}`,
    );
  }
  return lines.join("\n");
}

function _ms(value: number): string {
  if (!Number.isFinite(value)) return "-";
  return value < 10 ? value.toFixed(3) : value.toFixed(1);
}

const _COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/**
 * An SVG plot of the latency distributions of several runs: the share of requests per
 * log2 latency bucket, one line per run, and each run's p50/p99 in the legend.
 */
export function histogramSvg(results: RunResult[], title: string): string {
  const width = 760;
  const height = 380;
  const left = 60;
  const right = 20;
  const top = 40;
  const bottom = 60;
  const bounds = bucketBoundsMs();
  const shares = results.map((result) => {
    const counts = histogram(result.latenciesMs);
    const total = Math.max(1, result.latenciesMs.length);
    return counts.map((count) => count / total);
  });
  const used = shares.flatMap((series) =>
    series.flatMap((share, index) => share > 0 ? [index] : [])
  );
  const firstBucket = Math.max(0, Math.min(...used, bounds.length - 1) - 1);
  const lastBucket = Math.min(bounds.length - 1, Math.max(...used, 0) + 1);
  const maxShare = Math.max(0.01, ...shares.flat());
  const x = (index: number) =>
    left + ((index - firstBucket) / Math.max(1, lastBucket - firstBucket)) *
      (width - left - right);
  const y = (share: number) => top + (1 - share / maxShare) * (height - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${_escape(title)}</text>`,
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" ` +
    `stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="black"/>`,
    `<text x="${width / 2}" y="${height - 15}" text-anchor="middle">` +
    `latency (ms, bucket upper bound, log2 scale)</text>`,
    `<text x="15" y="${height / 2}" transform="rotate(-90 15 ${height / 2})" ` +
    `text-anchor="middle">share of requests</text>`,
  ];
  for (let index = firstBucket; index <= lastBucket; index++) {
    const label = _ms(bounds[index] ?? 0);
    parts.push(
      `<text x="${x(index)}" y="${height - bottom + 15}" text-anchor="middle" ` +
        `font-size="10">${label}</text>`,
    );
  }
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const share = maxShare * fraction;
    parts.push(
      `<text x="${left - 5}" y="${y(share) + 4}" text-anchor="end" font-size="10">` +
        `${(share * 100).toFixed(0)}%</text>`,
    );
  }
  results.forEach((result, seriesIndex) => {
    const color = _COLORS[seriesIndex % _COLORS.length];
    const series = shares[seriesIndex] ?? [];
    const points: string[] = [];
    for (let index = firstBucket; index <= lastBucket; index++) {
      points.push(`${x(index).toFixed(1)},${y(series[index] ?? 0).toFixed(1)}`);
    }
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(" ")}"/>`,
    );
    const summary = summarize(result);
    parts.push(
      `<text x="${width - right - 5}" y="${top + 15 * (seriesIndex + 1)}" text-anchor="end" ` +
        `fill="${color}">${_escape(result.label)}: ${summary.qps.toFixed(0)} QPS, ` +
        `p50 ${_ms(summary.p50Ms)} ms, p99 ${_ms(summary.p99Ms)} ms</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

function _escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}
