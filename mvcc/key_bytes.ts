/**
 * Keys are bytes. The index keys its tree by a latin1 string of those bytes: one UTF-16 code unit
 * per byte, so JavaScript's string order is exactly byte order and the string is a fast map key.
 * (TextDecoder's "latin1" is windows-1252 and remaps 0x80-0x9f, so it is not used.)
 *
 * @module
 */

const _CHUNK = 4096;
/**
 * Up to this length a key's string is built by concatenation, which is fastest for short keys;
 * from V8's minimum cons-string length (13) on, concatenation would leave a tree of cons strings
 * (32 bytes each) behind every key, so longer keys are built in one call.
 */
const _CONCAT_MAX = 12;

/** Returns the latin1 string whose code units are the bytes of `bytes`. */
export function bytesToKeyString(bytes: Uint8Array): string {
  if (bytes.length <= _CONCAT_MAX) {
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  // fromCharCode takes the typed array's bytes as its arguments: no intermediate array.
  const codes = bytes as unknown as number[];
  if (bytes.length <= _CHUNK) return String.fromCharCode.apply(null, codes);
  let s = "";
  for (let i = 0; i < bytes.length; i += _CHUNK) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + _CHUNK) as unknown as number[]);
  }
  return s;
}

/** Inverse of {@link bytesToKeyString}. */
export function keyStringToBytes(s: string): Uint8Array {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code > 0xff) throw new RangeError("key string holds a code unit above 0xff");
    bytes[i] = code;
  }
  return bytes;
}
