// Goal: the deployment material in deploy/ is valid for the tools that consume it, and
// consistent with detcd: systemd accepts the unit (`systemd-analyze verify`), Prometheus
// accepts its config (`promtool check config`), the compose file is a valid compose file
// (`docker compose config` where docker has compose, else a structural schema check), every
// member's ETCD_* environment there and in deploy/detcd.env is a configuration detcd starts
// with, and the Grafana dashboard holds every query of etcd's sample dashboard.
// Method: the tools run on the files as they are (the unit's ExecStart is pointed at an
// executable that exists, nothing else changes); the environments go through detcd's own
// flag parser. No server is started.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { parseCommandLine, verifyBootstrap } from "../server/mod.ts";
import { REPO_ROOT, run } from "./_harness.ts";
import { SAMPLE_DASHBOARD_QUERIES } from "./_sample_dashboard.ts";

const _DEPLOY = `${REPO_ROOT}/deploy`;

async function _which(command: string): Promise<string | undefined> {
  const result = await run("/bin/sh", ["-c", `command -v ${command}`], {
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  });
  return result.code === 0 ? result.stdout.trim() : undefined;
}

const _systemdAnalyze = await _which("systemd-analyze");
const _promtool = await _which("promtool");

Deno.test({
  name: "deploy/detcd.service passes systemd-analyze verify",
  ignore: _systemdAnalyze === undefined,
  async fn() {
    const unit = await Deno.readTextFile(`${_DEPLOY}/detcd.service`);
    for (
      const line of [
        "Type=notify",
        "Restart=on-failure",
        "LimitNOFILE=40000",
        "EnvironmentFile=/etc/detcd/detcd.env",
        "User=detcd",
        "StateDirectory=detcd",
      ]
    ) {
      ok(unit.split("\n").includes(line), `the unit has ${line}`);
    }
    // verify checks that ExecStart exists: point it at a launcher of this checkout.
    const dir = await Deno.makeTempDir({ prefix: "detcd-unit-" });
    try {
      const launcher = `${dir}/detcd`;
      await Deno.writeTextFile(
        launcher,
        `#!/bin/sh\nexec ${Deno.execPath()} run --allow-all ${REPO_ROOT}/main.ts "$@"\n`,
      );
      await Deno.chmod(launcher, 0o755);
      const edited = unit.replace("ExecStart=/usr/local/bin/detcd", `ExecStart=${launcher}`);
      equal(edited.split("\n").filter((line, i) => line !== unit.split("\n")[i]).length, 1);
      await Deno.writeTextFile(`${dir}/detcd.service`, edited);
      const result = await run(_systemdAnalyze!, ["verify", `${dir}/detcd.service`], {
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", SYSTEMD_LOG_LEVEL: "notice" },
      });
      equal(result.code, 0, result.stdout + result.stderr);
      equal(result.stderr.trim(), "", "no warnings");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "systemd-analyze is installed (the unit check above needs it)",
  ignore: _systemdAnalyze !== undefined,
  fn() {
    console.warn("SKIPPED: systemd-analyze is missing; apt-get install systemd to check the unit");
  },
});

/** Reads an EnvironmentFile: KEY=value lines, # comments. */
function _envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const equals = trimmed.indexOf("=");
    ok(equals > 0, `KEY=value: ${line}`);
    env[trimmed.slice(0, equals)] = trimmed.slice(equals + 1);
  }
  return env;
}

/** detcd's own parser accepts `env` and the bootstrap is consistent. */
function _checkEnv(env: Record<string, string>, where: string): void {
  for (const key of Object.keys(env)) ok(key.startsWith("ETCD_"), `${where}: ${key} is ETCD_*`);
  const command = parseCommandLine([], { env });
  equal(command.kind, "serve", where);
  if (command.kind !== "serve") return;
  equal(verifyBootstrap(command.config), undefined, `${where}: bootstrap`);
  deepStrictEqual(
    command.warnings.filter((warning) => !warning.includes("capnslog")),
    [],
    `${where}: no warnings`,
  );
}

Deno.test("deploy/detcd.env is a configuration detcd starts with", async () => {
  const env = _envFile(await Deno.readTextFile(`${_DEPLOY}/detcd.env`));
  _checkEnv(env, "detcd.env");
  ok(env.ETCD_LISTEN_METRICS_URLS !== undefined, "a metrics listener for Prometheus");
});

Deno.test({
  name: "promtool check config accepts deploy/prometheus.yml",
  ignore: _promtool === undefined,
  async fn() {
    const result = await run(_promtool!, ["check", "config", `${_DEPLOY}/prometheus.yml`]);
    equal(result.code, 0, result.stdout + result.stderr);
    ok(result.stdout.includes("SUCCESS"), result.stdout);
  },
});

// deno-lint-ignore no-explicit-any
type _Yaml = any;

const _COMPOSE_TOP = new Set(["name", "services", "volumes", "networks", "configs", "secrets"]);
const _SERVICE_KEYS = new Set([
  "build",
  "image",
  "restart",
  "ulimits",
  "environment",
  "hostname",
  "ports",
  "volumes",
  "command",
  "depends_on",
]);

Deno.test("deploy/docker-compose.yml: a 3-member detcd, Prometheus and Grafana", async () => {
  const text = await Deno.readTextFile(`${_DEPLOY}/docker-compose.yml`);
  const docker = await _which("docker");
  if (docker !== undefined) {
    const version = await run(docker, ["compose", "version"]);
    if (version.code === 0) {
      const config = await run(docker, [
        "compose",
        "-f",
        `${_DEPLOY}/docker-compose.yml`,
        "config",
        "-q",
      ]);
      equal(config.code, 0, config.stderr);
    } else {
      console.warn("docker has no compose plugin here: checking the compose file's structure");
    }
  }
  const compose: _Yaml = parseYaml(text, { merge: true });
  for (const key of Object.keys(compose)) {
    ok(_COMPOSE_TOP.has(key) || key.startsWith("x-"), `top-level key ${key}`);
  }
  const services: Record<string, _Yaml> = compose.services;
  deepStrictEqual(Object.keys(services).sort(), [
    "detcd1",
    "detcd2",
    "detcd3",
    "grafana",
    "prometheus",
  ]);
  for (const [name, service] of Object.entries(services)) {
    for (const key of Object.keys(service)) ok(_SERVICE_KEYS.has(key), `${name}: key ${key}`);
    ok(typeof service.image === "string", `${name}: image`);
    for (const volume of service.volumes ?? []) {
      const source = String(volume).split(":")[0]!;
      if (source.startsWith(".")) {
        await Deno.stat(`${_DEPLOY}/${source}`); // a bind mount of a file of deploy/
      } else {
        ok(source in (compose.volumes ?? {}), `${name}: named volume ${source} is declared`);
      }
    }
    for (const dependency of service.depends_on ?? []) ok(dependency in services, dependency);
  }
  const scraped: string[] = [];
  const prometheus: _Yaml = parseYaml(await Deno.readTextFile(`${_DEPLOY}/prometheus.yml`));
  for (const job of prometheus.scrape_configs) {
    for (const target of job.static_configs) scraped.push(...target.targets);
  }
  for (const name of ["detcd1", "detcd2", "detcd3"]) {
    const service = services[name];
    equal(service.build.context, "..");
    await Deno.stat(`${_DEPLOY}/../${service.build.dockerfile}`);
    const env: Record<string, string> = service.environment;
    _checkEnv(env, `compose ${name}`);
    const metricsPort = new URL(env.ETCD_LISTEN_METRICS_URLS!).port;
    ok(scraped.includes(`${name}:${metricsPort}`), `prometheus scrapes ${name}:${metricsPort}`);
  }
  const grafana = services.grafana;
  ok(grafana.volumes.some((volume: string) => volume.startsWith("./grafana/provisioning:")));
});

Deno.test("the Grafana dashboard holds every query of etcd's sample dashboard", async () => {
  const dashboard: _Yaml = JSON.parse(
    await Deno.readTextFile(`${_DEPLOY}/grafana/dashboards/detcd.json`),
  );
  const expressions: string[] = [];
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      expressions.push(target.expr);
      equal(target.datasource.uid, "detcd-prometheus", `${panel.title}: the provisioned source`);
    }
  }
  for (const query of SAMPLE_DASHBOARD_QUERIES) {
    ok(expressions.includes(query.expr), `${query.panel}: ${query.expr}`);
  }
  for (
    const own of ["detcd_backend_freelist_spans", "detcd_backend_pages"]
  ) {
    ok(expressions.some((expr) => expr.includes(own)), `a panel of ${own}`);
  }
  const datasource: _Yaml = parseYaml(
    await Deno.readTextFile(`${_DEPLOY}/grafana/provisioning/datasources/prometheus.yml`),
  );
  equal(datasource.datasources[0].uid, "detcd-prometheus");
  const provider: _Yaml = parseYaml(
    await Deno.readTextFile(`${_DEPLOY}/grafana/provisioning/dashboards/detcd.yml`),
  );
  equal(provider.providers[0].options.path, "/var/lib/grafana/dashboards");
});

Deno.test({
  name: "every query of the Grafana dashboard is valid PromQL (promtool check rules)",
  ignore: _promtool === undefined,
  async fn() {
    const dashboard: _Yaml = JSON.parse(
      await Deno.readTextFile(`${_DEPLOY}/grafana/dashboards/detcd.json`),
    );
    const expressions: string[] = dashboard.panels.flatMap((panel: _Yaml) =>
      (panel.targets ?? []).map((target: _Yaml) => target.expr as string)
    );
    ok(expressions.length >= SAMPLE_DASHBOARD_QUERIES.length);
    // Each query as a recording rule: promtool parses and checks every expression.
    const rules = {
      groups: [{
        name: "dashboard",
        rules: expressions.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })),
      }],
    };
    const dir = await Deno.makeTempDir({ prefix: "detcd-rules-" });
    try {
      await Deno.writeTextFile(`${dir}/rules.json`, JSON.stringify(rules));
      const result = await run(_promtool!, ["check", "rules", `${dir}/rules.json`]);
      equal(result.code, 0, result.stdout + result.stderr);
      ok(result.stdout.includes(`SUCCESS: ${expressions.length} rules found`), result.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
