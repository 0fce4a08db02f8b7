/**
 * detcd's command line: `deno run -A main.ts [etcd 3.4 flags]` starts a member, as `etcd` does.
 *
 * main.ts only wires: it parses flags, `ETCD_*` variables or `--config-file` (server's
 * config), sets up the logger, checks that the data dir is usable, then hands the config to
 * `startEtcd` (embed/) and stops the member on SIGTERM/SIGINT.
 *
 * Exit status: 0 after a clean stop, `--help` or `--version`; 2 for a configuration error
 * (unknown flag, bad value, inconsistent flags, bad config file); 1 when the server cannot
 * start or fails while running.
 *
 * Also: `main.ts inspect db|wal|snap PATH [--json]` prints the contents of a bolt db file, a
 * WAL directory or a snap directory; `main.ts grpc-proxy start ...` and `main.ts gateway start
 * ...` run etcd's proxies (proxy/).
 *
 * What a default member does not use is loaded on demand, by string-literal dynamic imports
 * (which `deno compile` still includes): the proxies (proxy/) for their subcommands, the YAML
 * parser for a config file. Each costs memory for as long as the process lives (module code,
 * its source text, the Node compatibility modules it pulls in): docs/memory.md, 2026-12-07
 * round 4, and `bench/idle_memory.ts modules`.
 *
 * @module
 */

import { inspectDb } from "./backend/mod.ts";
import {
  type Etcd,
  proxyDir,
  sdNotify,
  startEtcd,
  startIdleMallocTrim,
  startProxy,
} from "./embed/mod.ts";
import {
  ConfigError,
  createLogger,
  ETCD_VERSION,
  goUrlString,
  helpText,
  loadDiscovery,
  type Logger,
  parseCommandLine,
  requireHandshakeTls,
  type ServerConfig,
  usageText,
  verifyBootstrap,
} from "./server/mod.ts";
import { inspectSnap } from "./snap/mod.ts";
import { inspectWal } from "./wal/mod.ts";

/** The text `--version` prints: etcd's shape, naming detcd and the etcd version it speaks. */
export function versionText(): string {
  return [
    `detcd Version: ${ETCD_VERSION}`,
    `Git SHA: Not provided`,
    `Deno Version: ${Deno.version.deno}`,
    `Deno OS/Arch: ${Deno.build.os}/${Deno.build.arch}`,
    "",
  ].join("\n");
}

/** Runs `inspect db|wal|snap PATH [--json]`; returns the exit status. */
function _inspect(args: string[]): number {
  const json = args.includes("--json") || args.includes("-json");
  const [what, path] = args.filter((arg) => arg !== "--json" && arg !== "-json");
  if (path === undefined || !["db", "wal", "snap"].includes(what ?? "")) {
    console.error("usage: detcd inspect db FILE | wal DIR | snap DIR [--json]");
    return 2;
  }
  try {
    let text: string;
    if (what === "db") text = inspectDb(path, { json });
    else if (what === "wal") text = inspectWal(path, { json });
    else text = inspectSnap(path, { json });
    console.log(text);
    return 0;
  } catch (error) {
    console.error(`detcd inspect ${what}: ${(error as Error).message}`);
    return 1;
  }
}

/**
 * Checks that the data dir (and a dedicated WAL/snap dir) is a directory detcd can use, creating
 * it like etcd (mode 0700). For a member without a WAL yet, also checks the bootstrap flags.
 * Returns an error message or undefined.
 */
function _checkDataDir(cfg: ServerConfig): string | undefined {
  for (const dir of new Set([cfg.dataDir, `${cfg.dataDir}/member`, cfg.walDir, cfg.snapDir])) {
    try {
      const info = Deno.statSync(dir);
      if (!info.isDirectory) return `cannot access data directory: ${dir} is not a directory`;
      for (const _entry of Deno.readDirSync(dir)) break;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      return `cannot access data directory: ${(error as Error).message}`;
    }
  }
  try {
    Deno.mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    return `cannot access data directory: ${(error as Error).message}`;
  }
  let hasWal = false;
  try {
    hasWal = [...Deno.readDirSync(cfg.walDir)].some((entry) => entry.name.endsWith(".wal"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      return `cannot access data directory: ${(error as Error).message}`;
    }
  }
  if (!hasWal && cfg.initialClusterState === "new") return verifyBootstrap(cfg);
  return undefined;
}

function _logStart(cfg: ServerConfig, log: Logger, member: boolean): void {
  const main = log.named("etcdmain");
  main.info(`etcd Version: ${ETCD_VERSION}`);
  main.info(`detcd on Deno ${Deno.version.deno} (${Deno.build.os}/${Deno.build.arch})`);
  // A v2 proxy has no member settings to show (etcd's embed prints them).
  if (!member) return;
  const embed = log.named("embed");
  embed.info(`name = ${cfg.name}`);
  embed.info(`data dir = ${cfg.dataDir}`);
  embed.info(`member dir = ${cfg.dataDir}/member`);
  if (cfg.walDir !== `${cfg.dataDir}/member/wal`) embed.info(`dedicated WAL dir = ${cfg.walDir}`);
  embed.info(`heartbeat = ${cfg.heartbeatIntervalMs}ms`);
  embed.info(`election = ${cfg.electionTimeoutMs}ms`);
  embed.info(`snapshot count = ${cfg.snapshotCount}`);
  embed.info(`advertise client URLs = ${cfg.advertiseClientUrls.map(goUrlString).join(",")}`);
}

/** Starts a member and waits until it stops; returns the exit status. */
async function _serve(cfg: ServerConfig, warnings: string[]): Promise<number> {
  let log: Logger;
  try {
    log = createLogger({ logger: cfg.logger, level: cfg.logLevel, outputs: cfg.logOutputs });
  } catch (error) {
    console.error(`detcd: cannot set up logging: ${(error as Error).message}`);
    return 2;
  }
  for (const warning of warnings) log.named("etcdmain").warn(warning);
  // etcd's identifyDataDir: a data dir that holds `proxy` restarts the v2 proxy.
  const kind = _dataDirKind(cfg);
  _logStart(cfg, log, !(kind === "proxy" || (kind === "empty" && cfg.proxy !== "off")));
  if (kind === "both") {
    log.named("etcdmain").error("invalid datadir; both member and proxy directories exist");
    return 1;
  }
  if (kind === "proxy") {
    if (log.format === "zap") {
      log.named("etcdmain").info("server has been already initialized", {
        "data-dir": cfg.dataDir,
        "dir-type": "proxy",
      });
    } else {
      log.named("etcdmain").info(
        "the server is already initialized as proxy before, starting as etcd proxy...",
      );
    }
  }
  if (kind === "proxy" || (kind === "empty" && cfg.proxy !== "off")) {
    return await _serveProxy(cfg, log);
  }
  const problem = _checkDataDir(cfg);
  if (problem !== undefined) {
    log.named("etcdmain").error(problem);
    return 1;
  }
  // Discovery's code loads only when a flag asks for it (it changes nothing without one).
  if (cfg.discovery !== "" || cfg.discoverySrv !== "") {
    const discovery = await loadDiscovery();
    try {
      cfg = await discovery.discoverInitialCluster(cfg, log);
    } catch (error) {
      if (discovery.fallsBackToProxy(cfg, log, error as Error)) return await _serveProxy(cfg, log);
      return discovery.reportDiscoveryFailure(cfg, log, error as Error);
    }
  }
  try {
    // A peer restriction acting inside the handshake needs OpenSSL: refused now if absent.
    requireHandshakeTls(cfg);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return error.exitCode;
  }
  let server: Etcd;
  try {
    server = await startEtcd(cfg, log);
  } catch (error) {
    if ((error as Error).name === "DataInconsistencyError") {
      // etcd's words for a start error (etcdmain startEtcdOrProxyV2): capnslog prints the
      // error itself, zap "discovery failed"; both exit with status 1.
      const main = log.named("etcdmain");
      if (log.format === "zap") main.fatal("discovery failed", { error: (error as Error).message });
      main.fatal((error as Error).message);
    }
    log.named("etcdmain").error(`cannot start the server: ${(error as Error).message}`);
    return 1;
  }
  let stopping: Promise<void> | undefined;
  const onSignal = (signal: Deno.Signal) => () => {
    const name = signal === "SIGTERM" ? "terminated" : "interrupt";
    if (stopping !== undefined) {
      // A second signal while stopping: the operator insists; the WAL keeps what was synced.
      log.named("pkg/osutil").warn(`received ${name} signal again, exiting now`);
      Deno.exit(1);
    }
    log.named("pkg/osutil").info(`received ${name} signal, shutting down...`);
    stopping = server.stop();
  };
  const handlers = (["SIGTERM", "SIGINT"] as const).map((signal) => {
    const handler = onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return { signal, handler };
  });
  void _notifySystemdWhenReady(server, log);
  // Free malloc memory goes back to the kernel once the member is idle (docs/memory.md).
  const trimmer = startIdleMallocTrim();
  try {
    await server.done;
    await stopping;
    return 0;
  } catch (error) {
    log.named("etcdserver").error(`server stopped: ${(error as Error).message}`);
    return 1;
  } finally {
    trimmer?.stop();
    for (const { signal, handler } of handlers) Deno.removeSignalListener(signal, handler);
  }
}

/** What the data dir holds, as etcd's identifyDataDir sees it. */
function _dataDirKind(cfg: ServerConfig): "empty" | "member" | "proxy" | "both" {
  const has = (path: string) => {
    try {
      return Deno.statSync(path).isDirectory;
    } catch {
      return false;
    }
  };
  const member = has(`${cfg.dataDir}/member`);
  const proxy = has(proxyDir(cfg));
  return member && proxy ? "both" : member ? "member" : proxy ? "proxy" : "empty";
}

/** Runs the v2 proxy (docs/v2-proxy.md) until SIGTERM or SIGINT; returns the exit status. */
async function _serveProxy(cfg: ServerConfig, log: Logger): Promise<number> {
  let proxy;
  try {
    Deno.mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
    proxy = await startProxy(cfg, log);
  } catch (error) {
    log.named("etcdmain").error(`cannot start the proxy: ${(error as Error).message}`);
    return 1;
  }
  try {
    sdNotify("READY=1", Deno.env.toObject());
  } catch (error) {
    log.named("etcdmain").error(
      `failed to notify systemd for readiness: ${(error as Error).message}`,
    );
  }
  const { promise: signalled, resolve } = Promise.withResolvers<Deno.Signal>();
  const handlers = (["SIGTERM", "SIGINT"] as const).map((signal) => {
    const handler = () => resolve(signal);
    Deno.addSignalListener(signal, handler);
    return { signal, handler };
  });
  const signal = await signalled;
  const name = signal === "SIGTERM" ? "terminated" : "interrupt";
  log.named("pkg/osutil").info(`received ${name} signal, shutting down...`);
  for (const { signal, handler } of handlers) Deno.removeSignalListener(signal, handler);
  await proxy.stop();
  return 0;
}

/**
 * etcd's notifySystemd: once the member has joined the cluster and serves clients, tell the
 * init daemon (`READY=1` on `NOTIFY_SOCKET`, for a `Type=notify` unit). A failure is logged,
 * as etcd logs it, and the member keeps serving.
 */
async function _notifySystemdWhenReady(server: Etcd, log: Logger): Promise<void> {
  const ready = await Promise.race([
    server.ready.then(() => true),
    server.done.then(() => false, () => false),
  ]);
  if (!ready) return;
  try {
    sdNotify("READY=1", Deno.env.toObject());
  } catch (error) {
    log.named("etcdmain").error(
      `failed to notify systemd for readiness: ${(error as Error).message}`,
    );
  }
}

/**
 * Whether the command line or the environment may name a `--config-file` (`-config-file`,
 * `--config-file=...`, `ETCD_CONFIG_FILE`): a superset of what the parser accepts, so that
 * YAML is loaded whenever the parser could need it.
 */
function _mayNameConfigFile(args: string[], env: Record<string, string>): boolean {
  return args.some((arg) => arg.includes("config-file")) || env.ETCD_CONFIG_FILE !== undefined;
}

/** The whole command: returns the process exit status. */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "inspect") return _inspect(args.slice(1));
  if (args[0] === "grpc-proxy") {
    const { runGrpcProxy } = await import("./proxy/mod.ts");
    return await runGrpcProxy(args.slice(1));
  }
  if (args[0] === "gateway") {
    const { runGateway } = await import("./proxy/mod.ts");
    return await runGateway(args.slice(1));
  }
  const env = Deno.env.toObject();
  // The parser reads a config file synchronously: load YAML first whenever one may be named.
  const yaml = _mayNameConfigFile(args, env) ? await import("yaml") : undefined;
  let command;
  try {
    command = parseCommandLine(args, {
      env,
      readTextFile: (path) => Deno.readTextFileSync(path),
      parseYaml: (text) => {
        // Unreachable unless _mayNameConfigFile misses a way of naming the file.
        if (yaml === undefined) throw new Error("the YAML parser was not loaded");
        return yaml.parse(text);
      },
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    if (error.showUsage) console.error(usageText());
    return error.exitCode;
  }
  if (command.kind === "help") {
    console.log(helpText());
    return 0;
  }
  if (command.kind === "version") {
    Deno.stdout.writeSync(new TextEncoder().encode(versionText()));
    return 0;
  }
  return await _serve(command.config, command.warnings);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
