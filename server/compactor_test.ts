import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { Compactor } from "./compactor.ts";
import { defaultConfig } from "./config.ts";
import { createLogger } from "./log.ts";

function _fakeHost() {
  const proposed: number[] = [];
  const host = {
    isLeader: true,
    kv: { rev: 0, compactRev: -1 },
    propose(req: { compaction: { revision: unknown } }) {
      proposed.push(Number(req.compaction.revision));
      host.kv.compactRev = Number(req.compaction.revision);
      return Promise.resolve();
    },
  };
  return { host, proposed };
}

const _log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });

Deno.test("Compactor (periodic): compacts at the revision sampled one retention ago", () => {
  const cfg = defaultConfig();
  cfg.autoCompactionMode = "periodic";
  cfg.autoCompactionRetention = "10m";
  const { host, proposed } = _fakeHost();
  const compactor = new Compactor(host, cfg, _log);
  // Samples every minute: after 10 samples the 11th check compacts at the first one.
  for (let minute = 0; minute <= 12; minute++) {
    host.kv.rev = 100 + minute * 7;
    compactor.checkNow();
  }
  deepStrictEqual(proposed, [100, 107, 114]);
});

Deno.test("Compactor (revision): keeps the last N revisions, never compacts twice", () => {
  const cfg = defaultConfig();
  cfg.autoCompactionMode = "revision";
  cfg.autoCompactionRetention = "1000";
  const { host, proposed } = _fakeHost();
  const compactor = new Compactor(host, cfg, _log);
  host.kv.rev = 500;
  compactor.checkNow(); // not enough history yet
  host.kv.rev = 2500;
  compactor.checkNow();
  compactor.checkNow(); // no new revisions: nothing to do
  host.isLeader = false;
  host.kv.rev = 4000;
  compactor.checkNow(); // followers do not compact
  deepStrictEqual(proposed, [1500]);
});

Deno.test("Compactor: a retention of 0 disables it; a malformed one is refused", () => {
  const cfg = defaultConfig();
  cfg.autoCompactionRetention = "0";
  strictEqual(new Compactor(_fakeHost().host, cfg, _log).enabled, false);
  cfg.autoCompactionRetention = "1 hour";
  let threw = false;
  try {
    new Compactor(_fakeHost().host, cfg, _log);
  } catch {
    threw = true;
  }
  strictEqual(threw, true);
});
