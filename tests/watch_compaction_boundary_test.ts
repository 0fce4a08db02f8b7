// Goal: through a running detcd and the real etcdctl, a watch that starts at the compaction
// revision receives that revision's events, whatever it wrote (etcd issue #18089: etcd 3.4
// loses a delete there; detcd behaves as etcd 3.5.15+).
// Method: one member (ports 26540-26541); for a put, a delete and a transaction of several
// operations, each as the newest revision R: `etcdctl compact R` (with and without
// --physical), then `etcdctl watch --rev R` for a short while must print R's events, and
// `--rev R-1` must be refused as compacted.
import { ok } from "node:assert/strict";
import { ETCDCTL_BIN } from "./_harness.ts";
import { etcdctlOk, startDetcd } from "./_server_process.ts";

const ENDPOINT = "127.0.0.1:26540";

/**
 * `etcdctl watch` until its output contains `until` (or `ms` passed), then stopped; its whole
 * output.
 */
async function watchFor(
  args: string[],
  until: (text: string) => boolean,
  ms = 5000,
): Promise<string> {
  const child = new Deno.Command(ETCDCTL_BIN, {
    args: ["--endpoints", ENDPOINT, "watch", ...args],
    env: { ETCDCTL_API: "3" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const stop = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      if (until(text)) stop();
    }
  };
  const timer = setTimeout(stop, ms);
  await Promise.all([pump(child.stdout), pump(child.stderr), child.status]);
  clearTimeout(timer);
  return text;
}

/** The watch output's non-empty lines, keys without `prefix`. */
function lines(text: string, prefix: string): string[] {
  return text.split("\n").filter((l) => l !== "").map((l) => l.replace(prefix, ""));
}

async function revision(): Promise<number> {
  const out = await etcdctlOk(ENDPOINT, ["get", "x", "-w", "json"]);
  return Number(/"revision":(\d+)/.exec(out)![1]);
}

Deno.test({
  name: "etcdctl watch from the compaction revision gets a put, a delete and a txn there",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "detcd-watch-compact-" });
    const server = await startDetcd({ dataDir, clientPort: 26540, peerPort: 26541, fast: true });
    try {
      const cases: [string, (p: string) => Promise<void>, string[]][] = [
        ["put", (p) => etcdctlOk(ENDPOINT, ["put", `${p}a`, "3"]).then(() => {}), [
          "PUT",
          "a",
          "3",
        ]],
        ["delete", (p) => etcdctlOk(ENDPOINT, ["del", `${p}a`]).then(() => {}), ["DELETE", "a"]],
        [
          "txn",
          (p) =>
            etcdctlOk(ENDPOINT, ["txn"], `\nput ${p}a 4\ndel ${p}b\nput ${p}d 1\n\n\n`).then(
              () => {},
            ),
          ["PUT", "a", "4", "DELETE", "b", "PUT", "d", "1"],
        ],
      ];
      for (const physical of [false, true]) {
        for (const [kind, write, want] of cases) {
          const prefix = `${kind}-${physical}/`;
          for (const key of ["a", "b"]) await etcdctlOk(ENDPOINT, ["put", `${prefix}${key}`, "1"]);
          await write(prefix);
          const rev = await revision();
          await etcdctlOk(ENDPOINT, ["compact", String(rev), ...(physical ? ["--physical"] : [])]);
          const out = await watchFor(
            ["--prefix", prefix, "--rev", String(rev)],
            (text) => JSON.stringify(lines(text, prefix)) === JSON.stringify(want),
          );
          const got = JSON.stringify(lines(out, prefix));
          ok(got === JSON.stringify(want), `${kind} physical=${physical}: ${out}`);
          const refused = await watchFor(
            ["--prefix", prefix, "--rev", String(rev - 1)],
            (text) => text.includes("compacted"),
          );
          ok(refused.includes("required revision has been compacted"), refused);
        }
      }
    } finally {
      await server.kill();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
