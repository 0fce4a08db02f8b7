/**
 * etcd 3.4's command line: every flag of the `etcd` binary (etcdmain/config.go newConfig), its
 * `ETCD_*` environment variables and its YAML config file (embed.ConfigFromFile), parsed with
 * the rules and error texts of Go's flag and strconv packages, into a resolved
 * {@link ServerConfig}; plus etcd's bootstrap checks (etcdserver/config.go VerifyBootstrap).
 *
 * @module
 */

import {
  autoCompactionRetention,
  DEFAULT_BACKEND_BATCH_INTERVAL_MS,
  DEFAULT_BACKEND_BATCH_LIMIT,
  DEFAULT_QUOTA_BACKEND_BYTES,
  defaultConfig,
  parseGoDurationMs,
  type ServerConfig,
  type TlsConfig,
} from "./config.ts";

/**
 * A configuration the server cannot start with. `exitCode` is what the process exits with:
 * 2 for anything wrong on the command line, in the environment or in the config file (Go's
 * flag package exits 2 for an unknown flag or a value it cannot parse; detcd uses 2 for every
 * configuration error so that scripts can tell them from run-time failures, which exit 1).
 */
export class ConfigError extends Error {
  /** The process exit status for this error. */
  readonly exitCode: number;
  /** Whether etcd would print its usage text after the message (flag syntax errors). */
  readonly showUsage: boolean;

  constructor(message: string, options: { exitCode?: number; showUsage?: boolean } = {}) {
    super(message);
    this.name = "ConfigError";
    this.exitCode = options.exitCode ?? 2;
    this.showUsage = options.showUsage ?? false;
  }
}

/** What the command line asks for. */
export type CommandLine =
  | { kind: "serve"; config: ServerConfig; warnings: string[]; configFile: string }
  | { kind: "version" }
  | { kind: "help" };

/** Inputs of {@link parseCommandLine} besides the arguments. */
export interface ParseOptions {
  /** The environment; `Deno.env.toObject()` in main.ts. */
  env?: Record<string, string>;
  /** Reads the `--config-file`; `Deno.readTextFileSync` in main.ts. */
  readTextFile?: (path: string) => string;
  /** Parses YAML text into plain data; main.ts passes npm:yaml's `parse`. */
  parseYaml?: (text: string) => unknown;
}

type _FlagKind =
  | "string"
  | "bool"
  | "uint"
  | "int"
  | "uint32"
  | "duration"
  | "urls"
  | "strings"
  | "select"
  | "ignored";

/** One flag etcd 3.4 accepts: its name, how its value parses, its default and its help line. */
interface _FlagDef {
  name: string;
  kind: _FlagKind;
  /** The default as etcd's help shows it (strings are parsed like a flag value). */
  defaultText: string;
  help: string;
  choices?: string[];
  /** `urls` flags whose value may be these words instead of URLs (`--cors '*'`). */
  exceptions?: string[];
  /** Help group, for `--help`. */
  group: string;
}

function _def(
  group: string,
  name: string,
  kind: _FlagKind,
  defaultText: string,
  help: string,
  extra: { choices?: string[]; exceptions?: string[] } = {},
): _FlagDef {
  return { group, name, kind, defaultText, help, ...extra };
}

/** Every flag of etcd 3.4's `etcd` binary (etcdmain/config.go newConfig), plus `--snap-dir`. */
const _FLAGS: _FlagDef[] = [
  _def("", "config-file", "string", "", "Path to the server configuration file (etcd's YAML)."),
  _def("Member", "name", "string", "default", "Human-readable name for this member."),
  _def("Member", "data-dir", "string", "", "Path to the data directory (default '${name}.etcd')."),
  _def("Member", "wal-dir", "string", "", "Path to the dedicated wal directory."),
  _def("Member", "snap-dir", "string", "", "detcd: path to a dedicated snapshot directory."),
  _def(
    "Member",
    "snapshot-count",
    "uint",
    "100000",
    "Committed transactions to trigger a snapshot.",
  ),
  _def("Member", "heartbeat-interval", "uint", "100", "Time (ms) of a heartbeat interval."),
  _def("Member", "election-timeout", "uint", "1000", "Time (ms) for an election to timeout."),
  _def("Member", "initial-election-tick-advance", "bool", "true", "Fast-forward initial ticks."),
  _def("Member", "listen-peer-urls", "urls", "http://localhost:2380", "URLs for peer traffic."),
  _def("Member", "listen-client-urls", "urls", "http://localhost:2379", "URLs for clients."),
  _def("Member", "listen-metrics-urls", "urls", "", "URLs for the metrics and health endpoints."),
  _def("Member", "max-snapshots", "uint", "5", "Maximum snapshot files to retain (0: unlimited)."),
  _def("Member", "max-wals", "uint", "5", "Maximum wal files to retain (0: unlimited)."),
  _def("Member", "quota-backend-bytes", "int", "0", "Backend size quota (0: 2 GiB)."),
  _def(
    "Member",
    "backend-batch-interval",
    "duration",
    "0",
    "Maximum time before a backend commit.",
  ),
  _def("Member", "backend-batch-limit", "int", "0", "Maximum operations before a backend commit."),
  _def("Member", "max-txn-ops", "uint", "128", "Maximum operations in a transaction."),
  _def("Member", "max-request-bytes", "uint", "1572864", "Maximum client request size in bytes."),
  _def(
    "Member",
    "max-concurrent-streams",
    "uint32",
    "4294967295",
    "Streams per client connection.",
  ),
  _def("Member", "grpc-keepalive-min-time", "duration", "5s", "Minimum client ping interval."),
  _def("Member", "grpc-keepalive-interval", "duration", "2h", "Server-to-client ping interval."),
  _def("Member", "grpc-keepalive-timeout", "duration", "20s", "Wait for a ping answer."),
  _def("Clustering", "initial-advertise-peer-urls", "urls", "http://localhost:2380", "Peer URLs."),
  _def("Clustering", "initial-cluster", "string", "default=http://localhost:2380", "Bootstrap."),
  _def("Clustering", "initial-cluster-state", "select", "new", "'new' or 'existing'.", {
    choices: ["new", "existing"],
  }),
  _def("Clustering", "initial-cluster-token", "string", "etcd-cluster", "Bootstrap token."),
  _def("Clustering", "advertise-client-urls", "urls", "http://localhost:2379", "Client URLs."),
  _def("Clustering", "discovery", "string", "", "Discovery URL used to bootstrap the cluster."),
  _def("Clustering", "discovery-fallback", "select", "proxy", "'exit' or 'proxy'.", {
    choices: ["proxy", "exit"],
  }),
  _def("Clustering", "discovery-proxy", "string", "", "HTTP proxy for the discovery service."),
  _def("Clustering", "discovery-srv", "string", "", "DNS srv domain used to bootstrap."),
  _def("Clustering", "discovery-srv-name", "string", "", "Suffix of the DNS srv name."),
  _def("Clustering", "strict-reconfig-check", "bool", "true", "Reject quorum-losing changes."),
  _def("Clustering", "pre-vote", "bool", "false", "Run an additional Raft election phase."),
  _def("Clustering", "auto-compaction-retention", "string", "0", "Auto compaction retention."),
  _def("Clustering", "auto-compaction-mode", "string", "periodic", "periodic|revision."),
  _def("Clustering", "enable-v2", "bool", "false", "Accept etcd V2 client requests."),
  _def("Proxy", "proxy", "select", "off", "'off', 'readonly' or 'on'.", {
    choices: ["off", "readonly", "on"],
  }),
  _def("Proxy", "proxy-failure-wait", "uint", "5000", "Time (ms) an endpoint is held failed."),
  _def("Proxy", "proxy-refresh-interval", "uint", "30000", "Time (ms) of endpoint refresh."),
  _def("Proxy", "proxy-dial-timeout", "uint", "1000", "Time (ms) for a dial to timeout."),
  _def("Proxy", "proxy-write-timeout", "uint", "5000", "Time (ms) for a write to timeout."),
  _def("Proxy", "proxy-read-timeout", "uint", "0", "Time (ms) for a read to timeout."),
  _def("Security", "cert-file", "string", "", "Path to the client server TLS cert file."),
  _def("Security", "key-file", "string", "", "Path to the client server TLS key file."),
  _def("Security", "client-cert-auth", "bool", "false", "Enable client cert authentication."),
  _def("Security", "client-crl-file", "string", "", "Client certificate revocation list."),
  _def("Security", "client-cert-allowed-hostname", "string", "", "Allowed client cert hostname."),
  _def("Security", "trusted-ca-file", "string", "", "Client server TLS trusted CA cert file."),
  _def("Security", "auto-tls", "bool", "false", "Client TLS using generated certificates."),
  _def("Security", "peer-cert-file", "string", "", "Path to the peer server TLS cert file."),
  _def("Security", "peer-key-file", "string", "", "Path to the peer server TLS key file."),
  _def("Security", "peer-client-cert-auth", "bool", "false", "Enable peer client cert auth."),
  _def("Security", "peer-trusted-ca-file", "string", "", "Peer server TLS trusted CA file."),
  _def("Security", "peer-auto-tls", "bool", "false", "Peer TLS using generated certificates."),
  _def("Security", "peer-crl-file", "string", "", "Peer certificate revocation list file."),
  _def("Security", "peer-cert-allowed-cn", "string", "", "Required CN for peer client certs."),
  _def("Security", "peer-cert-allowed-hostname", "string", "", "Allowed peer TLS hostname."),
  _def("Security", "cipher-suites", "strings", "", "Comma-separated TLS cipher suites."),
  _def("Security", "experimental-peer-skip-client-san-verification", "bool", "false", "Skip SAN."),
  _def("Security", "cors", "urls", "*", "Comma-separated CORS origins.", { exceptions: ["*"] }),
  _def("Security", "host-whitelist", "strings", "*", "Acceptable hostnames from HTTP clients."),
  _def("Auth", "auth-token", "string", "simple", "'simple' or 'jwt' and its options."),
  _def("Auth", "bcrypt-cost", "uint", "10", "bcrypt cost for auth passwords (4..31)."),
  _def("Auth", "auth-token-ttl", "uint", "300", "Time (s) of the auth-token-ttl."),
  _def("Profiling and Monitoring", "enable-pprof", "bool", "false", "Enable runtime profiling."),
  _def("Profiling and Monitoring", "metrics", "string", "basic", "'basic' or 'extensive'."),
  _def("Profiling and Monitoring", "enable-grpc-gateway", "bool", "true", "Enable GRPC gateway."),
  _def("Logging", "logger", "string", "capnslog", "'zap' or 'capnslog'."),
  _def("Logging", "log-outputs", "strings", "default", "'stdout', 'stderr', or file paths."),
  _def("Logging", "log-output", "strings", "default", "Deprecated: use '--log-outputs'."),
  _def("Logging", "log-level", "string", "info", "debug, info, warn, error, panic, or fatal."),
  _def("Logging", "debug", "bool", "false", "Deprecated: use '--log-level=debug'."),
  _def("Logging", "log-package-levels", "string", "", "Deprecated: per-package levels."),
  _def("", "version", "bool", "false", "Print the version and exit."),
  _def("Experimental", "experimental-initial-corrupt-check", "bool", "false", "Check at boot."),
  _def("Experimental", "experimental-corrupt-check-time", "duration", "0s", "Check interval."),
  _def("Experimental", "experimental-enable-v2v3", "string", "", "v3 prefix for v2 emulation."),
  _def("Experimental", "experimental-backend-bbolt-freelist-type", "string", "map", "map|array."),
  _def(
    "Experimental",
    "experimental-enable-lease-checkpoint",
    "bool",
    "false",
    "The leader checkpoints lease remaining TTLs so that they survive leader changes.",
  ),
  _def(
    "Experimental",
    "experimental-enable-lease-checkpoint-persist",
    "bool",
    "false",
    "Persist checkpointed remaining TTLs (needs experimental-enable-lease-checkpoint).",
  ),
  _def("Experimental", "experimental-compaction-batch-limit", "int", "1000", "Per batch."),
  // etcd 3.5's flag (3.4 hard-codes 5000): raft entries kept behind a snapshot for followers.
  _def("Experimental", "experimental-snapshot-catchup-entries", "int", "5000", "Catch-up."),
  _def("Experimental", "experimental-watch-progress-notify-interval", "duration", "10m", "Notify."),
  _def("Experimental", "experimental-warning-apply-duration", "duration", "100ms", "Slow apply."),
  _def("Unsafe", "unsafe-no-fsync", "bool", "false", "Disables fsync, unsafe."),
  _def("Unsafe", "force-new-cluster", "bool", "false", "Force a new one-member cluster."),
  // detcd's own flags, beside etcd's (etcd 3.4 has no console).
  _def("detcd", "enable-ui", "bool", "true", "detcd: serve the web console under /ui/."),
  _def(
    "detcd",
    "experimental-backend-cache-bytes",
    "int",
    "16777216",
    "detcd: byte budget of the db page cache (etcd maps the file instead).",
  ),
  ...[
    "cluster-active-size",
    "cluster-remove-delay",
    "cluster-sync-interval",
    "config",
    "force",
    "max-result-buffer",
    "max-retry-attempts",
    "peer-heartbeat-interval",
    "peer-election-timeout",
    "retry-interval",
    "snapshot",
    "v",
    "vv",
    "test.coverprofile",
  ].map((name) => _def("", name, "ignored", "", "")),
];

const _FLAG_BY_NAME = new Map(_FLAGS.map((flag) => [flag.name, flag]));

/** The ETCD_* variable for a flag: `--initial-cluster-token` -> `ETCD_INITIAL_CLUSTER_TOKEN`. */
export function flagToEnv(name: string): string {
  return "ETCD_" + name.replaceAll("-", "_").toUpperCase();
}

/** The short usage text printed after a flag error, as etcd prints its usage line. */
export function usageText(): string {
  return _usageLines().join("\n") + "\n";
}

function _usageLines(): string[] {
  return [
    "Usage:",
    "",
    "  detcd [flags]",
    "    Start a detcd (etcd 3.4 compatible) server.",
    "",
    "  detcd --version",
    "    Show the version of detcd.",
    "",
    "  detcd -h | --help",
    "    Show the help information about detcd.",
    "",
    "  detcd --config-file",
    "    Path to the server configuration file. Note that if a configuration file is provided,",
    "    other command line flags and environment variables will be ignored.",
    "",
    "  detcd inspect db|wal|snap PATH [--json]",
    "    Print the contents of a db file, a WAL directory or a .snap file.",
  ];
}

/** The usage text for `--help`, grouped as etcd's is. */
export function helpText(): string {
  const lines = _usageLines();
  let group = "";
  for (const flag of _FLAGS) {
    if (flag.group === "" || flag.kind === "ignored") continue;
    if (flag.group !== group) {
      group = flag.group;
      lines.push("", `${group}:`);
    }
    lines.push(`  --${flag.name} '${flag.defaultText}'`, `    ${flag.help}`);
  }
  lines.push("", "Every flag can also be set by its ETCD_* environment variable", "");
  return lines.join("\n");
}

// --- value parsing, with the error texts of Go's flag and strconv packages -------------------

const _PARSE_ERROR = "parse error";
const _RANGE_ERROR = "value out of range";

/** Go's strconv.ParseUint/ParseInt with base 0 (`0x`, `0o`, `0b`, leading-0 octal, `_`). */
function _parseGoInteger(text: string, signed: boolean, bits: number): bigint {
  const match = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO]?[0-7_]*|[1-9][0-9_]*)$/.exec(text);
  if (match === null || (!signed && match[1] !== "")) throw new Error(_PARSE_ERROR);
  const body = match[2]!;
  if (body.includes("_") && !/^0[xXbBoO]?/.test(body)) throw new Error(_PARSE_ERROR);
  const digits = body.replaceAll("_", "");
  let magnitude: bigint;
  if (/^0[oO]/.test(digits)) magnitude = BigInt("0o" + digits.slice(2));
  else if (/^0[0-7]+$/.test(digits)) magnitude = BigInt("0o" + digits.slice(1));
  else magnitude = BigInt(digits);
  const value = match[1] === "-" ? -magnitude : magnitude;
  const limit = 1n << BigInt(signed ? bits - 1 : bits);
  if (signed ? value < -limit || value >= limit : value >= limit) throw new Error(_RANGE_ERROR);
  return value;
}

/** Go's strconv.ParseBool. */
function _parseGoBool(text: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw new Error(_PARSE_ERROR);
}

/** etcd's types.NewURLs for one comma-separated flag value; returns them sorted as etcd does. */
export function parseUrls(text: string): URL[] {
  const urls = text.split(",").map((raw) => {
    const input = raw.trim();
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(input);
    if (scheme === null || !["http", "https", "unix", "unixs"].includes(scheme[1]!)) {
      throw new Error(`URL scheme must be http, https, unix, or unixs: ${input}`);
    }
    const host = scheme[2]!;
    if (!/^(\[[^\]]*\]|[^:\[\]]*):[^:]*$/.test(host)) {
      throw new Error(`URL address does not have the form "host:port": ${input}`);
    }
    if (scheme[3] !== "" && scheme[3] !== undefined) {
      throw new Error(`URL must not contain a path: ${input}`);
    }
    return new URL(input);
  });
  const key = (url: URL) => `${url.protocol}//${url.host}`;
  return urls.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** etcd's types.NewURLsMap: `name=url,name=url2,other=url3` -> name -> sorted URLs. */
export function parseInitialCluster(text: string): Map<string, URL[]> {
  const raw = new Map<string, string[]>();
  for (const entry of text.split(",")) {
    if (entry === "") continue;
    const equals = entry.indexOf("=");
    const name = equals < 0 ? entry : entry.slice(0, equals);
    const url = equals < 0 ? "" : entry.slice(equals + 1);
    raw.set(name, [...(raw.get(name) ?? []), url]);
  }
  const cluster = new Map<string, URL[]>();
  for (const [name, urls] of raw) cluster.set(name, parseUrls(urls.join(",")));
  return cluster;
}

/** Checks one raw value against its flag's kind; throws Go's error text. */
function _checkValue(flag: _FlagDef, value: string): void {
  switch (flag.kind) {
    case "bool":
      _parseGoBool(value);
      return;
    case "uint":
      _parseGoInteger(value, false, 64);
      return;
    case "int":
      _parseGoInteger(value, true, 64);
      return;
    case "uint32":
      _parseGoInteger(value, false, 32);
      return;
    case "duration":
      try {
        parseGoDurationMs(value);
      } catch {
        throw new Error(_PARSE_ERROR);
      }
      return;
    case "urls":
      if (value === "" || (flag.exceptions ?? []).includes(value)) return;
      parseUrls(value);
      return;
    case "select":
      if (!(flag.choices ?? []).includes(value)) throw new Error("invalid value");
      return;
    default:
      return;
  }
}

/**
 * Go's flag.Parse over etcd's flag set: `-f v`, `--f v`, `-f=v`, `--f=v`, booleans as `-f` or
 * `-f=false`; `--` ends flags; the first non-flag argument ends them too (etcd then refuses it).
 * Returns the raw values by flag name, last one winning, in the order given.
 */
function _parseFlags(args: string[]): { values: Map<string, string>; help: boolean } {
  const values = new Map<string, string>();
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "--") {
      _refuseRest(args.slice(index + 1));
      break;
    }
    if (arg.length < 2 || !arg.startsWith("-")) {
      _refuseRest(args.slice(index));
      break;
    }
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      throw new ConfigError(`bad flag syntax: ${arg}`, { showUsage: true });
    }
    const equals = body.indexOf("=");
    const name = equals < 0 ? body : body.slice(0, equals);
    const flag = _FLAG_BY_NAME.get(name);
    if (flag === undefined) {
      if (name === "h" || name === "help") return { values, help: true };
      throw new ConfigError(`flag provided but not defined: -${name}`, { showUsage: true });
    }
    let value: string;
    if (equals >= 0) {
      value = body.slice(equals + 1);
    } else if (flag.kind === "bool" || flag.kind === "ignored") {
      // etcd's IgnoredFlag is a bool flag too: it never takes the next argument.
      value = "true";
    } else if (index + 1 < args.length) {
      value = args[++index]!;
    } else {
      throw new ConfigError(`flag needs an argument: -${name}`, { showUsage: true });
    }
    try {
      _checkValue(flag, value);
    } catch (error) {
      const reason = (error as Error).message;
      const text = flag.kind === "bool"
        ? `invalid boolean value ${_goQuote(value)} for -${name}: ${reason}`
        : `invalid value ${_goQuote(value)} for flag -${name}: ${reason}`;
      throw new ConfigError(text, { showUsage: true });
    }
    values.set(name, value);
  }
  return { values, help: false };
}

function _refuseRest(rest: string[]): void {
  if (rest.length > 0) {
    throw new ConfigError(
      `error verifying flags, '${rest[0]}' is not a valid flag. See 'etcd --help'.`,
    );
  }
}

/** Go's %q for the plain strings flags hold. */
function _goQuote(text: string): string {
  return JSON.stringify(text);
}

/**
 * Merges `ETCD_*` variables into the flag values: a flag given on the command line wins over
 * its variable (etcd 3.4 would refuse to start; detcd warns and keeps the flag).
 */
function _mergeEnv(
  values: Map<string, string>,
  env: Record<string, string>,
  warnings: string[],
): void {
  const used = new Set<string>();
  for (const flag of _FLAGS) {
    const key = flagToEnv(flag.name);
    const value = env[key];
    if (value === undefined || value === "") continue;
    used.add(key);
    if (values.has(flag.name)) {
      warnings.push(`environment variable ${key} is shadowed by the flag --${flag.name}`);
      continue;
    }
    try {
      _checkValue(flag, value);
    } catch (error) {
      throw new ConfigError(
        `invalid value ${_goQuote(value)} for ${key}: ${(error as Error).message}`,
      );
    }
    values.set(flag.name, value);
  }
  for (const key of Object.keys(env)) {
    if (key.startsWith("ETCD_") && !used.has(key) && key !== "ETCD_UNSUPPORTED_ARCH") {
      warnings.push(`unrecognized environment variable ${key}=${env[key]}`);
    }
  }
}

const _TLS_SECTIONS: Record<string, Record<string, string>> = {
  "client-transport-security": {
    "cert-file": "cert-file",
    "key-file": "key-file",
    "client-cert-auth": "client-cert-auth",
    "trusted-ca-file": "trusted-ca-file",
    "auto-tls": "auto-tls",
  },
  "peer-transport-security": {
    "cert-file": "peer-cert-file",
    "key-file": "peer-key-file",
    "client-cert-auth": "peer-client-cert-auth",
    "trusted-ca-file": "peer-trusted-ca-file",
    "auto-tls": "peer-auto-tls",
  },
};

/**
 * etcd's YAML config file (embed.ConfigFromFile) as flag values: keys are the flag names, URL
 * lists are comma-separated strings, durations are nanoseconds (Go's time.Duration through
 * JSON) or Go duration strings, and TLS settings sit under `client-transport-security` and
 * `peer-transport-security`.
 */
function _valuesFromYaml(data: unknown, warnings: string[]): Map<string, string> {
  const values = new Map<string, string>();
  if (data === null || data === undefined) return values;
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError("config file: the top level must be a mapping");
  }
  const put = (name: string, raw: unknown) => {
    const flag = _FLAG_BY_NAME.get(name);
    if (flag === undefined || flag.kind === "ignored" || name === "config-file") {
      warnings.push(`config file: unknown field ${JSON.stringify(name)} ignored`);
      return;
    }
    if (raw === null || raw === undefined) return;
    let value: string;
    if (Array.isArray(raw)) value = raw.map(String).join(",");
    else if (flag.kind === "duration" && typeof raw === "number") value = `${raw}ns`;
    else value = String(raw);
    try {
      _checkValue(flag, value);
    } catch (error) {
      throw new ConfigError(
        `config file: invalid value ${_goQuote(value)} for ${name}: ${(error as Error).message}`,
      );
    }
    values.set(name, value);
  };
  for (const [key, raw] of Object.entries(data as Record<string, unknown>)) {
    const section = _TLS_SECTIONS[key];
    if (section === undefined) {
      put(key, raw);
      continue;
    }
    for (const [inner, innerRaw] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
      const name = section[inner];
      if (name === undefined) warnings.push(`config file: unknown field ${key}.${inner} ignored`);
      else put(name, innerRaw);
    }
  }
  return values;
}

/**
 * Parses etcd's command line into what to do. Precedence as etcd 3.4: a `--config-file` (or
 * `ETCD_CONFIG_FILE`) replaces flags and environment; otherwise flags, then `ETCD_*` variables,
 * then defaults. Throws {@link ConfigError}.
 */
export function parseCommandLine(args: string[], options: ParseOptions = {}): CommandLine {
  const env = options.env ?? {};
  const parsed = _parseFlags(args);
  if (parsed.help) return { kind: "help" };
  if (parsed.values.get("version") !== undefined && _parseGoBool(parsed.values.get("version")!)) {
    return { kind: "version" };
  }
  const warnings: string[] = [];
  const configFile = parsed.values.get("config-file") ?? env[flagToEnv("config-file")] ?? "";
  let values: Map<string, string>;
  if (configFile !== "") {
    if (options.readTextFile === undefined || options.parseYaml === undefined) {
      throw new ConfigError("config files need readTextFile and parseYaml");
    }
    let data: unknown;
    try {
      data = options.parseYaml(options.readTextFile(configFile));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(`cannot load config file ${configFile}: ${(error as Error).message}`);
    }
    values = _valuesFromYaml(data, warnings);
  } else {
    values = parsed.values;
    _mergeEnv(values, env, warnings);
  }
  // etcd's flags.IgnoredFlag: flags of etcd 0.4 are accepted with a warning and do nothing.
  for (const name of values.keys()) {
    if (_FLAG_BY_NAME.get(name)?.kind === "ignored") {
      warnings.push(`flag "-${name}" is no longer supported - ignoring.`);
    }
  }
  const config = _buildConfig(values, configFile !== "", warnings);
  // The grpc-js transport (a detcd test switch) has no ping enforcement: refuse, before anything
  // is written, a client ping policy it would ignore (api/grpc_server.ts checks it again).
  if (env["DETCD_GRPC_TRANSPORT"] === "grpc-js" && config.grpcKeepAliveMinTimeMs !== 5000) {
    throw new ConfigError(
      `--grpc-keepalive-min-time=${values.get("grpc-keepalive-min-time")}: the grpc-js ` +
        "transport (DETCD_GRPC_TRANSPORT=grpc-js) cannot enforce a client ping policy",
    );
  }
  return { kind: "serve", config, warnings, configFile };
}

/** Reads a flag's value (given or default) through a kind-specific converter. */
class _Values {
  constructor(private readonly values: Map<string, string>) {}

  isSet(name: string): boolean {
    return this.values.has(name);
  }

  text(name: string): string {
    const flag = _FLAG_BY_NAME.get(name);
    if (flag === undefined) throw new Error(`internal: no flag ${name}`);
    return this.values.get(name) ?? flag.defaultText;
  }

  bool(name: string): boolean {
    return _parseGoBool(this.text(name));
  }

  number(name: string): number {
    const flag = _FLAG_BY_NAME.get(name)!;
    const signed = flag.kind === "int";
    return Number(_parseGoInteger(this.text(name), signed, flag.kind === "uint32" ? 32 : 64));
  }

  durationMs(name: string): number {
    return parseGoDurationMs(this.text(name));
  }

  urls(name: string): URL[] {
    const text = this.text(name);
    return text === "" ? [] : parseUrls(text);
  }

  strings(name: string): string[] {
    const text = this.text(name);
    return text === "" ? [] : [...new Set(text.split(","))];
  }
}

function _tls(values: _Values, side: "client" | "peer"): TlsConfig {
  const peer = side === "peer";
  return {
    certFile: values.text(peer ? "peer-cert-file" : "cert-file"),
    keyFile: values.text(peer ? "peer-key-file" : "key-file"),
    trustedCaFile: values.text(peer ? "peer-trusted-ca-file" : "trusted-ca-file"),
    clientCertAuth: values.bool(peer ? "peer-client-cert-auth" : "client-cert-auth"),
    autoTls: values.bool(peer ? "peer-auto-tls" : "auto-tls"),
    skipClientSanVerify: peer && values.bool("experimental-peer-skip-client-san-verification"),
    crlFile: values.text(peer ? "peer-crl-file" : "client-crl-file"),
    allowedCn: peer ? values.text("peer-cert-allowed-cn") : "",
    allowedHostname: values.text(
      peer ? "peer-cert-allowed-hostname" : "client-cert-allowed-hostname",
    ),
  };
}

/** Turns merged flag values into a resolved, validated {@link ServerConfig}. */
function _buildConfig(
  raw: Map<string, string>,
  fromFile: boolean,
  warnings: string[],
): ServerConfig {
  const values = new _Values(raw);
  const base = defaultConfig();
  const name = values.text("name");
  const dataDir = values.text("data-dir") === "" ? `${name}.etcd` : values.text("data-dir");
  const initialAdvertisePeerUrls = values.urls("initial-advertise-peer-urls");
  // etcd: a member named other than `default` with the default --initial-cluster bootstraps
  // as `${name}=${advertised peer URLs}` (embed/config.go UpdateDefaultClusterFromName).
  let initialClusterText = values.text("initial-cluster");
  if (!values.isSet("initial-cluster") && name !== "default") {
    initialClusterText = initialAdvertisePeerUrls.map((url) => `${name}=${_urlText(url)}`).join(
      ",",
    );
  }
  if (
    !values.isSet("initial-cluster") &&
    (values.text("discovery") !== "" || values.text("discovery-srv") !== "")
  ) {
    initialClusterText = "";
  }
  let initialCluster: Map<string, URL[]>;
  try {
    initialCluster = parseInitialCluster(initialClusterText);
  } catch (error) {
    throw new ConfigError(`invalid --initial-cluster: ${(error as Error).message}`);
  }
  // etcd drops the default advertise-client-urls once listen-client-urls is set explicitly;
  // Validate then refuses to start (ErrUnsetAdvertiseClientURLsFlag).
  let advertiseClientUrls = values.urls("advertise-client-urls");
  if (!fromFile && values.isSet("listen-client-urls") && !values.isSet("advertise-client-urls")) {
    advertiseClientUrls = [];
  }
  const quota = values.number("quota-backend-bytes");
  const batchIntervalMs = values.durationMs("backend-batch-interval");
  const batchLimit = values.number("backend-batch-limit");
  const mode = values.text("auto-compaction-mode");
  const freelist = values.text("experimental-backend-bbolt-freelist-type");
  let logOutputs = values.strings("log-outputs");
  if (values.isSet("log-output") && !values.isSet("log-outputs")) {
    warnings.push("'--log-output' flag has been deprecated! Please use '--log-outputs'!");
    logOutputs = values.strings("log-output");
  }
  const config: ServerConfig = {
    ...base,
    name,
    dataDir,
    walDir: values.text("wal-dir") === "" ? `${dataDir}/member/wal` : values.text("wal-dir"),
    snapDir: values.text("snap-dir") === "" ? `${dataDir}/member/snap` : values.text("snap-dir"),
    listenClientUrls: values.urls("listen-client-urls"),
    advertiseClientUrls,
    listenPeerUrls: values.urls("listen-peer-urls"),
    initialAdvertisePeerUrls,
    initialCluster,
    initialClusterState: values.text("initial-cluster-state") === "existing" ? "existing" : "new",
    initialClusterToken: values.text("initial-cluster-token"),
    snapshotCount: values.number("snapshot-count"),
    snapshotCatchUpEntries: values.number("experimental-snapshot-catchup-entries"),
    heartbeatIntervalMs: values.number("heartbeat-interval"),
    electionTimeoutMs: values.number("election-timeout"),
    initialElectionTickAdvance: values.bool("initial-election-tick-advance"),
    quotaBackendBytes: quota === 0 ? DEFAULT_QUOTA_BACKEND_BYTES : quota,
    maxRequestBytes: values.number("max-request-bytes"),
    maxTxnOps: values.number("max-txn-ops"),
    maxConcurrentStreams: values.number("max-concurrent-streams"),
    autoCompactionRetention: values.text("auto-compaction-retention"),
    autoCompactionMode: mode === "revision" ? "revision" : "periodic",
    backendFreelistType: freelist === "array" ? "array" : "map",
    backendBatchIntervalMs: batchIntervalMs > 0
      ? batchIntervalMs
      : DEFAULT_BACKEND_BATCH_INTERVAL_MS,
    backendBatchLimit: batchLimit > 0 ? batchLimit : DEFAULT_BACKEND_BATCH_LIMIT,
    maxSnapshots: values.number("max-snapshots"),
    maxWals: values.number("max-wals"),
    forceNewCluster: values.bool("force-new-cluster"),
    strictReconfigCheck: values.bool("strict-reconfig-check"),
    preVote: values.bool("pre-vote"),
    enableV2: values.bool("enable-v2"),
    enablePprof: values.bool("enable-pprof"),
    enableGrpcGateway: values.bool("enable-grpc-gateway"),
    enableUi: values.bool("enable-ui"),
    backendCacheBytes: values.number("experimental-backend-cache-bytes"),
    logger: values.text("logger"),
    logOutputs,
    logLevel: values.bool("debug") ? "debug" : values.text("log-level"),
    clientTls: _tls(values, "client"),
    peerTls: _tls(values, "peer"),
    cipherSuites: values.strings("cipher-suites"),
    cors: values.text("cors") === "" ? [] : values.text("cors").split(","),
    hostWhitelist: values.strings("host-whitelist"),
    listenMetricsUrls: values.urls("listen-metrics-urls"),
    metrics: values.text("metrics"),
    authToken: values.text("auth-token"),
    authTokenTtlSeconds: values.number("auth-token-ttl"),
    bcryptCost: values.number("bcrypt-cost"),
    grpcKeepAliveMinTimeMs: values.durationMs("grpc-keepalive-min-time"),
    grpcKeepAliveIntervalMs: values.durationMs("grpc-keepalive-interval"),
    grpcKeepAliveTimeoutMs: values.durationMs("grpc-keepalive-timeout"),
    discovery: values.text("discovery"),
    discoveryFallback: values.text("discovery-fallback") === "exit" ? "exit" : "proxy",
    discoveryProxy: values.text("discovery-proxy"),
    proxy: _proxyMode(values.text("proxy")),
    proxyFailureWaitMs: values.number("proxy-failure-wait"),
    proxyRefreshIntervalMs: values.number("proxy-refresh-interval"),
    proxyDialTimeoutMs: values.number("proxy-dial-timeout"),
    proxyWriteTimeoutMs: values.number("proxy-write-timeout"),
    proxyReadTimeoutMs: values.number("proxy-read-timeout"),
    discoverySrv: values.text("discovery-srv"),
    discoverySrvName: values.text("discovery-srv-name"),
    experimentalInitialCorruptCheck: values.bool("experimental-initial-corrupt-check"),
    experimentalCorruptCheckTimeMs: values.durationMs("experimental-corrupt-check-time"),
    experimentalEnableV2v3: values.text("experimental-enable-v2v3"),
    experimentalEnableLeaseCheckpoint: values.bool("experimental-enable-lease-checkpoint"),
    experimentalEnableLeaseCheckpointPersist: values.bool(
      "experimental-enable-lease-checkpoint-persist",
    ),
    experimentalCompactionBatchLimit: values.number("experimental-compaction-batch-limit"),
    experimentalWatchProgressNotifyIntervalMs: values.durationMs(
      "experimental-watch-progress-notify-interval",
    ),
    experimentalWarningApplyDurationMs: values.durationMs("experimental-warning-apply-duration"),
    unsafeNoFsync: values.bool("unsafe-no-fsync"),
  };
  _validate(config, { mode, freelist, raw: values }, warnings);
  return config;
}

function _urlText(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/** etcd's embed.Config.Validate, plus the checks detcd needs on values etcd checks later. */
function _validate(
  cfg: ServerConfig,
  given: { mode: string; freelist: string; raw: _Values },
  warnings: string[],
): void {
  const fail = (message: string): never => {
    throw new ConfigError(`error verifying flags, ${message}. See 'etcd --help'.`);
  };
  for (const url of [...cfg.listenPeerUrls, ...cfg.listenClientUrls, ...cfg.listenMetricsUrls]) {
    if (url.protocol === "unix:" || url.protocol === "unixs:") continue;
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    if (host !== "localhost" && !_isIpLiteral(host)) {
      fail(`expected IP in URL for binding (${_urlText(url)})`);
    }
  }
  for (
    const [flag, urls] of [
      ["--initial-advertise-peer-urls", cfg.initialAdvertisePeerUrls],
      ["--advertise-client-urls", cfg.advertiseClientUrls],
    ] as const
  ) {
    if (urls.some((url) => url.hostname === "")) {
      fail(`${flag} ${_goQuote(urls.map(_urlText).join(","))} must be "host:port"`);
    }
  }
  const bootstraps = [cfg.discovery, cfg.initialCluster.size > 0 ? "x" : "", cfg.discoverySrv];
  if (bootstraps.filter((value) => value !== "").length > 1) {
    fail(
      'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"',
    );
  }
  if (cfg.heartbeatIntervalMs <= 0) {
    fail(`--heartbeat-interval must be >0 (set to ${cfg.heartbeatIntervalMs}ms)`);
  }
  if (cfg.electionTimeoutMs <= 0) {
    fail(`--election-timeout must be >0 (set to ${cfg.electionTimeoutMs}ms)`);
  }
  if (5 * cfg.heartbeatIntervalMs > cfg.electionTimeoutMs) {
    fail(
      `--election-timeout[${cfg.electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${cfg.heartbeatIntervalMs}ms]`,
    );
  }
  if (cfg.electionTimeoutMs > 50000) {
    fail(
      `--election-timeout[${cfg.electionTimeoutMs}ms] is too long, and should be set less than 50000ms`,
    );
  }
  if (cfg.proxy !== "off" && cfg.discoverySrv !== "") {
    fail(
      "--proxy with --discovery-srv is not supported by detcd (its v2 proxy takes the cluster " +
        "from --initial-cluster or --discovery)",
    );
  }
  // etcd's config.validate lets a (possible) v2 proxy go without advertised client URLs.
  const mayBeProxy = cfg.proxy !== "off" ||
    (cfg.discovery !== "" && cfg.discoveryFallback === "proxy");
  if (
    cfg.listenClientUrls.length > 0 && cfg.advertiseClientUrls.length === 0 && !mayBeProxy
  ) {
    fail("--advertise-client-urls is required when --listen-client-urls is set explicitly");
  }
  if (given.mode !== "periodic" && given.mode !== "revision") {
    fail(`unknown auto-compaction-mode ${_goQuote(given.mode)}`);
  }
  try {
    autoCompactionRetention(cfg);
  } catch (error) {
    fail((error as Error).message);
  }
  if (given.freelist !== "map" && given.freelist !== "array") {
    fail(
      `unknown experimental-backend-bbolt-freelist-type ${_goQuote(given.freelist)} (map or array)`,
    );
  }
  if (cfg.logger !== "capnslog" && cfg.logger !== "zap") {
    fail(`unknown logger option ${_goQuote(cfg.logger)}`);
  }
  if (!["debug", "info", "warn", "error", "panic", "fatal"].includes(cfg.logLevel)) {
    fail(`unknown log level ${_goQuote(cfg.logLevel)}`);
  }
  if (cfg.maxTxnOps <= 0) fail("--max-txn-ops must be >0");
  if (!Number.isSafeInteger(cfg.backendCacheBytes) || cfg.backendCacheBytes < 0) {
    fail(`--experimental-backend-cache-bytes must be >= 0 (got ${cfg.backendCacheBytes})`);
  }
  if (cfg.maxRequestBytes <= 0) fail("--max-request-bytes must be >0");
  if (cfg.experimentalEnableLeaseCheckpoint && !cfg.experimentalEnableLeaseCheckpointPersist) {
    warnings.push(
      "Detected that checkpointing is enabled without persistence. Consider enabling experimental-enable-lease-checkpoint-persist",
    );
  }
  if (cfg.experimentalEnableLeaseCheckpointPersist && !cfg.experimentalEnableLeaseCheckpoint) {
    fail(
      "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint",
    );
  }
  _refuseUnimplemented(given.raw);
  if (cfg.logger === "capnslog") {
    warnings.push("Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead");
  }
}

/**
 * Flags of etcd 3.4 that detcd accepts only at their default value, with why. A flag given
 * with another value (on the command line, as its `ETCD_*` variable or in the config file)
 * stops the start with exit 2, naming the flag: none is parsed and then ignored.
 */
export const REFUSED_FLAGS: ReadonlyMap<string, string> = new Map([
  ["experimental-enable-v2v3", "the v2 API's emulation over v3 is not implemented"],
  ["log-package-levels", "per-package log levels are not implemented; use --log-level"],
]);

function _proxyMode(text: string): ServerConfig["proxy"] {
  return text === "on" || text === "readonly" ? text : "off";
}

function _refuseUnimplemented(values: _Values): void {
  for (const [name, reason] of REFUSED_FLAGS) {
    if (!values.isSet(name)) continue;
    const flag = _FLAG_BY_NAME.get(name)!;
    if (_sameValue(flag, values.text(name), flag.defaultText)) continue;
    throw new ConfigError(
      `error verifying flags, --${name} is not supported by detcd (${reason}); ` +
        `leave it at its default '${flag.defaultText}'. See 'etcd --help'.`,
    );
  }
}

/** Whether two texts of a flag's value mean the same value (`true`/`1`, `0s`/`0`). */
function _sameValue(flag: _FlagDef, text: string, defaultText: string): boolean {
  try {
    switch (flag.kind) {
      case "bool":
        return _parseGoBool(text) === _parseGoBool(defaultText);
      case "duration":
        return parseGoDurationMs(text) === parseGoDurationMs(defaultText);
      case "uint":
      case "int":
      case "uint32":
        return _parseGoInteger(text, flag.kind === "int", 64) ===
          _parseGoInteger(defaultText, flag.kind === "int", 64);
      default:
        return text === defaultText;
    }
  } catch {
    return false;
  }
}

function _isIpLiteral(host: string): boolean {
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(host)) {
    return host.split(".").every((part) => Number(part) <= 255);
  }
  return host.includes(":") && /^[0-9a-fA-F:.]+$/.test(host);
}

/**
 * etcd's bootstrap checks (etcdserver/config.go VerifyBootstrap) for a member starting without
 * data: it must be in --initial-cluster, with exactly its advertised peer URLs, and no URL may
 * appear twice. Returns an error message, or undefined when the bootstrap is consistent.
 */
export function verifyBootstrap(cfg: ServerConfig): string | undefined {
  // With --discovery or --discovery-srv the initial cluster is not known yet: discovery
  // finds it and checks this member's place in it (server/discovery_bootstrap.ts).
  if ((cfg.discovery !== "" || cfg.discoverySrv !== "") && cfg.initialCluster.size === 0) {
    return undefined;
  }
  const own = cfg.initialCluster.get(cfg.name);
  if (own === undefined) {
    return `couldn't find local name ${_goQuote(cfg.name)} in the initial cluster configuration`;
  }
  const clusterUrls = own.map(_urlText).sort();
  const advertised = cfg.initialAdvertisePeerUrls.map(_urlText).sort();
  if (clusterUrls.join(",") !== advertised.join(",")) {
    return `--initial-cluster has ${
      clusterUrls.map((url) => `${cfg.name}=${url}`).join(",")
    } but missing from --initial-advertise-peer-urls=${advertised.join(",")} (resolved urls: ${
      _goQuote(advertised.join(","))
    } != ${_goQuote(clusterUrls.join(","))})`;
  }
  const all = [...cfg.initialCluster.values()].flat().map(_urlText);
  if (new Set(all).size !== all.length) {
    return `initial cluster ${
      [...cfg.initialCluster].map(([name, urls]) =>
        urls.map((url) => `${name}=${_urlText(url)}`).join(",")
      ).join(",")
    } has duplicate url`;
  }
  return undefined;
}
