/**
 * Torn writes and corruption. A crash mid-append leaves the last record cut short (or, in a
 * preallocated segment, followed by zeros): opening repairs to the last whole record and keeps
 * everything before it. A flipped bit in synced data is refused with an error that names the
 * segment and offset, never truncated away.
 */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import type { Entry, HardState } from "../raft/mod.ts";
import { decodeFrameSize, fileSegment, SECTOR_BYTES, WalDecoder } from "../wal/decoder.ts";
import { WalError } from "../wal/errors.ts";
import { readWalNames } from "../wal/names.ts";
import { Wal } from "../wal/wal.ts";
import { encodeMetadata } from "../wal/walpb.ts";

const METADATA = encodeMetadata({ nodeId: 0x1234n, clusterId: 0x5678n });
const EMPTY: HardState = { term: 0, vote: 0n, commit: 0 };

/** Entry data with no zero byte, so no sector of a whole record is ever all zeros. */
function entry(index: number, bytes: number): Entry {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = ((index * 131 + i * 17) % 255) + 1;
  return { term: 1, index, type: 0, data };
}

/** Writes a WAL whose last record is a 300-byte entry; returns its bytes and frame bounds. */
async function fixture(segmentBytes: number, pairs = 15) {
  const root = await Deno.makeTempDir({ prefix: "wal_torn_" });
  const dir = join(root, "wal");
  const wal = await Wal.create(dir, METADATA, { segmentBytes });
  const entries: Entry[] = [];
  for (let i = 1; i <= 2 * pairs; i += 2) {
    const batch = [entry(i, 150), entry(i + 1, 90)];
    await wal.save({ term: 1, vote: 1n, commit: i }, batch);
    entries.push(...batch);
  }
  const last = entry(2 * pairs + 1, 300);
  await wal.save(EMPTY, [last]);
  entries.push(last);
  await wal.close();
  const names = readWalNames(dir);
  const lastName = names[names.length - 1]!;
  const decoder = new WalDecoder(
    names.map((name) => fileSegment(dir, name)),
  );
  const frames: { segment: string; offset: number; frameBytes: number; type: number }[] = [];
  for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
    if (f.record.type === 4) decoder.updateCrc(f.record.crc);
    frames.push({
      segment: f.segment,
      offset: f.offset,
      frameBytes: f.frameBytes,
      type: f.record.type,
    });
  }
  const lastFrame = frames[frames.length - 1]!;
  strictEqual(lastFrame.segment, lastName);
  const bytes = Deno.readFileSync(join(dir, lastName));
  return { root, dir, names, lastName, bytes, entries, frames, lastFrame };
}

async function readAllOf(dir: string) {
  const wal = await Wal.open(dir, { index: 0, term: 0 });
  try {
    return { wal, contents: await wal.readAll() };
  } catch (err) {
    await wal.close();
    throw err;
  }
}

/** Opens, expects `before` (and a repair at `frameStart` when `repaired`), appends, reopens. */
async function expectRepaired(
  dir: string,
  before: Entry[],
  frameStart: number,
  repaired: boolean,
  what: string,
): Promise<void> {
  const { wal, contents } = await readAllOf(dir);
  deepStrictEqual(contents.entries, before, what);
  strictEqual(contents.repaired?.offset, repaired ? frameStart : undefined, what);
  const next = entry(31, 40);
  await wal.save({ term: 1, vote: 1n, commit: 31 }, [next]);
  await wal.close();
  const again = await readAllOf(dir);
  deepStrictEqual(again.contents.entries, [...before, next], what);
  strictEqual(again.contents.repaired, undefined, what);
  await again.wal.close();
}

Deno.test("a last record cut short at every byte offset is repaired, keeping all before it", async () => {
  // Method: for each offset t inside the last frame, make the segment end at t (what an
  // appending write leaves when the file size got ahead of, or behind, the data); open, expect
  // the repair and the `.broken` copy, then append and reopen to show the WAL keeps working.
  const fx = await fixture(4096 * 4);
  const { offset: frameStart, frameBytes } = fx.lastFrame;
  const before = fx.entries.slice(0, -1);
  const path = join(fx.dir, fx.lastName);
  for (let t = frameStart; t < frameStart + frameBytes; t++) {
    const damaged = fx.bytes.slice(0, t);
    Deno.writeFileSync(path, damaged);
    await Deno.remove(path + ".broken").catch(() => {});
    // Nothing of the last record on disk is a clean end: no repair.
    await expectRepaired(fx.dir, before, frameStart, t > frameStart, `truncated at ${t}`);
    if (t > frameStart) deepStrictEqual(Deno.readFileSync(path + ".broken"), damaged);
  }
  await Deno.remove(fx.root, { recursive: true });
});

Deno.test("a torn write into preallocated space (sectors left zero) is repaired", async () => {
  // A disk writes whole 512-byte sectors; a crash mid-write leaves any subset of the last
  // write's sectors at their old contents, zeros in a preallocated segment. Method: zero each
  // sector the last frame touches on its own, and everything from each sector boundary on.
  const fx = await fixture(4096 * 4);
  const { offset: frameStart, frameBytes } = fx.lastFrame;
  const frameEnd = frameStart + frameBytes;
  const before = fx.entries.slice(0, -1);
  const path = join(fx.dir, fx.lastName);
  const firstSector = Math.floor(frameStart / SECTOR_BYTES) * SECTOR_BYTES;
  let cases = 0;
  for (let sector = firstSector; sector < frameEnd; sector += SECTOR_BYTES) {
    for (const toEnd of [false, true]) {
      const damaged = fx.bytes.slice();
      const from = Math.max(sector, frameStart);
      damaged.fill(0, from, toEnd ? damaged.length : Math.min(sector + SECTOR_BYTES, frameEnd));
      // Zeroing the length word ends the log cleanly; zeroing record bytes is a torn record.
      const lengthWordZero = from === frameStart;
      Deno.writeFileSync(path, damaged);
      await expectRepaired(fx.dir, before, frameStart, !lengthWordZero, `zeroed from ${from}`);
      cases++;
    }
  }
  ok(cases >= 2, "the last frame spans a sector boundary");
  await Deno.remove(fx.root, { recursive: true });
});

Deno.test("a zero-filled preallocated tail reads as the end of the log", async () => {
  const fx = await fixture(1 << 20);
  strictEqual(fx.bytes.length, 1 << 20, "the segment is preallocated");
  const end = fx.lastFrame.offset + fx.lastFrame.frameBytes;
  ok(fx.bytes.subarray(end).every((b) => b === 0));
  const { wal, contents } = await readAllOf(fx.dir);
  deepStrictEqual(contents.entries, fx.entries);
  strictEqual(contents.repaired, undefined);
  await wal.close();
  await Deno.remove(fx.root, { recursive: true });
});

Deno.test("a flipped bit in synced records fails with an error naming the segment and offset", async () => {
  // Method: in a middle record of the first segment and of the last segment, flip one bit of
  // every byte after the type field (crc and data, which the CRC chain covers); each must be
  // refused, and the file must be left as it was (no truncation, no .broken copy).
  const fx = await fixture(4096, 40);
  ok(fx.names.length >= 3, "several segments");
  const entryFrames = fx.frames.filter((f) => f.type === 2);
  const firstSegment = entryFrames.filter((f) => f.segment === fx.names[0]);
  const lastSegment = entryFrames.filter((f) => f.segment === fx.lastName);
  ok(lastSegment.length >= 3, "a record in the middle of the last segment");
  const targets = [
    firstSegment[Math.floor(firstSegment.length / 2)]!,
    lastSegment[Math.floor((lastSegment.length - 1) / 2)]!,
  ];
  for (const frame of targets) {
    const path = join(fx.dir, frame.segment);
    const original = Deno.readFileSync(path);
    // Frame: 8-byte length word, then tag 0x08 and the type, then crc and data, then padding
    // (which no checksum covers and no reader looks at).
    const view = new DataView(original.buffer, original.byteOffset + frame.offset, 8);
    const { recordBytes } = decodeFrameSize(view.getUint32(0, true), view.getUint32(4, true));
    for (let at = frame.offset + 10; at < frame.offset + 8 + recordBytes; at++) {
      const damaged = original.slice();
      damaged[at]! ^= 1 << (at % 8);
      if (damaged[at] === original[at]) continue;
      Deno.writeFileSync(path, damaged);
      await rejects(
        readAllOf(fx.dir).then(async (r) => {
          await r.wal.close();
          return r.contents;
        }),
        (err) => {
          ok(err instanceof WalError, String(err));
          ok(err.code === "crc-mismatch" || err.code === "corrupt", err.message);
          ok(err.message.includes(`${frame.segment} at offset ${frame.offset}`), err.message);
          return true;
        },
      );
      deepStrictEqual(Deno.readFileSync(path), damaged, "the damaged file is left untouched");
    }
    Deno.writeFileSync(path, original);
  }
  ok(!(await Array.fromAsync(Deno.readDir(fx.dir))).some((e) => e.name.endsWith(".broken")));
  await Deno.remove(fx.root, { recursive: true });
});

Deno.test("a flipped bit in a record's type (which no CRC covers) is still refused", async () => {
  // The CRC chain covers data only. An entry turned into a state record, or a state record
  // turned into an entry, must not be taken at face value: the reader checks that a state
  // record holds exactly a HardState and that no entry rewrites a committed one (Raft §5.4).
  const fx = await fixture(1 << 16);
  const frames = fx.frames.filter((f) => f.type === 2 || f.type === 3);
  const path = join(fx.dir, fx.lastName);
  let refused = 0;
  // Records in the middle, and the last ones (the last state record, the last entry).
  for (const frame of [...frames.slice(4, 12), ...frames.slice(-3)]) {
    const damaged = fx.bytes.slice();
    // Byte 9 of the frame is the type varint: 2 (entry) <-> 3 (state) differ in bit 0.
    damaged[frame.offset + 9]! ^= 1;
    Deno.writeFileSync(path, damaged);
    await rejects(readAllOf(fx.dir), (err) => {
      ok(err instanceof WalError && err.code === "corrupt", String(err));
      ok(err.message.includes(`at offset ${frame.offset}`), err.message);
      return true;
    });
    refused++;
  }
  strictEqual(refused, 11);
  await Deno.remove(fx.root, { recursive: true });
});
