/**
 * A reader of the Prometheus text exposition format for tests: families with their type and
 * help, and every sample with its labels and value. Shared by the metrics tests.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, ... for a histogram). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family. */
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/** Parses an exposition; samples belong to the family declared before them. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | undefined;
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, type: "untyped", help: "", samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const help = line.match(/^# HELP (\S+) (.*)$/);
    if (help !== null) {
      current = family(help[1]!);
      current.help = help[2]!;
      continue;
    }
    const type = line.match(/^# TYPE (\S+) (\S+)$/);
    if (type !== null) {
      current = family(type[1]!);
      current.type = type[2]!;
      continue;
    }
    if (line.startsWith("#")) continue;
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/);
    if (sample === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1]!] = m[2]!;
    }
    const target = current ?? family(sample[1]!);
    target.samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return families;
}

/** The sum of a family's samples named `name` whose labels include `match`. */
export function sumOf(
  families: Map<string, Family>,
  name: string,
  match: Record<string, string> = {},
): number {
  const familyName = name.replace(/_(bucket|sum|count)$/, "");
  const family = families.get(name) ?? families.get(familyName);
  if (family === undefined) return NaN;
  let total = 0;
  for (const s of family.samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** Label names of a family's samples, `le` and `quantile` left out, sorted. */
export function labelNamesOf(family: Family): string[] {
  const names = new Set<string>();
  for (const s of family.samples) {
    for (const k of Object.keys(s.labels)) if (k !== "le" && k !== "quantile") names.add(k);
  }
  return [...names].sort();
}

/** Fetches `/metrics` of a client endpoint `host:port`. */
export async function scrape(endpoint: string): Promise<Map<string, Family>> {
  const response = await fetch(`http://${endpoint}/metrics`);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${text}`);
  return parseExposition(text);
}
