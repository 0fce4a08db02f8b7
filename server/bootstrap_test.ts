// Goal: a member whose WAL exists but holds no entry (it crashed between creating the WAL and
// its first save) restarts as the member it was: one that bootstrapped a new cluster from its
// flags bootstraps again, exactly as its first start would have; one that was added at
// runtime and joined an existing cluster must NOT bootstrap from --initial-cluster (its log
// comes from the leader; etcd's restartNode never bootstraps).
// Method: write such a WAL directly (metadata only), then call bootstrap() with the flags the
// member would be restarted with, and look at what raft would save first.
import { strictEqual } from "node:assert/strict";
import { computeClusterId, computeMemberId } from "../ids/mod.ts";
import { encodeMetadata, Wal } from "../wal/mod.ts";
import { bootstrap } from "./bootstrap.ts";
import { defaultConfig, type ServerConfig } from "./config.ts";
import { createLogger } from "./log.ts";

const _log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });
const _TOKEN = "bootstrap-test";

function _config(dataDir: string, state: "new" | "existing"): ServerConfig {
  const cfg = defaultConfig();
  const urls = ["http://127.0.0.1:26590", "http://127.0.0.1:26591"].map((u) => new URL(u));
  cfg.name = "m1";
  cfg.dataDir = dataDir;
  cfg.walDir = `${dataDir}/member/wal`;
  cfg.snapDir = `${dataDir}/member/snap`;
  cfg.listenPeerUrls = [urls[1]!];
  cfg.initialAdvertisePeerUrls = [urls[1]!];
  cfg.initialCluster = new Map([["m0", [urls[0]!]], ["m1", [urls[1]!]]]);
  cfg.initialClusterState = state;
  cfg.initialClusterToken = _TOKEN;
  return cfg;
}

/** Bootstraps from a metadata-only WAL; answers how many entries raft would save first. */
async function _firstEntries(cfg: ServerConfig, clusterId: bigint): Promise<number> {
  const nodeId = computeMemberId(["http://127.0.0.1:26591"], _TOKEN);
  const wal = await Wal.create(cfg.walDir, encodeMetadata({ nodeId, clusterId }));
  await wal.close();
  const boot = await bootstrap(cfg, _log);
  try {
    strictEqual(boot.memberId, nodeId);
    strictEqual(boot.clusterId, clusterId);
    return boot.rawNode.hasReady() ? boot.rawNode.ready().entries.length : 0;
  } finally {
    await boot.wal.close();
  }
}

Deno.test("an empty WAL of a new-cluster member bootstraps again from --initial-cluster", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "detcd_bootstrap_" });
  try {
    const ids = ["http://127.0.0.1:26590", "http://127.0.0.1:26591"]
      .map((u) => computeMemberId([u], _TOKEN));
    const entries = await _firstEntries(_config(dataDir, "new"), computeClusterId(ids));
    strictEqual(entries, 2, "one ConfChange per initial member");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("an empty WAL of a member added at runtime does not bootstrap from --initial-cluster", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "detcd_bootstrap_" });
  try {
    // The cluster it joined was bootstrapped by other members: another cluster ID.
    const joinedClusterId = computeClusterId([computeMemberId(["http://127.0.0.1:26590"], _TOKEN)]);
    for (const state of ["existing", "new"] as const) {
      await Deno.remove(`${dataDir}/member`, { recursive: true }).catch(() => {});
      const entries = await _firstEntries(_config(dataDir, state), joinedClusterId);
      strictEqual(entries, 0, `restarted with --initial-cluster-state=${state}`);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
