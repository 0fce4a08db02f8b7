/**
 * embed/: starts a detcd member in this process, as etcd's `embed` package does. `main.ts`
 * parses flags and calls `startEtcd`; tests call it directly.
 *
 * @module
 */

export { type Etcd, startEtcd } from "./etcd.ts";
export { type Proxy, proxyDir, startProxy } from "./proxy.ts";
export { sdNotify, sockaddrUnix } from "./sd_notify.ts";
export { type IdleTrimmer, startIdleMallocTrim } from "./malloc_trim.ts";
export { V8_FLAGS, v8FlagsArgument } from "./v8_flags.ts";
