/**
 * Helpers shared by the backend tests: a seeded PRNG, byte/string conversion and temp dirs.
 *
 * @module
 */

/** mulberry32 (testing/prng.ts): a seeded PRNG returning floats in [0, 1). */
export { mulberry32 as prng } from "../testing/mod.ts";

/** Bytes of a latin1 string. */
export function b(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** Latin1 string of bytes. */
export function s(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]!);
  return out;
}

/** A fresh temporary directory. */
export function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "detcd-backend-" });
}

import { deepStrictEqual, ok } from "node:assert/strict";

/** Deep equality (node:assert/strict). */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  // Two calls rather than one with an optional message: the node:assert typings pulled in by
  // some npm packages have no overload taking `string | undefined`.
  if (message === undefined) deepStrictEqual(actual, expected);
  else deepStrictEqual(actual, expected, message);
}

/** Truthiness. */
export function assert(condition: unknown, message?: string): asserts condition {
  if (message === undefined) ok(condition);
  else ok(condition, message);
}

/** Asserts that `fn` throws an error whose message includes `includes`. */
export function assertThrows(fn: () => unknown, includes: string): Error {
  try {
    fn();
  } catch (error) {
    ok(error instanceof Error, "thrown value is not an Error");
    ok(error.message.includes(includes), `error "${error.message}" does not include "${includes}"`);
    return error;
  }
  throw new Error(`expected an error including "${includes}"`);
}
