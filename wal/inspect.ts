/**
 * `inspect wal DIR`: every record of a WAL directory, decoded, for an operator. Reads only: no
 * lock is taken and nothing is repaired, so it is safe on the WAL of a running member.
 *
 * @module
 */

import { decodeConfChange, decodeEntry, decodeHardState, EntryType } from "../raft/mod.ts";
import { fileSegment, WalDecoder } from "./decoder.ts";
import { readWalNames } from "./names.ts";
import { decodeMetadata, decodeWalSnapshot, RecordType, recordTypeName } from "./walpb.ts";

/** Options for `inspectWal`. */
export interface InspectWalOptions {
  /** Output one JSON document instead of text. */
  json?: boolean;
}

type _Json = Record<string, unknown>;

const CONF_CHANGE_TYPES = ["AddNode", "RemoveNode", "UpdateNode", "AddLearnerNode"];
const ENTRY_TYPES = ["EntryNormal", "EntryConfChange", "EntryConfChangeV2"];

function _hex(value: bigint): string {
  return value.toString(16);
}

/** Decodes a record's data into a plain object for display. */
function _describe(type: number, data: Uint8Array): _Json {
  switch (type) {
    case RecordType.metadata: {
      const md = decodeMetadata(data);
      return { nodeId: _hex(md.nodeId), clusterId: _hex(md.clusterId) };
    }
    case RecordType.entry: {
      const e = decodeEntry(data);
      const out: _Json = {
        term: e.term,
        index: e.index,
        entryType: ENTRY_TYPES[e.type] ?? e.type,
        dataBytes: e.data?.length ?? 0,
      };
      if (e.type === EntryType.EntryConfChange && e.data !== undefined) {
        const cc = decodeConfChange(e.data);
        out.confChange = {
          id: _hex(cc.id),
          type: CONF_CHANGE_TYPES[cc.type] ?? cc.type,
          nodeId: _hex(cc.nodeId),
          context: cc.context === undefined ? undefined : new TextDecoder().decode(cc.context),
        };
      }
      return out;
    }
    case RecordType.state: {
      const hs = decodeHardState(data);
      return { term: hs.term, vote: _hex(hs.vote), commit: hs.commit };
    }
    case RecordType.snapshot:
      return { ...decodeWalSnapshot(data) };
    default:
      return {};
  }
}

function _text(fields: _Json): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "object" ? _text(v as _Json) : String(v)}`)
    .join(" ");
}

/**
 * Describes every record of the WAL in `dir`: segment, offset, type, chained CRC and the
 * decoded data (metadata IDs, entries with conf changes, hard states, snapshot markers), then a
 * summary. Damage is reported at the point where reading stopped.
 */
export function inspectWal(dir: string, options: InspectWalOptions = {}): string {
  const names = readWalNames(dir);
  const decoder = new WalDecoder(
    names.map((name) => fileSegment(dir, name)),
  );
  const records: _Json[] = [];
  const counts: Record<string, number> = {};
  let error: string | undefined;
  try {
    for (let found = decoder.next(); found !== undefined; found = decoder.next()) {
      const { record } = found;
      if (record.type === RecordType.crc) {
        if (decoder.crc !== 0 && decoder.crc !== record.crc) {
          throw new Error(`wal: crc mismatch in ${found.segment} at offset ${found.offset}`);
        }
        decoder.updateCrc(record.crc);
      }
      const typeName = recordTypeName(record.type);
      counts[typeName] = (counts[typeName] ?? 0) + 1;
      records.push({
        segment: found.segment,
        offset: found.offset,
        type: typeName,
        crc: record.crc.toString(16).padStart(8, "0"),
        ...(_describe(record.type, record.data ?? new Uint8Array(0))),
      });
    }
  } catch (err) {
    error = (err as Error).message;
  }
  const torn = decoder.torn;
  if (options.json) {
    return JSON.stringify({ dir, segments: names, records, counts, torn, error }, null, 2);
  }
  const lines = [`WAL ${dir}: ${names.length} segment(s): ${names.join(", ")}`];
  for (const r of records) {
    const { segment, offset, type, crc, ...rest } = r;
    lines.push(`${segment} @${offset} ${type} crc=${crc} ${_text(rest)}`.trimEnd());
  }
  lines.push(`records: ${_text(counts)}`);
  if (torn !== undefined) {
    lines.push(
      `torn write at the end of ${torn.segment}, last whole record ends at ${torn.offset}: ${torn.reason}`,
    );
  }
  if (error !== undefined) lines.push(`error: ${error}`);
  return lines.join("\n");
}
