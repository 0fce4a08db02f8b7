/**
 * The proxies' parts of api/, loaded when a proxy starts, by string-literal dynamic imports (so
 * that `deno compile` still embeds them): the v2 proxy (`V2Proxy`, etcd's `--proxy on`) and
 * the console proxy of the grpc-proxy. A member never starts them, and so does not hold their
 * source and code. `api/mod.ts` exports these starters and the proxies' types.
 *
 * @module
 */

import type { ConsoleProxy, ConsoleProxyOptions } from "./ui_proxy.ts";
import type { V2Proxy, V2ProxyOptions } from "./v2_proxy.ts";

/** `V2Proxy.start`, after loading the v2 proxy. */
export async function startV2Proxy(options: V2ProxyOptions): Promise<V2Proxy> {
  const { V2Proxy } = await import("./v2_proxy.ts");
  return await V2Proxy.start(options);
}

/** `startConsoleProxy` of `ui_proxy.ts`, after loading it. */
export async function startConsoleProxy(options: ConsoleProxyOptions): Promise<ConsoleProxy> {
  const consoleProxy = await import("./ui_proxy.ts");
  return await consoleProxy.startConsoleProxy(options);
}
