/**
 * Goal: log lines have etcd 3.4's shapes and levels filter as etcd's do.
 * Method: log to a temp file with a fixed clock and read the lines back.
 */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { createLogger } from "./log.ts";

const _FIXED = new Date("2026-11-22T03:11:00.293Z");

async function _logged(act: (path: string) => void): Promise<string[]> {
  const path = await Deno.makeTempFile();
  try {
    act(path);
    return (await Deno.readTextFile(path)).split("\n").filter((line) => line !== "");
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("createLogger() capnslog prints etcd's `date time L | pkg: msg` lines", async () => {
  const lines = await _logged((path) => {
    const log = createLogger({
      logger: "capnslog",
      level: "info",
      outputs: [path],
      now: () => _FIXED,
    });
    log.debug("hidden");
    log.named("etcdserver").info("published {Name:default} to cluster cdf818194e3a8c32");
    log.named("etcdserver/api").warn("enabled capabilities for version 3.4", { id: 5n });
  });
  deepStrictEqual(lines, [
    "2026-11-22 03:11:00.293000 I | etcdserver: published {Name:default} to cluster cdf818194e3a8c32",
    "2026-11-22 03:11:00.293000 W | etcdserver/api: enabled capabilities for version 3.4 (id=5)",
  ]);
});

Deno.test("createLogger() zap prints one JSON object per line with the fields", async () => {
  const lines = await _logged((path) => {
    const log = createLogger({ logger: "zap", level: "debug", outputs: [path], now: () => _FIXED });
    log.debug("d", { revision: 12n, error: new Error("boom") });
  });
  strictEqual(lines.length, 1);
  deepStrictEqual(JSON.parse(lines[0]!), {
    level: "debug",
    ts: "2026-11-22T03:11:00.293Z",
    caller: "etcdmain",
    msg: "d",
    revision: "12",
    error: "boom",
  });
});

Deno.test("createLogger() rejects unknown loggers and levels", () => {
  throws(
    () => createLogger({ logger: "syslog", level: "info", outputs: ["stderr"] }),
    /unknown logger/,
  );
  throws(
    () => createLogger({ logger: "zap", level: "loud", outputs: ["stderr"] }),
    /unknown log level/,
  );
});
