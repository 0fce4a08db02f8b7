/**
 * The gRPC transports compared on the same trivial Put handler (no storage): `grpc-js`
 * (baseline) and `native` (`api/h2/`), each served by a child process, loaded by the KV
 * load tool's native client. Prints QPS, latency percentiles and the server's CPU time per
 * request, and the ratios native/grpc-js.
 *
 * Run: `deno run -A bench/kv_transport.ts [--clients 100] [--conns 10] [--total 30000]`.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { startGrpcServer } from "../api/mod.ts";
import { numberToLong } from "../etcdserverpb/mod.ts";
import { runLoad } from "./kv_load.ts";
import { summarize } from "./kv_report.ts";

/** Port of the child servers (inside the api/bench range 23800-23819). */
const PORT = 23818;

type _Transport = "grpc-js" | "native";

/** Child mode: serve a trivial Put on PORT; print CPU milliseconds when stdin closes. */
async function serve(transport: _Transport): Promise<void> {
  const server = await startGrpcServer({
    transport,
    host: "127.0.0.1",
    port: PORT,
    services: {
      kv: {
        put: (request) =>
          Promise.resolve({ header: { revision: numberToLong(request.value.length) } }),
      },
    },
  });
  const started = process.cpuUsage();
  console.log("ready");
  // The parent closes our stdin when its load is done.
  for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
  const used = process.cpuUsage(started);
  console.log(`cpu_ms ${((used.user + used.system) / 1000).toFixed(1)}`);
  await server.close();
}

async function measure(
  transport: _Transport,
  load: { clients: number; conns: number; total: number },
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(import.meta.url).pathname, "--serve", transport],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("ready\n")) {
    const { done, value } = await lines.read();
    if (done) throw new Error(`${transport} server exited before it was ready`);
    text += value;
  }
  const result = await runLoad({
    label: transport,
    endpoints: [`127.0.0.1:${PORT}`],
    operation: "put",
    clients: load.clients,
    conns: load.conns,
    total: load.total,
    keySizeBytes: 8,
    valueSizeBytes: 256,
    keySpaceSize: 1,
    serializable: false,
    timeoutMs: 10_000,
    client: "native",
  });
  await child.stdin.close();
  while (!text.includes("cpu_ms")) {
    const { done, value } = await lines.read();
    if (done) break;
    text += value;
  }
  await child.status;
  const cpuMs = Number(/cpu_ms ([\d.]+)/.exec(text)?.[1] ?? Number.NaN);
  // The warm-up Puts count too; they are a handful among thousands.
  return { summary: summarize(result), cpuUsPerRequest: (cpuMs * 1000) / result.succeeded };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      clients: { type: "string", default: "100" },
      conns: { type: "string", default: "10" },
      total: { type: "string", default: "30000" },
    },
  });
  if (values.serve !== undefined) return await serve(values.serve as _Transport);
  const load = {
    clients: Number(values.clients),
    conns: Number(values.conns),
    total: Number(values.total),
  };
  console.log(`command: deno run -A bench/kv_transport.ts ${Deno.args.join(" ")}`);
  const baseline = await measure("grpc-js", load);
  const native = await measure("native", load);
  for (const [name, run] of [["grpc-js", baseline], ["native", native]] as const) {
    const { summary, cpuUsPerRequest } = run;
    console.log(
      `${name.padEnd(8)} QPS ${summary.qps.toFixed(0).padStart(6)}  p50 ${
        summary.p50Ms.toFixed(2)
      } ms` +
        `  p99 ${summary.p99Ms.toFixed(2)} ms  server CPU ${cpuUsPerRequest.toFixed(1)} us/request`,
    );
  }
  console.log(
    `ratios native/grpc-js: QPS ${(native.summary.qps / baseline.summary.qps).toFixed(2)}  ` +
      `p50 ${(native.summary.p50Ms / baseline.summary.p50Ms).toFixed(2)}  ` +
      `p99 ${(native.summary.p99Ms / baseline.summary.p99Ms).toFixed(2)}  ` +
      `CPU/request ${(native.cpuUsPerRequest / baseline.cpuUsPerRequest).toFixed(2)}`,
  );
}

if (import.meta.main) await main();
