/**
 * The byte layout of a bolt page (bbolt 1.3 `page.go`, `db.go`, `node.go`, `freelist.go`).
 * Every integer is little-endian.
 *
 * Page header (16 bytes), at the start of every page:
 *
 * | offset | size | field    |                                                  |
 * |-------:|-----:|----------|--------------------------------------------------|
 * |      0 |    8 | id       | page id (file offset / page size)                |
 * |      8 |    2 | flags    | BRANCH 0x01, LEAF 0x02, META 0x04, FREELIST 0x10 |
 * |     10 |    2 | count    | elements (or free ids; 0xFFFF = count in ptr[0]) |
 * |     12 |    4 | overflow | extra pages that follow this one                 |
 *
 * Branch element (16 bytes each, right after the header): pos u32, ksize u32, pgid u64.
 * Leaf element (16 bytes each): flags u32 (BUCKET_LEAF 0x01), pos u32, ksize u32, vsize u32.
 * `pos` counts from the element's own offset to its key; a leaf's value follows its key.
 *
 * Meta (64 bytes, after the header of pages 0 and 1):
 *
 * | offset | size | field            |
 * |-------:|-----:|------------------|
 * |      0 |    4 | magic 0xED0CDAED |
 * |      4 |    4 | version (2)      |
 * |      8 |    4 | page size        |
 * |     12 |    4 | flags            |
 * |     16 |    8 | root bucket root |
 * |     24 |    8 | root sequence    |
 * |     32 |    8 | freelist pgid    |
 * |     40 |    8 | high-water pgid  |
 * |     48 |    8 | txid             |
 * |     56 |    8 | FNV-1a 64 of 0..56 |
 *
 * Bucket value (a leaf value with BUCKET_LEAF set): root pgid u64, sequence u64, and for an
 * inline bucket (root 0) a whole leaf page (header and elements) right after.
 *
 * @module
 */

import { assert, BoltError, ERR_CHECKSUM, ERR_INVALID, ERR_VERSION_MISMATCH } from "./errors.ts";

export const PAGE_HEADER_SIZE = 16;
export const PAGE_ID_OFFSET = 0;
export const PAGE_FLAGS_OFFSET = 8;
export const PAGE_COUNT_OFFSET = 10;
export const PAGE_OVERFLOW_OFFSET = 12;

export const BRANCH_PAGE_FLAG = 0x01;
export const LEAF_PAGE_FLAG = 0x02;
export const META_PAGE_FLAG = 0x04;
export const FREELIST_PAGE_FLAG = 0x10;
/** Leaf element flag: the value is a bucket header. */
export const BUCKET_LEAF_FLAG = 0x01;

export const BRANCH_ELEMENT_SIZE = 16;
export const LEAF_ELEMENT_SIZE = 16;
export const BUCKET_HEADER_SIZE = 16;

export const MAGIC = 0xed0cdaed;
export const VERSION = 2;
export const META_SIZE = 64;
const META_MAGIC = 0;
const META_VERSION = 4;
const META_PAGE_SIZE = 8;
const META_FLAGS = 12;
const META_ROOT = 16;
const META_SEQUENCE = 24;
const META_FREELIST = 32;
const META_PGID = 40;
const META_TXID = 48;
const META_CHECKSUM = 56;

/** The freelist pgid of a meta whose freelist is not persisted (0xFFFFFFFFFFFFFFFF on disk). */
export const PGID_NO_FREELIST = -1;
/** A count field of 0xFFFF on a freelist page means the real count is the first u64. */
export const FREELIST_COUNT_OVERFLOW = 0xffff;

export const MAX_KEY_SIZE = 32768;
export const MAX_VALUE_SIZE = 2 ** 31 - 2;
export const MIN_KEYS_PER_PAGE = 2;

const TWO_32 = 2 ** 32;

/** Reads an unsigned 64-bit integer that must fit in 53 bits. */
export function readU64(dv: DataView, offset: number): number {
  const lo = dv.getUint32(offset, true);
  const hi = dv.getUint32(offset + 4, true);
  assert(hi < 0x200000, () => `u64 at offset ${offset} exceeds 2^53`);
  return hi * TWO_32 + lo;
}

/** Writes an unsigned integer below 2^53 as a little-endian u64. */
export function writeU64(dv: DataView, offset: number, value: number): void {
  dv.setUint32(offset, value >>> 0, true);
  dv.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

/** A page in memory: its bytes (one or more pages long) and a DataView over them. */
export class Page {
  readonly buf: Uint8Array;
  readonly dv: DataView;
  /** Set on a cache hit; the cache's CLOCK eviction gives such pages a second chance. */
  referenced = false;
  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get id(): number {
    return readU64(this.dv, PAGE_ID_OFFSET);
  }
  set id(value: number) {
    writeU64(this.dv, PAGE_ID_OFFSET, value);
  }
  get flags(): number {
    return this.dv.getUint16(PAGE_FLAGS_OFFSET, true);
  }
  set flags(value: number) {
    this.dv.setUint16(PAGE_FLAGS_OFFSET, value, true);
  }
  get count(): number {
    return this.dv.getUint16(PAGE_COUNT_OFFSET, true);
  }
  set count(value: number) {
    this.dv.setUint16(PAGE_COUNT_OFFSET, value, true);
  }
  get overflow(): number {
    return this.dv.getUint32(PAGE_OVERFLOW_OFFSET, true);
  }
  set overflow(value: number) {
    this.dv.setUint32(PAGE_OVERFLOW_OFFSET, value, true);
  }
  isLeaf(): boolean {
    return (this.flags & LEAF_PAGE_FLAG) !== 0;
  }
  isBranch(): boolean {
    return (this.flags & BRANCH_PAGE_FLAG) !== 0;
  }
  /** The key of element `i` (a view, not a copy). */
  key(i: number): Uint8Array {
    const elem = PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
    if (this.isLeaf()) {
      const pos = elem + this.dv.getUint32(elem + 4, true);
      const ksize = this.dv.getUint32(elem + 8, true);
      return this.buf.subarray(pos, pos + ksize);
    }
    const pos = elem + this.dv.getUint32(elem, true);
    const ksize = this.dv.getUint32(elem + 4, true);
    return this.buf.subarray(pos, pos + ksize);
  }
  /** Compares the key of element `i` with `key` in place (no view is made). */
  compareKey(i: number, key: Uint8Array): number {
    const elem = PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
    let pos: number;
    let ksize: number;
    if (this.isLeaf()) {
      pos = elem + this.dv.getUint32(elem + 4, true);
      ksize = this.dv.getUint32(elem + 8, true);
    } else {
      pos = elem + this.dv.getUint32(elem, true);
      ksize = this.dv.getUint32(elem + 4, true);
    }
    const buf = this.buf;
    const n = ksize < key.length ? ksize : key.length;
    for (let j = 0; j < n; j++) {
      const d = buf[pos + j]! - key[j]!;
      if (d !== 0) return d;
    }
    return ksize - key.length;
  }

  /** The value of leaf element `i` (a view). */
  leafValue(i: number): Uint8Array {
    const elem = PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
    const pos = elem + this.dv.getUint32(elem + 4, true) + this.dv.getUint32(elem + 8, true);
    const vsize = this.dv.getUint32(elem + 12, true);
    return this.buf.subarray(pos, pos + vsize);
  }
  /** The flags of leaf element `i`. */
  leafFlags(i: number): number {
    return this.dv.getUint32(PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE, true);
  }
  /** The child page id of branch element `i`. */
  branchPgid(i: number): number {
    return readU64(this.dv, PAGE_HEADER_SIZE + i * BRANCH_ELEMENT_SIZE + 8);
  }
  /** A readable name of the page type, as bbolt's `page.typ()`. */
  type(): string {
    const f = this.flags;
    if (f & BRANCH_PAGE_FLAG) return "branch";
    if (f & LEAF_PAGE_FLAG) return "leaf";
    if (f & META_PAGE_FLAG) return "meta";
    if (f & FREELIST_PAGE_FLAG) return "freelist";
    return `unknown<0x${f.toString(16)}>`;
  }
}

/** The meta of one committed transaction. */
export interface Meta {
  pageSize: number;
  flags: number;
  root: number;
  sequence: number;
  /** Page id of the freelist, or PGID_NO_FREELIST. */
  freelist: number;
  /** High-water mark: the first page id never allocated. */
  pgid: number;
  txid: number;
}

/** Returns a copy of a meta. */
export function copyMeta(m: Meta): Meta {
  return { ...m };
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK_64 = 0xffffffffffffffffn;

/** FNV-1a 64 of `bytes`, as Go's hash/fnv New64a. */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (let i = 0; i < bytes.length; i++) {
    h ^= BigInt(bytes[i]!);
    h = (h * FNV_PRIME) & MASK_64;
  }
  return h;
}

/** Encodes `m` into the meta area of a page buffer (after the page header). */
export function writeMeta(page: Page, m: Meta): void {
  const dv = page.dv;
  const o = PAGE_HEADER_SIZE;
  dv.setUint32(o + META_MAGIC, MAGIC, true);
  dv.setUint32(o + META_VERSION, VERSION, true);
  dv.setUint32(o + META_PAGE_SIZE, m.pageSize, true);
  dv.setUint32(o + META_FLAGS, m.flags, true);
  writeU64(dv, o + META_ROOT, m.root);
  writeU64(dv, o + META_SEQUENCE, m.sequence);
  if (m.freelist === PGID_NO_FREELIST) {
    dv.setUint32(o + META_FREELIST, 0xffffffff, true);
    dv.setUint32(o + META_FREELIST + 4, 0xffffffff, true);
  } else {
    writeU64(dv, o + META_FREELIST, m.freelist);
  }
  writeU64(dv, o + META_PGID, m.pgid);
  writeU64(dv, o + META_TXID, m.txid);
  const sum = fnv1a64(page.buf.subarray(o, o + META_CHECKSUM));
  dv.setBigUint64(o + META_CHECKSUM, sum, true);
}

/**
 * Decodes and validates the meta in a page buffer. Throws a BoltError whose message is bbolt's
 * ("invalid database", "version mismatch", "checksum error") with the reason appended.
 */
export function readMeta(page: Page): Meta {
  const dv = page.dv;
  const o = PAGE_HEADER_SIZE;
  assert(page.buf.length >= o + META_SIZE, "meta page too short");
  const magic = dv.getUint32(o + META_MAGIC, true);
  if (magic !== MAGIC) {
    throw new BoltError(`${ERR_INVALID}: bad magic 0x${magic.toString(16)}`);
  }
  const version = dv.getUint32(o + META_VERSION, true);
  if (version !== VERSION) {
    throw new BoltError(`${ERR_VERSION_MISMATCH}: version ${version}, want ${VERSION}`);
  }
  // bbolt skips the check when the stored checksum is zero; so do we, to read what it reads.
  const stored = dv.getBigUint64(o + META_CHECKSUM, true);
  const sum = fnv1a64(page.buf.subarray(o, o + META_CHECKSUM));
  if (stored !== 0n && stored !== sum) {
    throw new BoltError(`${ERR_CHECKSUM}: meta checksum mismatch`);
  }
  const noFreelist = dv.getUint32(o + META_FREELIST, true) === 0xffffffff &&
    dv.getUint32(o + META_FREELIST + 4, true) === 0xffffffff;
  return {
    pageSize: dv.getUint32(o + META_PAGE_SIZE, true),
    flags: dv.getUint32(o + META_FLAGS, true),
    root: readU64(dv, o + META_ROOT),
    sequence: readU64(dv, o + META_SEQUENCE),
    freelist: noFreelist ? PGID_NO_FREELIST : readU64(dv, o + META_FREELIST),
    pgid: readU64(dv, o + META_PGID),
    txid: readU64(dv, o + META_TXID),
  };
}
