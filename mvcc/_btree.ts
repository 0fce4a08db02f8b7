/**
 * `npm:sorted-btree` is CommonJS; under Deno its class sits at `default.default` at run time
 * (and in the typings as seen from an ES module). This file resolves that once.
 *
 * @module
 */
import * as sortedBtree from "sorted-btree";

type _Ctor = (typeof sortedBtree.default)["default"];
const _mod = sortedBtree as unknown as { default: { default?: _Ctor } & _Ctor };

/** The B+ tree class of `sorted-btree`. */
export const BTree: _Ctor = _mod.default.default ?? _mod.default;
