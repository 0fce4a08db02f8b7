/**
 * Byte helpers shared by the storage and wire layers: bytewise compare and equality, concat, and
 * a growable buffer for encoders, short-lived copies carved from shared slabs, and
 * back-pressure on node byte streams (`drained`). The ground floor: imports nothing of ours.
 *
 * @module
 */

export { compareBytes, concatBytes, equalBytes } from "./compare.ts";
export { GrowableBuffer } from "./buffer.ts";
export { Slab } from "./slab.ts";
export { type DrainableStream, drained } from "./drained.ts";
