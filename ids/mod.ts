/**
 * Member and cluster IDs as etcd 3.4 computes and prints them: a ground-floor module (as etcd's
 * `pkg/types`), importing nothing of ours, so that the server and the tests that predict IDs of
 * real processes share one implementation without loading the server.
 *
 * @module
 */

export { computeClusterId, computeMemberId, goUrlString, idToHex } from "./ids.ts";
