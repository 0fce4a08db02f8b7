/**
 * The consistency checker (bbolt `tx.Check`), used after commits in tests and by the
 * inspector. It walks every bucket from the transaction's meta and checks:
 *
 * - each page is reached once, lies below the high-water mark and has the expected type;
 * - keys are strictly ascending within a page and stay within the range their parent gives;
 * - page accounting (for the latest state): every page id below the high-water mark is
 *   exactly one of reachable, free or pending.
 *
 * @module
 */

import type { Tx } from "./tx.ts";
import {
  BRANCH_PAGE_FLAG,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  FREELIST_PAGE_FLAG,
  LEAF_PAGE_FLAG,
  Page,
  PAGE_HEADER_SIZE,
  PGID_NO_FREELIST,
  readU64,
} from "./page.ts";
import { compareBytes } from "../bytes/mod.ts";

const ERRORS_MAX = 100;

interface _Walk {
  tx: Tx;
  owner: Int32Array;
  errors: string[];
}

/** Checks a transaction's tree and, for the latest state, the page accounting. */
export function checkTx(tx: Tx): string[] {
  const highWater = tx.meta.pgid;
  const walk: _Walk = { tx, owner: new Int32Array(highWater).fill(-1), errors: [] };
  walk.owner[0] = 0;
  walk.owner[1] = 1;
  if (tx.meta.freelist !== PGID_NO_FREELIST) {
    const page = _reach(walk, tx.meta.freelist, FREELIST_PAGE_FLAG, "freelist");
    if (page !== null) _mark(walk, page);
  }
  _checkBucket(walk, tx.meta.root, null, "root");
  const latest = tx.writable ||
    (tx.meta.txid === tx.db.meta.txid && tx.db.writeTx() === null);
  if (latest && walk.errors.length === 0) _checkAccounting(walk);
  return walk.errors;
}

function _error(walk: _Walk, message: string): void {
  if (walk.errors.length < ERRORS_MAX) walk.errors.push(message);
}

function _reach(walk: _Walk, id: number, want: number, where: string): Page | null {
  if (id < 2 || id >= walk.tx.meta.pgid) {
    _error(walk, `${where}: page ${id} out of bounds: high-water mark ${walk.tx.meta.pgid}`);
    return null;
  }
  let page: Page;
  try {
    page = walk.tx.page(id);
  } catch (error) {
    _error(walk, `${where}: page ${id}: ${(error as Error).message}`);
    return null;
  }
  if ((page.flags & want) === 0) {
    _error(walk, `${where}: page ${id}: invalid type: ${page.type()}`);
    return null;
  }
  return page;
}

function _mark(walk: _Walk, page: Page): void {
  for (let i = 0; i <= page.overflow; i++) {
    const id = page.id + i;
    if (id >= walk.owner.length) {
      _error(walk, `page ${page.id}: overflow past the high-water mark`);
      return;
    }
    if (walk.owner[id] !== -1) _error(walk, `page ${id}: multiple references`);
    walk.owner[id] = page.id;
  }
}

function _checkBucket(walk: _Walk, root: number, inline: Page | null, where: string): void {
  if (inline !== null) {
    _checkPage(walk, inline, null, null, where);
    return;
  }
  const page = _reach(walk, root, BRANCH_PAGE_FLAG | LEAF_PAGE_FLAG, where);
  if (page === null) return;
  _mark(walk, page);
  _checkPage(walk, page, null, null, where);
}

/** Checks one page's keys against [low, high) and recurses into children and buckets. */
function _checkPage(
  walk: _Walk,
  page: Page,
  low: Uint8Array | null,
  high: Uint8Array | null,
  where: string,
): void {
  let previous: Uint8Array | null = null;
  for (let i = 0; i < page.count; i++) {
    const key = page.key(i);
    if (key.length === 0) _error(walk, `${where}: page ${page.id}: empty key at ${i}`);
    if (previous !== null && compareBytes(previous, key) >= 0) {
      _error(walk, `${where}: page ${page.id}: keys out of order at ${i}`);
    }
    if (low !== null && compareBytes(key, low) < 0) {
      _error(walk, `${where}: page ${page.id}: key below its parent's separator`);
    }
    if (high !== null && compareBytes(key, high) >= 0) {
      _error(walk, `${where}: page ${page.id}: key at or above the next separator`);
    }
    previous = key;
  }
  if (page.isBranch()) {
    for (let i = 0; i < page.count; i++) {
      const child = _reach(walk, page.branchPgid(i), BRANCH_PAGE_FLAG | LEAF_PAGE_FLAG, where);
      if (child === null) continue;
      _mark(walk, child);
      const next = i + 1 < page.count ? page.key(i + 1) : high;
      _checkPage(walk, child, page.key(i), next, where);
    }
    return;
  }
  for (let i = 0; i < page.count; i++) {
    if ((page.leafFlags(i) & BUCKET_LEAF_FLAG) === 0) continue;
    const value = page.leafValue(i);
    const name = `${where}/${new TextDecoder().decode(page.key(i))}`;
    if (value.length < BUCKET_HEADER_SIZE) {
      _error(walk, `${name}: bucket value of ${value.length} bytes`);
      continue;
    }
    const root = readU64(new DataView(value.buffer, value.byteOffset, value.byteLength), 0);
    if (root === 0 && value.length < BUCKET_HEADER_SIZE + PAGE_HEADER_SIZE) {
      _error(walk, `${name}: inline bucket without a page`);
      continue;
    }
    _checkBucket(
      walk,
      root,
      root === 0 ? new Page(value.subarray(BUCKET_HEADER_SIZE)) : null,
      name,
    );
  }
}

function _checkAccounting(walk: _Walk): void {
  const freelist = walk.tx.db.freelist;
  const state = new Uint8Array(walk.owner.length);
  for (let id = 0; id < walk.owner.length; id++) if (walk.owner[id] !== -1) state[id] = 1;
  const claim = (id: number, kind: number, name: string) => {
    if (id >= state.length) {
      _error(walk, `${name} page ${id} is above the high-water mark ${state.length}`);
    } else if (state[id] !== 0) {
      const other = ["", "reachable", "free", "pending"][state[id]!];
      _error(walk, `page ${id} is both ${name} and ${other}`);
    } else state[id] = kind;
  };
  for (const id of freelist.spans.ids()) claim(id, 2, "free");
  for (const id of freelist.pendingIds()) claim(id, 3, "pending");
  for (let id = 0; id < state.length; id++) {
    if (state[id] === 0) _error(walk, `page ${id}: unreachable unfreed`);
  }
}
