/**
 * HPACK (RFC 7541): a header-block decoder with a dynamic table and Huffman strings, and the
 * few encoding primitives a gRPC server needs (it sends only literals, never indexing them,
 * so its encoder keeps no table).
 *
 * @module
 */

import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from "./_hpack_tables.ts";

/** A decoding failure: a COMPRESSION_ERROR for the connection (RFC 7540 §4.3). */
export class HpackError extends Error {
  constructor(message: string) {
    super(`hpack: ${message}`);
    this.name = "HpackError";
  }
}

/** Per-entry overhead counted against the table size (RFC 7541 §4.1). */
const ENTRY_OVERHEAD_BYTES = 32;
/** Longest header string accepted (names and values), against memory exhaustion. */
const STRING_BYTES_MAX = 64 * 1024;

const _latin1 = new TextDecoder("latin1");

/**
 * A decoded header field, [name, value]. Shared, so never changed: the static table's entries
 * and the dynamic table's are handed out as they are, not copied per block.
 */
export type HeaderField = readonly [name: string, value: string];

/**
 * Where the block being decoded is read next. Decoding is synchronous and never re-entered,
 * so one position serves every decoder (no cursor object per block).
 */
const _cursor = { offset: 0 };

/** The reused field list of a decoder is emptied after a block of more fields than this. */
const _FIELDS_KEPT_MAX = 64;

/** Decodes header blocks of one connection, in order (the dynamic table is shared). */
export class HpackDecoder {
  /** Newest entry first. */
  #table: HeaderField[] = [];
  #tableBytes = 0;
  #tableBytesMax: number;
  readonly #tableBytesLimit: number;
  /**
   * The fields of the block being decoded, reused; the block's list is copied out of it at its
   * exact size (a list grown by `push` from empty has room for 16, twice a gRPC request's).
   */
  readonly #fields: HeaderField[] = [];

  /** `tableBytesLimit` is our SETTINGS_HEADER_TABLE_SIZE (the encoder may not exceed it). */
  constructor(tableBytesLimit = 4096) {
    this.#tableBytesLimit = tableBytesLimit;
    this.#tableBytesMax = tableBytesLimit;
  }

  /** Decodes one complete header block into [name, value] pairs, in order. */
  decode(block: Uint8Array): HeaderField[] {
    const fields = this.#fields;
    let count = 0;
    const cursor = _cursor;
    cursor.offset = 0;
    let sizeUpdateAllowed = true;
    while (cursor.offset < block.length) {
      const first = block[cursor.offset] ?? 0;
      if (first & 0x80) {
        // Indexed header field (§6.1).
        const index = _readInteger(block, cursor, 7);
        fields[count++] = this.#entry(index);
      } else if ((first & 0xc0) === 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const header = this.#literal(block, cursor, 6);
        this.#insert(header);
        fields[count++] = header;
      } else if ((first & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        if (!sizeUpdateAllowed) throw new HpackError("table size update after a field");
        const size = _readInteger(block, cursor, 5);
        if (size > this.#tableBytesLimit) throw new HpackError("table size over the limit");
        this.#tableBytesMax = size;
        this.#evict(0);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3).
        fields[count++] = this.#literal(block, cursor, 4);
      }
      sizeUpdateAllowed = false;
    }
    const headers = fields.slice(0, count);
    // A block of unusually many fields does not leave a long list (and its strings) behind.
    if (fields.length > _FIELDS_KEPT_MAX) fields.length = 0;
    return headers;
  }

  #entry(index: number): HeaderField {
    if (index === 0) throw new HpackError("index 0");
    if (index < STATIC_TABLE.length) {
      const entry = STATIC_TABLE[index];
      if (entry === undefined) throw new HpackError(`bad static index ${index}`);
      return entry;
    }
    const entry = this.#table[index - STATIC_TABLE.length];
    if (entry === undefined) throw new HpackError(`index ${index} beyond the dynamic table`);
    return entry;
  }

  #literal(block: Uint8Array, cursor: { offset: number }, prefixBits: number): HeaderField {
    const nameIndex = _readInteger(block, cursor, prefixBits);
    const name = nameIndex === 0 ? _readString(block, cursor) : this.#entry(nameIndex)[0];
    const value = _readString(block, cursor);
    return [name, value];
  }

  #insert(header: HeaderField): void {
    const bytes = header[0].length + header[1].length + ENTRY_OVERHEAD_BYTES;
    // An entry larger than the table empties it and is not added (§4.4).
    this.#evict(bytes);
    if (bytes > this.#tableBytesMax) return;
    this.#table.unshift(header);
    this.#tableBytes += bytes;
  }

  /** Evicts oldest entries until `incomingBytes` more fit. */
  #evict(incomingBytes: number): void {
    while (this.#table.length > 0 && this.#tableBytes + incomingBytes > this.#tableBytesMax) {
      const oldest = this.#table.pop();
      if (oldest === undefined) break;
      this.#tableBytes -= oldest[0].length + oldest[1].length + ENTRY_OVERHEAD_BYTES;
    }
  }
}

/** Reads an integer with an N-bit prefix (§5.1). */
function _readInteger(block: Uint8Array, cursor: { offset: number }, prefixBits: number): number {
  const mask = (1 << prefixBits) - 1;
  const first = block[cursor.offset++];
  if (first === undefined) throw new HpackError("truncated integer");
  let value = first & mask;
  if (value < mask) return value;
  let shift = 0;
  while (true) {
    const byte = block[cursor.offset++];
    if (byte === undefined) throw new HpackError("truncated integer");
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) break;
    if (shift > 28) throw new HpackError("integer too large");
  }
  return value;
}

/** Reads a string literal, Huffman-coded or raw (§5.2). Strings are latin1 (bytes). */
function _readString(block: Uint8Array, cursor: { offset: number }): string {
  const huffman = ((block[cursor.offset] ?? 0) & 0x80) !== 0;
  const length = _readInteger(block, cursor, 7);
  if (length > STRING_BYTES_MAX) throw new HpackError("string too long");
  const end = cursor.offset + length;
  if (end > block.length) throw new HpackError("truncated string");
  const bytes = block.subarray(cursor.offset, end);
  cursor.offset = end;
  return huffman ? huffmanDecode(bytes) : _latin1.decode(bytes);
}

/**
 * The Huffman decoding tree as two arrays of child node numbers (bit 0 and bit 1); a
 * negative child `-(symbol + 1)` is a leaf.
 */
const _TREE = (() => {
  const zero = [0];
  const one = [0];
  for (let symbol = 0; symbol < 256; symbol++) {
    const code = HUFFMAN_CODES[symbol] ?? 0;
    const length = HUFFMAN_LENGTHS[symbol] ?? 0;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const children = ((code >>> bit) & 1) === 1 ? one : zero;
      if (bit === 0) {
        children[node] = -(symbol + 1);
        break;
      }
      let next = children[node] ?? 0;
      if (next === 0) {
        next = zero.length;
        zero.push(0);
        one.push(0);
        children[node] = next;
      }
      node = next;
    }
  }
  return { zero: Int32Array.from(zero), one: Int32Array.from(one) };
})();

/**
 * The character codes of the string being Huffman-decoded, reused: the string is made in one
 * call at the end, not by a concatenation (and an intermediate string) per character.
 */
const _codes: number[] = [];
/** Codes handed to one `String.fromCharCode` call at most (its arguments go on the stack). */
const _CODES_PER_CALL_MAX = 4096;

/** Decodes a Huffman-coded string (§5.2); the padding must be at most 7 one-bits. */
export function huffmanDecode(bytes: Uint8Array): string {
  const codes = _codes;
  let count = 0;
  let node = 0;
  let depth = 0;
  let allOnes = true;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const isOne = ((byte >>> bit) & 1) === 1;
      const next = isOne ? _TREE.one[node] : _TREE.zero[node];
      if (next === undefined || next === 0) throw new HpackError("invalid Huffman code");
      depth++;
      allOnes &&= isOne;
      if (next < 0) {
        codes[count++] = -next - 1;
        node = 0;
        depth = 0;
        allOnes = true;
      } else {
        node = next;
      }
    }
  }
  if (depth > 7 || !allOnes) throw new HpackError("invalid Huffman padding");
  codes.length = count;
  if (count <= _CODES_PER_CALL_MAX) return String.fromCharCode.apply(null, codes);
  let out = "";
  for (let at = 0; at < count; at += _CODES_PER_CALL_MAX) {
    out += String.fromCharCode.apply(null, codes.slice(at, at + _CODES_PER_CALL_MAX));
  }
  return out;
}

/** Appends an integer with an N-bit prefix; `flags` fill the bits above the prefix. */
export function encodeInteger(out: number[], value: number, prefixBits: number, flags: number) {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(flags | value);
    return;
  }
  out.push(flags | mask);
  let rest = value - mask;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/**
 * Encodes a header as a literal without indexing (§6.2.2), raw strings, the name by static
 * index when it has one. Names and values must be latin1.
 */
export function encodeLiteral(out: number[], name: string, value: string): void {
  const index = _STATIC_NAME_INDEX.get(name);
  if (index !== undefined) {
    encodeInteger(out, index, 4, 0x00);
  } else {
    out.push(0x00);
    _encodeString(out, name);
  }
  _encodeString(out, value);
}

function _encodeString(out: number[], text: string): void {
  encodeInteger(out, text.length, 7, 0x00);
  for (let index = 0; index < text.length; index++) out.push(text.charCodeAt(index) & 0xff);
}

/** First static index of each name. */
const _STATIC_NAME_INDEX = (() => {
  const map = new Map<string, number>();
  STATIC_TABLE.forEach(([name], index) => {
    if (index > 0 && !map.has(name)) map.set(name, index);
  });
  return map;
})();
