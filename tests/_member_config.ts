/**
 * Test helper: the configuration of a one-member detcd started in-process (`startEtcd`) on
 * 127.0.0.1, with fast raft timing (10 ms heartbeat, 50 ms election) so that a restart elects
 * at once.
 *
 * @module
 */

import { defaultConfig, type ServerConfig } from "../server/mod.ts";

/** Options of {@link singleMemberConfig}. */
export interface SingleMemberConfigOptions {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
}

/** A one-member configuration: WAL and snap under `dataDir/member`, fast elections. */
export function singleMemberConfig(options: SingleMemberConfigOptions): ServerConfig {
  const cfg = defaultConfig();
  cfg.name = options.name;
  cfg.dataDir = options.dataDir;
  cfg.walDir = `${options.dataDir}/member/wal`;
  cfg.snapDir = `${options.dataDir}/member/snap`;
  const client = new URL(`http://127.0.0.1:${options.clientPort}`);
  const peer = new URL(`http://127.0.0.1:${options.peerPort}`);
  cfg.listenClientUrls = [client];
  cfg.advertiseClientUrls = [client];
  cfg.listenPeerUrls = [peer];
  cfg.initialAdvertisePeerUrls = [peer];
  cfg.initialCluster = new Map([[options.name, [peer]]]);
  cfg.heartbeatIntervalMs = 10;
  cfg.electionTimeoutMs = 50;
  return cfg;
}
