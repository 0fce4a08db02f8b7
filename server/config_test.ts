/**
 * Goal: detcd reads etcd 3.4's flags, ETCD_* variables and YAML config files as etcd does.
 * Method: parse command lines and compare the resolved config; error texts are the ones the real
 * etcd binary prints (tests/cli_flags_test.ts compares them with /usr/bin/etcd live).
 */
import { deepStrictEqual, equal, ok, strictEqual, throws } from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import {
  autoCompactionRetention,
  defaultConfig,
  parseGoDurationMs,
  type ServerConfig,
} from "./config.ts";
import { ConfigError, parseCommandLine, verifyBootstrap } from "./config_flags.ts";

function _serve(
  args: string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): {
  config: ServerConfig;
  warnings: string[];
} {
  const command = parseCommandLine(args, {
    env,
    readTextFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`open ${path}: no such file or directory`);
      return text;
    },
    parseYaml: (text) => parseYaml(text),
  });
  if (command.kind !== "serve") throw new Error(`expected serve, got ${command.kind}`);
  return command;
}

function _configError(args: string[], env: Record<string, string> = {}): ConfigError {
  try {
    parseCommandLine(args, { env });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`no error for ${args.join(" ")}`);
}

Deno.test("parseCommandLine() with no arguments gives etcd's defaults", () => {
  const { config } = _serve([]);
  const expected = defaultConfig();
  deepStrictEqual(config, expected);
  strictEqual(config.dataDir, "default.etcd");
  strictEqual(config.walDir, "default.etcd/member/wal");
  strictEqual(config.quotaBackendBytes, 2 * 1024 ** 3);
  strictEqual(config.maxRequestBytes, 1572864);
  strictEqual(config.backendFreelistType, "map");
});

Deno.test("parseCommandLine() takes detcd's page-cache budget, 16 MiB by default", () => {
  strictEqual(_serve([]).config.backendCacheBytes, 16 * 1024 * 1024);
  const { config } = _serve(["--experimental-backend-cache-bytes", "1048576"]);
  strictEqual(config.backendCacheBytes, 1048576);
});

Deno.test("parseCommandLine() accepts -flag, --flag, =value, and bare booleans", () => {
  const { config } = _serve([
    "-name",
    "n1",
    "--data-dir=/d",
    "--listen-client-urls",
    "http://127.0.0.1:1,http://127.0.0.1:2",
    "-advertise-client-urls=http://127.0.0.1:1",
    "--peer-auto-tls",
    "--strict-reconfig-check=false",
    "--snapshot-count",
    "0x10",
    "--backend-batch-interval",
    "10ms",
    "--quota-backend-bytes",
    "-1",
    "--wal-dir",
    "/w",
  ]);
  strictEqual(config.name, "n1");
  strictEqual(config.dataDir, "/d");
  strictEqual(config.walDir, "/w");
  strictEqual(config.snapDir, "/d/member/snap");
  deepStrictEqual(config.listenClientUrls.map((url) => url.host), ["127.0.0.1:1", "127.0.0.1:2"]);
  strictEqual(config.peerTls.autoTls, true);
  strictEqual(config.strictReconfigCheck, false);
  strictEqual(config.snapshotCount, 16);
  strictEqual(config.backendBatchIntervalMs, 10);
  strictEqual(config.quotaBackendBytes, -1);
  // A named member with the default --initial-cluster bootstraps as itself.
  deepStrictEqual([...config.initialCluster.keys()], ["n1"]);
  strictEqual(config.initialCluster.get("n1")![0]!.host, "localhost:2380");
});

Deno.test("parseCommandLine() takes ETCD_* variables, and a flag wins over its variable", () => {
  const { config, warnings } = _serve(["--name", "flag"], {
    ETCD_NAME: "env",
    ETCD_SNAPSHOT_COUNT: "7",
    ETCD_INITIAL_CLUSTER: "flag=http://127.0.0.1:9",
    ETCD_NOT_A_FLAG: "x",
  });
  strictEqual(config.name, "flag");
  strictEqual(config.snapshotCount, 7);
  ok(warnings.some((warning) => warning.includes("ETCD_NAME is shadowed")), warnings.join("\n"));
  ok(
    warnings.some((warning) =>
      warning.includes("unrecognized environment variable ETCD_NOT_A_FLAG")
    ),
  );
});

Deno.test("parseCommandLine() reads etcd's YAML config file and ignores flags and env", () => {
  const yaml = [
    "name: y1",
    "data-dir: /yd",
    "listen-client-urls: http://127.0.0.1:5,http://127.0.0.1:6",
    "advertise-client-urls: http://127.0.0.1:5",
    "initial-cluster: y1=http://localhost:2380",
    "snapshot-count: 42",
    "backend-batch-interval: 5000000",
    "log-outputs: [stderr]",
    "client-transport-security:",
    "  cert-file: /c.pem",
    "  client-cert-auth: true",
    "peer-transport-security:",
    "  auto-tls: true",
  ].join("\n");
  const { config } = _serve(["--config-file", "/etc/e.yml", "--name", "ignored"], {
    ETCD_NAME: "no",
  }, {
    "/etc/e.yml": yaml,
  });
  strictEqual(config.name, "y1");
  strictEqual(config.dataDir, "/yd");
  strictEqual(config.snapshotCount, 42);
  strictEqual(config.backendBatchIntervalMs, 5);
  deepStrictEqual(config.logOutputs, ["stderr"]);
  strictEqual(config.clientTls.certFile, "/c.pem");
  strictEqual(config.clientTls.clientCertAuth, true);
  strictEqual(config.peerTls.autoTls, true);
  strictEqual(config.listenClientUrls.length, 2);
});

Deno.test("parseCommandLine() reports bad flags with Go's texts and exit code 2", () => {
  const cases: [string[], string][] = [
    [["--bogus"], "flag provided but not defined: -bogus"],
    [["--snapshot-count", "abc"], 'invalid value "abc" for flag -snapshot-count: parse error'],
    [["--max-txn-ops", "-1"], 'invalid value "-1" for flag -max-txn-ops: parse error'],
    [
      ["--initial-cluster-state", "foo"],
      'invalid value "foo" for flag -initial-cluster-state: invalid value',
    ],
    [["--enable-v2=maybe"], 'invalid boolean value "maybe" for -enable-v2: parse error'],
    [["--name"], "flag needs an argument: -name"],
    [["---x"], "bad flag syntax: ---x"],
    [
      ["--listen-client-urls", "foo"],
      'invalid value "foo" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: foo',
    ],
    [
      ["--listen-peer-urls", "http://127.0.0.1"],
      'invalid value "http://127.0.0.1" for flag -listen-peer-urls: URL address does not have the form "host:port": http://127.0.0.1',
    ],
    [["extra"], "error verifying flags, 'extra' is not a valid flag. See 'etcd --help'."],
    [
      ["--listen-client-urls", "http://127.0.0.1:1"],
      "error verifying flags, --advertise-client-urls is required when --listen-client-urls is set explicitly. See 'etcd --help'.",
    ],
    [
      ["--heartbeat-interval", "300"],
      "error verifying flags, --election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]. See 'etcd --help'.",
    ],
    [
      ["--auto-compaction-mode", "x"],
      `error verifying flags, unknown auto-compaction-mode "x". See 'etcd --help'.`,
    ],
    [
      ["--experimental-backend-cache-bytes", "-1"],
      "error verifying flags, --experimental-backend-cache-bytes must be >= 0 (got -1). See 'etcd --help'.",
    ],
  ];
  for (const [args, message] of cases) {
    const error = _configError(args);
    strictEqual(error.message, message);
    strictEqual(error.exitCode, 2);
  }
  strictEqual(
    _configError([], { ETCD_SNAPSHOT_COUNT: "x" }).message,
    'invalid value "x" for ETCD_SNAPSHOT_COUNT: parse error',
  );
});

Deno.test("parseCommandLine() recognises --help and --version", () => {
  strictEqual(parseCommandLine(["--help"]).kind, "help");
  strictEqual(parseCommandLine(["-h"]).kind, "help");
  strictEqual(parseCommandLine(["--version"]).kind, "version");
  strictEqual(parseCommandLine(["--version=false"]).kind, "serve");
});

Deno.test("verifyBootstrap() wants the member in --initial-cluster with its advertised URLs", () => {
  strictEqual(verifyBootstrap(_serve([]).config), undefined);
  const missing = _serve(["--initial-cluster", "other=http://localhost:2380"]).config;
  strictEqual(
    verifyBootstrap(missing),
    `couldn't find local name "default" in the initial cluster configuration`,
  );
  const mismatch = _serve(["--initial-cluster", "default=http://127.0.0.1:9"]).config;
  ok(verifyBootstrap(mismatch)?.startsWith("--initial-cluster has default=http://127.0.0.1:9"));
});

Deno.test("parseGoDurationMs() and autoCompactionRetention() read Go durations and hours", () => {
  strictEqual(parseGoDurationMs("1h30m"), 90 * 60 * 1000);
  strictEqual(parseGoDurationMs("1.5s"), 1500);
  strictEqual(parseGoDurationMs("250us"), 0.25);
  strictEqual(parseGoDurationMs("0"), 0);
  throws(() => parseGoDurationMs("5"), /invalid duration/);
  throws(() => parseGoDurationMs("1x"), /invalid duration/);
  deepStrictEqual(
    autoCompactionRetention({ autoCompactionRetention: "2", autoCompactionMode: "periodic" }),
    {
      mode: "periodic",
      periodMs: 2 * 3600 * 1000,
    },
  );
  deepStrictEqual(
    autoCompactionRetention({ autoCompactionRetention: "30m", autoCompactionMode: "periodic" }),
    {
      mode: "periodic",
      periodMs: 30 * 60 * 1000,
    },
  );
  deepStrictEqual(
    autoCompactionRetention({ autoCompactionRetention: "100", autoCompactionMode: "revision" }),
    {
      mode: "revision",
      revisions: 100,
    },
  );
});

Deno.test("etcd 0.4's ignored flags warn, take no argument, and change nothing", () => {
  const command = parseCommandLine(["--force", "--name", "n1", "--peer-heartbeat-interval=5"]);
  equal(command.kind, "serve");
  if (command.kind !== "serve") return;
  equal(command.config.name, "n1");
  ok(command.warnings.includes('flag "-force" is no longer supported - ignoring.'));
  ok(
    command.warnings.includes('flag "-peer-heartbeat-interval" is no longer supported - ignoring.'),
  );
});

Deno.test("a flag detcd does not implement is refused (exit 2) unless given its default", () => {
  for (
    const [args, env] of [
      [["--experimental-enable-v2v3=/v2/"], {}],
      [[], { ETCD_EXPERIMENTAL_ENABLE_V2V3: "/v2/" }],
      [["--log-package-levels=etcdmain=DEBUG"], {}],
    ] as [string[], Record<string, string>][]
  ) {
    try {
      parseCommandLine(args, { env });
      throw new Error(`accepted ${args} ${JSON.stringify(env)}`);
    } catch (error) {
      ok(error instanceof ConfigError, String(error));
      equal(error.exitCode, 2);
      ok(
        /--(experimental-enable-v2v3|log-package-levels) is not supported by detcd/
          .test(error.message),
        error.message,
      );
    }
  }
  for (
    const args of [["--enable-v2=false"], ["--experimental-enable-lease-checkpoint=false"], [
      "--experimental-corrupt-check-time=0",
    ]]
  ) {
    equal(parseCommandLine(args).kind, "serve", args.join(" "));
  }
});

Deno.test("lease checkpoint flags: etcd's warning without -persist, -persist alone refused", () => {
  const warning =
    "Detected that checkpointing is enabled without persistence. Consider enabling experimental-enable-lease-checkpoint-persist";
  const plain = parseCommandLine([]);
  ok(plain.kind === "serve" && !plain.config.experimentalEnableLeaseCheckpoint);
  ok(!plain.warnings.includes(warning));
  const alone = parseCommandLine(["--experimental-enable-lease-checkpoint"]);
  ok(alone.kind === "serve" && alone.config.experimentalEnableLeaseCheckpoint);
  ok(!alone.config.experimentalEnableLeaseCheckpointPersist);
  ok(alone.warnings.includes(warning), JSON.stringify(alone.warnings));
  const both = parseCommandLine([], {
    env: {
      ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT: "true",
      ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT_PERSIST: "true",
    },
  });
  ok(both.kind === "serve" && both.config.experimentalEnableLeaseCheckpointPersist);
  ok(!both.warnings.includes(warning));
  try {
    parseCommandLine(["--experimental-enable-lease-checkpoint-persist"]);
    throw new Error("accepted -persist alone");
  } catch (error) {
    ok(error instanceof ConfigError, String(error));
    equal(error.exitCode, 2);
    equal(
      error.message,
      "error verifying flags, setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint. See 'etcd --help'.",
    );
  }
});

Deno.test("--enable-v2 and ETCD_ENABLE_V2 turn the v2 API on", () => {
  for (
    const [args, env] of [[["--enable-v2"], {}], [[], { ETCD_ENABLE_V2: "true" }]] as [
      string[],
      Record<string, string>,
    ][]
  ) {
    const command = parseCommandLine(args, { env });
    ok(command.kind === "serve" && command.config.enableV2, JSON.stringify({ args, env }));
  }
});

Deno.test("parseCommandLine() refuses --grpc-keepalive-min-time under the grpc-js transport, exit 2", () => {
  const env = { DETCD_GRPC_TRANSPORT: "grpc-js" };
  const error = _configError(["--grpc-keepalive-min-time=10s"], env);
  strictEqual(error.exitCode, 2);
  ok(error.message.includes("--grpc-keepalive-min-time=10s: the grpc-js transport"), error.message);
  // etcd's default is accepted there, and any value with the native transport.
  strictEqual(parseCommandLine([], { env }).kind, "serve");
  strictEqual(parseCommandLine(["--grpc-keepalive-min-time=10s"]).kind, "serve");
});
