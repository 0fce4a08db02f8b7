/**
 * Test and benchmark helpers shared across modules: the seeded PRNG.
 *
 * @module
 */

export { mulberry32 } from "./prng.ts";
