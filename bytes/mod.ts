/**
 * Byte helpers shared by the storage and wire layers: bytewise compare and equality, concat, and
 * a growable buffer for encoders. The ground floor: imports nothing of ours.
 *
 * @module
 */

export { compareBytes, concatBytes, equalBytes } from "./compare.ts";
export { GrowableBuffer } from "./buffer.ts";
