/**
 * WAL segment names: `%016x-%016x.wal`, sequence then the raft index of the first entry the
 * segment may hold. Names sort by sequence because both fields are fixed-width lowercase hex.
 *
 * @module
 */

import { join } from "node:path";

const WAL_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

/** The parsed parts of a segment name. */
export interface WalName {
  seq: number;
  index: number;
}

function _hex16(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`wal: ${value} is not a non-negative safe integer`);
  }
  return value.toString(16).padStart(16, "0");
}

/** The file name of segment `seq` whose first entry is `index`. */
export function walName(seq: number, index: number): string {
  return `${_hex16(seq)}-${_hex16(index)}.wal`;
}

/** Parses a segment name, or returns undefined for any other file. */
export function parseWalName(name: string): WalName | undefined {
  const match = WAL_NAME.exec(name);
  if (match === null) return undefined;
  const seq = Number.parseInt(match[1]!, 16);
  const index = Number.parseInt(match[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(index)) return undefined;
  return { seq, index };
}

/** The segment names in `dir`, sorted; other files (`.tmp`, `.broken`) are ignored. */
export function readWalNames(dir: string): string[] {
  const names: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.isFile && parseWalName(entry.name) !== undefined) names.push(entry.name);
  }
  return names.sort();
}

/**
 * The position in sorted `names` of the last segment whose first index is at or below `index`
 * (the segment that holds the entry after a snapshot at `index`), or -1.
 */
export function searchIndex(names: readonly string[], index: number): number {
  for (let i = names.length - 1; i >= 0; i--) {
    if (index >= parseWalName(names[i]!)!.index) return i;
  }
  return -1;
}

/** True when the sequence numbers of sorted `names` increase by one each. */
export function isValidSeq(names: readonly string[]): boolean {
  let last: number | undefined;
  for (const name of names) {
    const seq = parseWalName(name)!.seq;
    if (last !== undefined && seq !== last + 1) return false;
    last = seq;
  }
  return true;
}

/** Fsyncs a directory so that a rename or a new file in it survives a crash. */
export function syncDir(dir: string): void {
  const handle = Deno.openSync(dir, { read: true });
  try {
    handle.syncSync();
  } finally {
    handle.close();
  }
}

/** The path of `name` inside `dir`. */
export function walPath(dir: string, name: string): string {
  return join(dir, name);
}
