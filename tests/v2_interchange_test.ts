/**
 * v2 data moves between the real etcd and detcd in a data dir, both ways, through the WAL
 * alone and through a `.snap` (the v2 store's JSON); and `ETCDCTL_API=2 etcdctl` drives
 * detcd's v2 API (set, get, mk, mkdir, rm, rmdir, ls, update, updatedir, watch).
 *
 * Goal: an operator who moves a data dir with v2 keys (values, directories, in-order keys,
 * TTLs) from etcd 3.4 to detcd, or back, finds them all, at the same indexes. Method: the
 * writer runs etcdctl v2 commands and stops; the reader opens the same dir with --enable-v2
 * and lists everything recursively; the listings (modulo the TTL countdown) must be equal.
 * `--snapshot-count 5` makes the writer cut `.snap` files, so the reader recovers the store
 * from the snapshot JSON and replays the entries after it.
 * Ports 25010-25015.
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { type Impl, run, type RunResult, startMember } from "./_harness.ts";

function v2ctl(endpoint: string, args: string[], timeoutMs = 10_000): Promise<RunResult> {
  return run("/usr/bin/etcdctl", ["--endpoints", `http://${endpoint}`, ...args], {
    env: { ETCDCTL_API: "2" },
    timeoutMs,
  });
}

async function ok2(endpoint: string, args: string[]): Promise<string> {
  const r = await v2ctl(endpoint, args);
  equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Writes a bit of everything with etcdctl v2. */
async function writeV2(endpoint: string): Promise<void> {
  await ok2(endpoint, ["set", "/app/name", "demo"]);
  await ok2(endpoint, ["mkdir", "/app/conf"]);
  await ok2(endpoint, ["set", "/app/conf/port", "8080"]);
  await ok2(endpoint, ["mk", "/app/conf/host", "h1"]);
  await ok2(endpoint, ["update", "/app/conf/host", "h2"]);
  await ok2(endpoint, ["set", "--ttl", "3600", "/app/session", "s"]);
  await ok2(endpoint, ["mk", "--in-order", "/queue", "job1"]);
  await ok2(endpoint, ["mk", "--in-order", "/queue", "job2"]);
  await ok2(endpoint, ["set", "/gone", "x"]);
  await ok2(endpoint, ["rm", "/gone"]);
}

/** Everything under `/`, sorted, as JSON, with the TTL countdown masked. */
async function listing(endpoint: string): Promise<unknown> {
  const response = await fetch(`http://${endpoint}/v2/keys/?recursive=true&sorted=true`);
  const text = (await response.text()).replace(/"ttl":\d+/g, `"ttl":"<ttl>"`);
  return { index: response.headers.get("x-etcd-index"), body: JSON.parse(text) };
}

async function move(writer: Impl, reader: Impl, port: number, snapshotCount: number) {
  const dataDir = `${await Deno.makeTempDir({ prefix: "detcd-v2-move-" })}/data`;
  const extraArgs = ["--enable-v2", "--snapshot-count", String(snapshotCount)];
  try {
    const first = await startMember({
      impl: writer,
      clientPort: port,
      peerPort: port + 1,
      dataDir,
      extraArgs,
    });
    let before: unknown;
    try {
      await writeV2(first.endpoint);
      before = await listing(first.endpoint);
    } finally {
      await first.stop();
    }
    const snaps = [...Deno.readDirSync(`${dataDir}/member/snap`)].filter((e) =>
      e.name.endsWith(".snap")
    );
    if (snapshotCount < 100) ok(snaps.length > 0, `${writer} cut no .snap`);
    const second = await startMember({
      impl: reader,
      clientPort: port,
      peerPort: port + 1,
      dataDir,
      extraArgs,
    });
    try {
      const after = await listing(second.endpoint);
      // The reader's own start adds membership writes (publish) to /0: compare /1 only.
      deepStrictEqual(
        (after as { body: unknown }).body,
        (before as { body: unknown }).body,
        `${writer} -> ${reader}`,
      );
      equal(await ok2(second.endpoint, ["get", "/app/conf/host"]), "h2\n");
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dataDir.replace(/\/data$/, ""), { recursive: true });
  }
}

Deno.test("v2 keys written by etcd survive under detcd (WAL only, and through a .snap)", async () => {
  await move("etcd", "detcd", 25010, 10_000);
  await move("etcd", "detcd", 25010, 5);
});

Deno.test("v2 keys written by detcd survive under etcd (WAL only, and through a .snap)", async () => {
  await move("detcd", "etcd", 25012, 10_000);
  await move("detcd", "etcd", 25012, 5);
});

Deno.test("ETCDCTL_API=2 etcdctl drives detcd's v2 keys", async () => {
  const member = await startMember({
    impl: "detcd",
    clientPort: 25014,
    peerPort: 25015,
    extraArgs: ["--enable-v2"],
  });
  const ep = member.endpoint;
  try {
    equal(await ok2(ep, ["set", "/foo", "bar"]), "bar\n");
    equal(await ok2(ep, ["get", "/foo"]), "bar\n");
    const mkAgain = await v2ctl(ep, ["mk", "/foo", "x"]);
    ok(mkAgain.code !== 0 && mkAgain.stderr.includes("Key already exists"), mkAgain.stderr);
    equal(await ok2(ep, ["update", "/foo", "baz"]), "baz\n");
    await ok2(ep, ["mkdir", "/d"]);
    await ok2(ep, ["updatedir", "--ttl", "100", "/d"]);
    await ok2(ep, ["set", "/d/x", "1"]);
    const ls = (await ok2(ep, ["ls", "--recursive", "--sort", "/"])).trim().split("\n");
    deepStrictEqual(ls, ["/d", "/d/x", "/foo"]);
    const rmdir = await v2ctl(ep, ["rmdir", "/d"]);
    ok(rmdir.code !== 0 && rmdir.stderr.includes("Directory not empty"), rmdir.stderr);
    await ok2(ep, ["rm", "/d/x"]);
    await ok2(ep, ["rmdir", "/d"]);
    const swap = await v2ctl(ep, ["set", "--swap-with-value", "nope", "/foo", "q"]);
    ok(swap.code !== 0 && swap.stderr.includes("Compare failed"), swap.stderr);
    // A watch answered by a later write.
    const watch = v2ctl(ep, ["watch", "/foo"], 15_000);
    await new Promise((resolve) => setTimeout(resolve, 700));
    await ok2(ep, ["set", "/foo", "watched"]);
    const watched = await watch;
    equal(watched.code, 0, watched.stderr);
    equal(watched.stdout, "watched\n");
    const get = await v2ctl(ep, ["get", "/nothing"]);
    ok(get.code !== 0 && get.stderr.includes("Key not found"), get.stderr);
  } finally {
    await member.stop();
  }
});
