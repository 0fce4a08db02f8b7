/**
 * `inspect snap DIR`: the snap files of a snap directory, newest first, each checked and
 * decoded (term, index, configuration, data size), plus the db files beside them. Reads only:
 * unlike `Snapshotter.load()` it renames nothing.
 *
 * @module
 */

import { join } from "node:path";
import { parseSnapName, readSnapFile } from "./snapshotter.ts";

/** Options for `inspectSnap`. */
export interface InspectSnapOptions {
  /** Output one JSON document instead of text. */
  json?: boolean;
}

/** Describes every snap file and db file in `dir`. */
export function inspectSnap(dir: string, options: InspectSnapOptions = {}): string {
  const snaps: Record<string, unknown>[] = [];
  const others: { name: string; bytes: number }[] = [];
  const entries = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name).sort()
    .reverse();
  for (const name of entries) {
    const bytes = Deno.statSync(join(dir, name)).size;
    if (parseSnapName(name) === undefined) {
      others.push({ name, bytes });
      continue;
    }
    try {
      const s = readSnapFile(join(dir, name));
      const cs = s.metadata.confState;
      snaps.push({
        name,
        bytes,
        ok: true,
        term: s.metadata.term,
        index: s.metadata.index,
        voters: cs.voters.map((v) => v.toString(16)),
        learners: cs.learners.map((v) => v.toString(16)),
        dataBytes: s.data?.length ?? 0,
      });
    } catch (err) {
      snaps.push({ name, bytes, ok: false, error: (err as Error).message });
    }
  }
  if (options.json) return JSON.stringify({ dir, snaps, others }, null, 2);
  const lines = [`snap ${dir}: ${snaps.length} snap file(s)`];
  for (const s of snaps) {
    if (s.ok) {
      lines.push(
        `${s.name} ok term=${s.term} index=${s.index} voters=[${
          (s.voters as string[]).join(",")
        }] ` +
          `learners=[${
            (s.learners as string[]).join(",")
          }] data=${s.dataBytes}B (${s.bytes}B file)`,
      );
    } else {
      lines.push(`${s.name} BAD: ${s.error}`);
    }
  }
  for (const o of others) lines.push(`${o.name} ${o.bytes}B`);
  return lines.join("\n");
}
