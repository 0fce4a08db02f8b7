/**
 * The in-memory index from a key to the revisions of its versions (etcd `mvcc/key_index.go`,
 * `index.go`).
 *
 * A key's history is a list of generations. A generation runs from the put that (re)creates the
 * key to the tombstone that deletes it; the last generation is the live one and is empty when the
 * key is deleted. For example put(1.0); put(2.0); tombstone(3.0); put(4.0); tombstone(5.0) gives
 * generations {1.0, 2.0, 3.0(t)}, {4.0, 5.0(t)}, {} and modified 5.0.
 *
 * Compacting at revision R drops every revision <= R except the newest one at or below R in each
 * generation (that one still answers reads at R); a generation whose only remaining revision is
 * its tombstone is dropped; a key whose generations are all gone leaves the index.
 *
 * @module
 */

import { bytesToKeyString, keyStringToBytes } from "./key_bytes.ts";
import { KeyTree } from "./key_tree.ts";
import { type Revision, revisionId } from "./revision.ts";

/** Revisions kept by a compaction, keyed by {@link revisionId}. */
export type RevisionSet = Map<string, Revision>;

/** One life of a key: from its creation to its deletion (or until now). */
export interface Generation {
  /** Number of puts in this generation, counting the ones compacted away. */
  ver: number;
  /** The revision of the put that created the key in this generation. */
  created: Revision;
  /** Revisions in ascending order; the last one is the tombstone in a closed generation. */
  revs: Revision[];
}

/** What a read at a revision finds for a key. */
export interface KeyAtRevision {
  modified: Revision;
  created: Revision;
  version: number;
}

/**
 * A key's history as the tree holds it, in one of three forms, none with the key or an object of
 * its own (at 1,000,000 keys the per-key `KeyIndex` object and its array were most of the
 * index's 213 bytes a key):
 *
 * - a number: the history is one generation of one put that created the key (version 1), as
 *   after the first put of a key. The number is that put's packed revision (see {@link _pack}).
 * - a string: any other short history, the numbers of its array form as varints, one byte a
 *   character (see {@link _encode}). V8 keeps such a string in 16 bytes plus its length.
 * - an array: a long history (more than {@link _STRING_NUMBERS_MAX} numbers), kept as numbers
 *   so that a put appends without re-encoding.
 *
 * The array form is `[ver, createdMain, createdSub, count, main0, sub0, ...]` per generation, the
 * live one last; every operation on a history is defined on it.
 */
type _History = number | string | number[];

// Layout of a generation inside the array form: a header of four numbers, then `count` pairs
// (main, sub) in ascending order.
const _VER = 0;
const _CREATED_MAIN = 1;
const _CREATED_SUB = 2;
const _COUNT = 3;
const _HEADER = 4;
/**
 * Up to this many numbers the array is copied to its exact size on every append (V8 grows a
 * pushed array by half plus 16 slots, which would triple a short history); past it, pushes
 * amortize the growth of keys with a long history.
 */
const _EXACT_SIZE_MAX = 64;
/**
 * Histories of up to this many numbers (a generation of 14 revisions, or two of 6) are stored as
 * strings: each change re-encodes the whole history, which stays cheap at this size.
 */
const _STRING_NUMBERS_MAX = 32;
/** Histories a restore holds as arrays at most before it stores them compactly. */
const RESTORED_ARRAYS_MAX = 32_768;

/**
 * The packed form of a revision is `sub * 2^33 + main`, exact in a double while sub < 2^20 and
 * main < 2^33 (2^53 in all). A put outside a transaction has sub 0: its packed form is `main`,
 * which V8 stores as a small integer (below 2^31), in the tree's slot and without a heap number
 * (16 bytes). A key put once at a revision outside those bounds (a transaction of a million
 * operations, or 8.6 billion revisions) is stored as a string instead.
 */
const _SUB_LIMIT = 2 ** 20;
const _MAIN_LIMIT = 2 ** 33;

function _packs(main: number, sub: number): boolean {
  return main < _MAIN_LIMIT && sub < _SUB_LIMIT;
}

function _pack(main: number, sub: number): number {
  return sub === 0 ? main : sub * _MAIN_LIMIT + main;
}

function _packedMain(packed: number): number {
  return packed % _MAIN_LIMIT;
}

function _unpack(packed: number): Revision {
  return { main: packed % _MAIN_LIMIT, sub: Math.floor(packed / _MAIN_LIMIT) };
}

// Varints in a string: seven bits of the number per character, low first; a character at or
// above 0x80 says that more follow. The numbers are safe integers, so the arithmetic is in
// doubles (bit operators would cut them to 32 bits).
const _VARINT_MORE = 0x80;
/** Character codes of the string being encoded (reused: {@link _encode} is not re-entered). */
const _codes: number[] = [];
/** The array form of the last string read by {@link _view} (valid until the next call). */
const _scratch: number[] = [];

function _encode(a: number[]): string {
  _codes.length = 0;
  for (let n of a) {
    while (n >= _VARINT_MORE) {
      _codes.push(_VARINT_MORE | (n % _VARINT_MORE));
      n = Math.floor(n / _VARINT_MORE);
    }
    _codes.push(n);
  }
  // One call builds a flat one-byte string; appending characters would leave cons strings.
  return String.fromCharCode.apply(null, _codes);
}

function _decode(s: string, into: number[]): number[] {
  into.length = 0;
  let n = 0;
  let scale = 1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < _VARINT_MORE) {
      into.push(n + c * scale);
      n = 0;
      scale = 1;
    } else {
      n += (c - _VARINT_MORE) * scale;
      scale *= _VARINT_MORE;
    }
  }
  return into;
}

/** The array form of `h` for reading only: valid until the next call. */
function _view(h: _History): number[] {
  if (typeof h === "string") return _decode(h, _scratch);
  return _arrayOf(h);
}

/** The array form of `h` to change: the stored array itself, or a fresh one. */
function _arrayOf(h: _History): number[] {
  if (typeof h === "string") return _decode(h, []);
  if (typeof h !== "number") return h;
  const { main, sub } = _unpack(h);
  return [1, main, sub, 1, main, sub];
}

/** The form to store the history `a` in (see {@link _History}). */
function _stored(a: number[]): _History {
  if (
    a.length === _HEADER + 2 && a[_VER] === 1 && a[_COUNT] === 1 &&
    a[_CREATED_MAIN] === a[_HEADER] && a[_CREATED_SUB] === a[_HEADER + 1] &&
    _packs(a[_HEADER]!, a[_HEADER + 1]!)
  ) {
    return _pack(a[_HEADER]!, a[_HEADER + 1]!);
  }
  return a.length <= _STRING_NUMBERS_MAX ? _encode(a) : a;
}

function _nextGeneration(h: number[], off: number): number {
  return off + _HEADER + 2 * h[off + _COUNT]!;
}

/** Offset of the last generation's header (`h` is not empty). */
function _lastGeneration(h: number[]): number {
  let off = 0;
  for (let next = _nextGeneration(h, 0); next < h.length; next = _nextGeneration(h, off)) {
    off = next;
  }
  return off;
}

/** `h` with `numbers` appended: a new exact-size array while short, else `h` grown. */
function _append(h: number[], numbers: number[]): number[] {
  if (h.length + numbers.length <= _EXACT_SIZE_MAX) return h.concat(numbers);
  for (const n of numbers) h.push(n);
  return h;
}

function _modified(h: _History | undefined): Revision {
  if (h === undefined) return { main: 0, sub: 0 };
  if (typeof h === "number") return _unpack(h);
  return _modifiedOf(_view(h));
}

function _modifiedOf(a: number[]): Revision {
  const last = _lastGeneration(a);
  // The live generation ends the array; when it is empty, the tombstone that closed the
  // previous one sits right before its header.
  if (a[last + _COUNT]! > 0) return { main: a[a.length - 2]!, sub: a[a.length - 1]! };
  if (last > 0) return { main: a[last - 2]!, sub: a[last - 1]! };
  return { main: 0, sub: 0 };
}

function _isEmpty(h: _History): boolean {
  if (typeof h === "number") return false;
  const a = _view(h);
  return a.length === _HEADER && a[_COUNT] === 0;
}

function _live(h: _History | undefined): boolean {
  if (h === undefined) return false;
  if (typeof h === "number") return true;
  const a = _view(h);
  return a[_lastGeneration(a) + _COUNT]! > 0;
}

function _assertAfter(modified: Revision, main: number, sub: number): void {
  if (main < modified.main || (main === modified.main && sub <= modified.sub)) {
    throw new Error(
      `keyIndex.put: revision ${main}.${sub} is not after ${modified.main}.${modified.sub}`,
    );
  }
}

/**
 * `a` with `numbers` appended. An array decoded for this change (`owned`) grows in place: it is
 * about to be encoded, so its spare capacity does not last; a stored array goes by {@link _append}.
 */
function _appendTo(a: number[], numbers: number[], owned: boolean): number[] {
  if (!owned) return _append(a, numbers);
  for (const n of numbers) a.push(n);
  return a;
}

/** `a` (changed in place, or copied) with a put at {main, sub} in its last generation. */
function _putArray(a: number[], main: number, sub: number, owned: boolean): number[] {
  const off = _lastGeneration(a);
  if (a[off + _COUNT] === 0) {
    a[off + _CREATED_MAIN] = main;
    a[off + _CREATED_SUB] = sub;
  }
  a[off + _VER]!++;
  a[off + _COUNT]!++;
  return _appendTo(a, [main, sub], owned);
}

/** The history after a put at {main, sub}, which must be later than every revision in it. */
function _put(h: _History | undefined, main: number, sub: number): _History {
  if (h === undefined) {
    _assertAfter({ main: 0, sub: 0 }, main, sub);
    return _stored([1, main, sub, 1, main, sub]);
  }
  // One decoding serves the check and the change.
  const a = _arrayOf(h);
  _assertAfter(_modifiedOf(a), main, sub);
  return _stored(_putArray(a, main, sub, a !== h));
}

/** A history seeded with the newest live version found on disk (restore). */
function _restored(created: Revision, modified: Revision, version: number): _History {
  return _stored([version, created.main, created.sub, 1, modified.main, modified.sub]);
}

/**
 * The history after a tombstone at {main, sub}, which opens a new empty generation; undefined
 * (nothing changes) when the key is not live, as etcd's ErrRevisionNotFound.
 */
function _tombstone(h: _History, main: number, sub: number): _History | undefined {
  const a = _arrayOf(h);
  if (a.length === _HEADER && a[_COUNT] === 0) {
    throw new Error("keyIndex.tombstone on an empty index");
  }
  if (a[_lastGeneration(a) + _COUNT] === 0) return undefined;
  _assertAfter(_modifiedOf(a), main, sub);
  const owned = a !== h;
  return _stored(_appendTo(_putArray(a, main, sub, owned), [0, 0, 0, 0], owned));
}

/** The version of the key visible at main revision `atRev`, or undefined if none. */
function _get(h: _History, atRev: number): KeyAtRevision | undefined {
  if (typeof h === "number") {
    if (_packedMain(h) > atRev) return undefined;
    return { modified: _unpack(h), created: _unpack(h), version: 1 };
  }
  const a = _view(h);
  if (a.length === _HEADER && a[_COUNT] === 0) {
    throw new Error("keyIndex.get on an empty index");
  }
  const off = _findGeneration(a, atRev);
  if (off === -1) return undefined;
  const count = a[off + _COUNT]!;
  for (let i = count - 1; i >= 0; i--) {
    const at = off + _HEADER + 2 * i;
    if (a[at]! <= atRev) {
      return {
        modified: { main: a[at]!, sub: a[at + 1]! },
        created: { main: a[off + _CREATED_MAIN]!, sub: a[off + _CREATED_SUB]! },
        version: a[off + _VER]! - (count - i - 1),
      };
    }
  }
  return undefined;
}

/**
 * Revisions at or after main revision `rev`, keeping only the one with the largest sub
 * revision where several share a main revision (etcd `keyIndex.since`).
 */
function _since(h: _History, rev: number): Revision[] {
  if (typeof h === "number") return _packedMain(h) >= rev ? [_unpack(h)] : [];
  if (_isEmpty(h)) throw new Error("keyIndex.since on an empty index");
  const a = _view(h);
  // Generations are in revision order, so filtering every revision equals etcd's walk from the
  // last generation created before `rev`.
  const revs: Revision[] = [];
  let last = 0;
  for (let off = 0; off < a.length; off = _nextGeneration(a, off)) {
    const end = off + _HEADER + 2 * a[off + _COUNT]!;
    for (let at = off + _HEADER; at < end; at += 2) {
      const main = a[at]!;
      if (main < rev) continue;
      const r = { main, sub: a[at + 1]! };
      if (main === last) revs[revs.length - 1] = r;
      else revs.push(r);
      last = main;
    }
  }
  return revs;
}

/** The history compacted at main revision `atRev`; the kept revisions go to `available`. */
function _compact(h: _History, atRev: number, available: RevisionSet): _History {
  if (typeof h === "number") {
    // One put: it stays, and answers reads at `atRev` when it is at or below it.
    if (_packedMain(h) <= atRev) available.set(revisionId(_unpack(h)), _unpack(h));
    return h;
  }
  if (_isEmpty(h)) throw new Error("keyIndex.compact on an empty index");
  const a = _view(h);
  let [off, revIdx] = _doCompact(a, atRev, available);
  let dropPairs = 0;
  const count = a[off + _COUNT]!;
  if (count > 0) {
    if (revIdx !== -1) dropPairs = revIdx;
    // A generation left with only its tombstone is over: drop it and its tombstone.
    if (count - dropPairs === 1 && off !== _lastGeneration(a)) {
      const at = off + _HEADER + 2 * dropPairs;
      available.delete(revisionId({ main: a[at]!, sub: a[at + 1]! }));
      off = _nextGeneration(a, off);
      dropPairs = 0;
    }
  }
  if (off === 0 && dropPairs === 0) return h;
  // Rebuild at the exact size: the header of the first kept generation, its kept pairs, the rest.
  const first = a.slice(off, off + _HEADER);
  first[_COUNT] = a[off + _COUNT]! - dropPairs;
  return _stored(first.concat(a.slice(off + _HEADER + 2 * dropPairs)));
}

/** Adds to `available` the revisions a compaction at `atRev` would keep, changing nothing. */
function _keep(h: _History, atRev: number, available: RevisionSet): void {
  if (typeof h === "number") {
    if (_packedMain(h) <= atRev) available.set(revisionId(_unpack(h)), _unpack(h));
    return;
  }
  if (_isEmpty(h)) return;
  const a = _view(h);
  const [off, revIdx] = _doCompact(a, atRev, available);
  const count = a[off + _COUNT]!;
  if (count > 0 && revIdx === count - 1 && off !== _lastGeneration(a)) {
    const at = off + _HEADER + 2 * revIdx;
    available.delete(revisionId({ main: a[at]!, sub: a[at + 1]! }));
  }
}

/**
 * Finds the first generation that holds `atRev` or was created after it, and in it the newest
 * revision at or below `atRev` (added to `available`). Returns [generation offset, pair index
 * or -1].
 */
function _doCompact(h: number[], atRev: number, available: RevisionSet): [number, number] {
  const lastOff = _lastGeneration(h);
  let off = 0;
  while (off < lastOff) {
    const tomb = h[off + _HEADER + 2 * (h[off + _COUNT]! - 1)]!;
    if (tomb > atRev) break;
    off = _nextGeneration(h, off);
  }
  for (let i = h[off + _COUNT]! - 1; i >= 0; i--) {
    const at = off + _HEADER + 2 * i;
    if (h[at]! <= atRev) {
      const rev = { main: h[at]!, sub: h[at + 1]! };
      available.set(revisionId(rev), rev);
      return [off, i];
    }
  }
  return [off, -1];
}

/**
 * The generation visible at `rev` (its offset), or -1: the newest non-empty generation whose
 * first revision is at or below `rev`, unless its tombstone is too.
 */
function _findGeneration(h: number[], rev: number): number {
  let found = -1;
  let foundNext = -1;
  for (let off = 0; off < h.length;) {
    const next = _nextGeneration(h, off);
    if (h[off + _COUNT]! > 0) {
      if (h[off + _HEADER]! > rev) break;
      found = off;
      foundNext = next;
    }
    off = next;
  }
  if (found === -1) return -1;
  if (foundNext < h.length) {
    const tomb = h[foundNext - 2]!;
    if (tomb <= rev) return -1;
  }
  return found;
}

function _generations(h: _History | undefined): Generation[] {
  if (h === undefined) return [];
  const a = _view(h);
  const generations: Generation[] = [];
  for (let off = 0; off < a.length; off = _nextGeneration(a, off)) {
    const revs: Revision[] = [];
    for (let i = 0; i < a[off + _COUNT]!; i++) {
      revs.push({ main: a[off + _HEADER + 2 * i]!, sub: a[off + _HEADER + 2 * i + 1]! });
    }
    generations.push({
      ver: a[off + _VER]!,
      created: { main: a[off + _CREATED_MAIN]!, sub: a[off + _CREATED_SUB]! },
      revs,
    });
  }
  return generations;
}

/** Which of the forms of {@link _History} a key index is in (tests and diagnostics). */
export type KeyIndexForm = "packed" | "string" | "array";

/**
 * The history of one key outside the tree: {@link TreeIndex.all} returns copies of the tree's
 * histories as these, and tests drive one directly. A new one has no revision.
 */
export class KeyIndex {
  #h: _History | undefined;

  constructor(readonly keyString: string, history?: _History) {
    this.#h = typeof history === "object" ? history.slice() : history;
  }

  /** The key's bytes (a fresh copy: the index keeps only the string). */
  get key(): Uint8Array {
    return keyStringToBytes(this.keyString);
  }

  /** The revision of the last put or tombstone (0.0 when none). */
  get modified(): Revision {
    return _modified(this.#h);
  }

  /** The generations, unpacked. */
  get generations(): Generation[] {
    return _generations(this.#h);
  }

  /** The form the history is stored in; undefined while it has no revision. */
  get form(): KeyIndexForm | undefined {
    const h = this.#h;
    if (h === undefined) return undefined;
    return typeof h === "number" ? "packed" : typeof h === "string" ? "string" : "array";
  }

  /** Records a put at {main, sub}, which must be later than every revision recorded so far. */
  put(main: number, sub: number): void {
    this.#h = _put(this.#h, main, sub);
  }

  /** Seeds an empty index with the newest live version found on disk (restore). */
  restore(created: Revision, modified: Revision, version: number): void {
    if (this.#h !== undefined) throw new Error("keyIndex.restore on a non-empty index");
    this.#h = _restored(created, modified, version);
  }

  /**
   * Records a tombstone at {main, sub} and opens a new empty generation. Returns false (and
   * changes nothing) when the key is not live, as etcd's ErrRevisionNotFound.
   */
  tombstone(main: number, sub: number): boolean {
    if (this.#h === undefined) return false;
    const next = _tombstone(this.#h, main, sub);
    if (next === undefined) return false;
    this.#h = next;
    return true;
  }

  /** True when the last generation holds a revision: the key exists now. */
  live(): boolean {
    return _live(this.#h);
  }

  /** The version of the key visible at main revision `atRev`, or undefined if none. */
  get(atRev: number): KeyAtRevision | undefined {
    return this.#h === undefined ? undefined : _get(this.#h, atRev);
  }

  /** Revisions at or after main revision `rev` (etcd `keyIndex.since`). */
  since(rev: number): Revision[] {
    return this.#h === undefined ? [] : _since(this.#h, rev);
  }

  /** Compacts at main revision `atRev`, adding the kept revisions to `available`. */
  compact(atRev: number, available: RevisionSet): void {
    if (this.#h !== undefined) this.#h = _compact(this.#h, atRev, available);
  }

  /** Adds to `available` the revisions a compaction at `atRev` would keep, changing nothing. */
  keep(atRev: number, available: RevisionSet): void {
    if (this.#h !== undefined) _keep(this.#h, atRev, available);
  }

  /** True when the key has no revision left (only one empty generation). */
  isEmpty(): boolean {
    return this.#h !== undefined && _isEmpty(this.#h);
  }
}

/** The result of {@link TreeIndex.revisions}. */
export interface IndexRangeResult {
  /** Up to `limit` keys that exist at the revision, in key order, as key strings. */
  keys: string[];
  /** The revision of each key in `keys`. */
  revs: Revision[];
  /** How many keys in the range exist at the revision, ignoring the limit. */
  total: number;
}

/** One revision of a key as read back from the key bucket, for {@link TreeIndex.restore}. */
export interface RestoredRevision {
  rev: Revision;
  tombstone: boolean;
  /** The stored KeyValue's create revision (main only, as etcd restores it). */
  createRevision: number;
  /** The stored KeyValue's version. */
  version: number;
}

/**
 * The index of all keys, ordered bytewise, over a {@link KeyTree} from each key's latin1 string
 * to its history (see {@link _History}). A range end of `undefined` means the single key,
 * an empty end means every key from `key` on, otherwise `[key, end)`.
 */
export class TreeIndex {
  readonly #tree = new KeyTree<_History>();
  /** Keys whose history {@link restore} holds as an array until {@link finishRestore}. */
  #restoredArrays: string[] = [];

  /** Number of keys in the index (live or with history). */
  get size(): number {
    return this.#tree.size;
  }

  /** Records a put of `key` at `rev`. */
  put(key: Uint8Array, rev: Revision): void {
    this.putKeyString(bytesToKeyString(key), rev);
  }

  /**
   * {@link put} of a key given as its key string (`bytesToKeyString`), for a caller that
   * has it already: the string is made once per put, not once per lookup.
   */
  putKeyString(keyString: string, rev: Revision): void {
    const h = this.#tree.find(keyString);
    const next = _put(h, rev.main, rev.sub);
    if (h === undefined) this.#tree.set(keyString, next);
    else if (next !== h) this.#tree.replaceFound(keyString, next);
  }

  /** Records a tombstone of `key` at `rev`; false when the key is not live. */
  tombstone(key: Uint8Array, rev: Revision): boolean {
    const keyString = bytesToKeyString(key);
    const h = this.#tree.find(keyString);
    if (h === undefined) return false;
    const next = _tombstone(h, rev.main, rev.sub);
    if (next === undefined) return false;
    if (next !== h) this.#tree.replaceFound(keyString, next);
    return true;
  }

  /**
   * Tombstones, in key order, every key of the range that exists at main revision `at.atRev`:
   * the first at {at.main, at.sub}, the next at {at.main, at.sub + 1}, and so on. Returns their
   * key strings. This is etcd's delete of a range (the keys at the transaction's revision, then a
   * tombstone each) in one walk of the tree.
   */
  tombstoneRange(
    key: Uint8Array,
    end: Uint8Array | undefined,
    at: { atRev: number; main: number; sub: number },
  ): string[] {
    const keys: string[] = [];
    this.#visit(key, end, (keyString, h) => {
      if (_get(h, at.atRev) === undefined) return h;
      const next = _tombstone(h, at.main, at.sub + keys.length);
      if (next === undefined) throw new Error(`mvcc: cannot tombstone the live key ${keyString}`);
      keys.push(keyString);
      return next;
    }, true);
    return keys;
  }

  /** The state of `key` at main revision `atRev`, or undefined when it does not exist then. */
  get(key: Uint8Array, atRev: number): KeyAtRevision | undefined {
    return this.getKeyString(bytesToKeyString(key), atRev);
  }

  /** {@link get} of a key given as its key string (`bytesToKeyString`). */
  getKeyString(keyString: string, atRev: number): KeyAtRevision | undefined {
    const h = this.#tree.find(keyString);
    if (h === undefined) return undefined;
    return _get(h, atRev);
  }

  /**
   * Replays one revision read from the key bucket (restore, in revision order): a put or a
   * tombstone of a key already seen, or the first live version of a key, seeded with its create
   * revision and version from disk. A tombstone of a key not seen is skipped.
   */
  restore(keyString: string, found: RestoredRevision): void {
    const { rev } = found;
    const h = this.#tree.find(keyString);
    if (h === undefined) {
      if (found.tombstone) return;
      const seeded = _restored({ main: found.createRevision, sub: 0 }, rev, found.version);
      this.#tree.set(keyString, seeded);
      return;
    }
    if (found.tombstone) {
      const next = _tombstone(h, rev.main, rev.sub);
      if (next !== undefined && next !== h) this.#tree.replaceFound(keyString, next);
      return;
    }
    // A put: the history becomes an array that later puts extend in place, stored compactly
    // once by finishRestore(); as a string it would be decoded and encoded again at every one
    // of the key's revisions.
    const a = _arrayOf(h);
    _assertAfter(_modifiedOf(a), rev.main, rev.sub);
    _putArray(a, rev.main, rev.sub, true);
    if (a === h) return;
    this.#tree.replaceFound(keyString, a);
    this.#restoredArrays.push(keyString);
    // A bound on the arrays held (each up to about 300 bytes): past it, store them compactly.
    if (this.#restoredArrays.length >= RESTORED_ARRAYS_MAX) this.finishRestore();
  }

  /**
   * Stores the histories that {@link restore} left as arrays in their compact form (as a put
   * outside a restore stores them). Call it once the restore has replayed every revision; the
   * index reads and changes the same either way, this only gives back the memory.
   */
  finishRestore(): void {
    for (const keyString of this.#restoredArrays) {
      const h = this.#tree.find(keyString);
      // A tombstone since may have stored it already.
      if (!Array.isArray(h)) continue;
      // Short arrays are kept at their exact size, as _append keeps them.
      const stored = _stored(h.length <= _EXACT_SIZE_MAX ? h.slice() : h);
      if (stored !== h) this.#tree.replaceFound(keyString, stored);
    }
    this.#restoredArrays = [];
  }

  /** Keys of the range that exist at `atRev` with their revisions; `limit <= 0` is no limit. */
  revisions(
    key: Uint8Array,
    end: Uint8Array | undefined,
    atRev: number,
    limit = 0,
  ): IndexRangeResult {
    const result: IndexRangeResult = { keys: [], revs: [], total: 0 };
    this.#visit(key, end, (keyString, h) => {
      const found = _get(h, atRev);
      if (found === undefined) return;
      result.total++;
      if (limit > 0 && result.keys.length >= limit) return;
      result.keys.push(keyString);
      result.revs.push(found.modified);
    });
    return result;
  }

  /** Revisions at or after `rev` of the keys in the range, sorted by revision. */
  rangeSince(key: Uint8Array, end: Uint8Array | undefined, rev: number): Revision[] {
    const revs: Revision[] = [];
    this.#visit(key, end, (_keyString, h) => {
      for (const r of _since(h, rev)) revs.push(r);
    });
    if (end !== undefined) revs.sort((a, b) => a.main - b.main || a.sub - b.sub);
    return revs;
  }

  /**
   * Calls `visitor` for every key in the range, in key order; with `replace`, each key's history
   * becomes what `visitor` returns for it.
   */
  #visit(
    key: Uint8Array,
    end: Uint8Array | undefined,
    visitor: (keyString: string, h: _History) => _History | void,
    replace = false,
  ): void {
    const low = bytesToKeyString(key);
    if (end === undefined) {
      const h = this.#tree.find(low);
      if (h === undefined) return;
      const next = visitor(low, h);
      if (replace && next !== h) this.#tree.replaceFound(low, next as _History);
      return;
    }
    let high: string | undefined;
    if (end.length !== 0) {
      high = bytesToKeyString(end);
      if (high <= low) return;
    }
    if (replace) {
      this.#tree.editRange(low, high, false, visitor as (k: string, h: _History) => _History);
    } else {
      this.#tree.forRange(low, high, false, visitor);
    }
  }

  /** Compacts every key at `rev`; returns the revisions that must stay in the backend. */
  compact(rev: number): RevisionSet {
    const available: RevisionSet = new Map();
    // One walk: a changed history is written back in place, an emptied key leaves the tree.
    this.#tree.editAll((_keyString, h) => {
      const next = _compact(h, rev, available);
      return _isEmpty(next) ? undefined : next;
    });
    return available;
  }

  /** The revisions a compaction at `rev` would keep (for HashKV), changing nothing. */
  keep(rev: number): RevisionSet {
    const available: RevisionSet = new Map();
    this.#tree.forEach((_keyString, h) => _keep(h, rev, available));
    return available;
  }

  /** How many keys exist now (restore). */
  countLive(): number {
    let live = 0;
    this.#tree.forEach((_keyString, h) => {
      if (_live(h)) live++;
    });
    return live;
  }

  /** Copies of every key's history, in key order (tests and diagnostics). */
  all(): KeyIndex[] {
    const all: KeyIndex[] = [];
    this.#tree.forEach((keyString, h) => {
      all.push(new KeyIndex(keyString, h));
    });
    return all;
  }
}
