// Goal: the v2 stats print what etcd's v2stats prints: Go's duration and time texts, rates
// over the last 200 requests that fall to zero (and are left out) a second after the newest,
// the follower latency mean and deviation, the leader change bookkeeping, and gogoproto's
// size of a MsgApp.
// Method: a fixed clock; sizes checked against the protobuf encoding of the same message.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { encodeMessage, EntryType, type Message, MessageType } from "../raft/mod.ts";
import { goDurationText, goTimeJson, messageSize, V2Stats } from "./v2_stats.ts";

Deno.test("goDurationText() prints Go's time.Duration.String()", () => {
  strictEqual(goDurationText(0), "0s");
  strictEqual(goDurationText(0.000_5), "500ns");
  strictEqual(goDurationText(0.0015), "1.5µs");
  strictEqual(goDurationText(309.814068), "309.814068ms");
  strictEqual(goDurationText(2663.457275), "2.663457275s");
  strictEqual(goDurationText(62_500), "1m2.5s");
  strictEqual(goDurationText(3_600_000 + 120_000 + 4_000), "1h2m4s");
});

Deno.test("goTimeJson() prints RFC 3339 with the trailing zeros of the fraction dropped", () => {
  strictEqual(
    goTimeJson(Date.UTC(2026, 11, 6, 23, 13, 37, 414) + 0.928),
    "2026-12-06T23:13:37.414928Z",
  );
  strictEqual(goTimeJson(Date.UTC(2026, 0, 2, 3, 4, 5, 500)), "2026-01-02T03:04:05.5Z");
  strictEqual(goTimeJson(Date.UTC(2026, 0, 2, 3, 4, 5)), "2026-01-02T03:04:05Z");
});

Deno.test("V2Stats: self stats follow the leader and give rates only while appends flow", () => {
  let now = Date.UTC(2026, 0, 1);
  const stats = new V2Stats({ name: "m1", id: 0xabcn, now: () => now });
  const before = JSON.parse(stats.selfJson());
  deepStrictEqual(before.leaderInfo, {
    leader: "",
    uptime: "2562047h47m16.854775807s",
    startTime: "0001-01-01T00:00:00Z",
  });
  strictEqual(before.state, "StateFollower");
  for (let i = 0; i < 3; i++) {
    stats.recvAppendReq(0x10n, 100);
    now += 100;
  }
  const during = JSON.parse(stats.selfJson());
  strictEqual(during.recvAppendRequestCnt, 3);
  strictEqual(during.leaderInfo.leader, "10");
  strictEqual(during.leaderInfo.uptime, "300ms");
  // 3 requests over the 200 ms between the first and the last.
  strictEqual(during.recvPkgRate, 15);
  strictEqual(during.recvBandwidthRate, 1500);
  strictEqual("sendPkgRate" in during, false);
  now += 1500;
  const idle = JSON.parse(stats.selfJson());
  strictEqual("recvPkgRate" in idle, false);
  stats.becomeLeader();
  stats.sendAppendReq(50);
  const leading = JSON.parse(stats.selfJson());
  strictEqual(leading.state, "StateLeader");
  strictEqual(leading.leaderInfo.leader, "abc");
  strictEqual(leading.sendAppendRequestCnt, 1);
  deepStrictEqual(Object.keys(leading), [
    "name",
    "id",
    "state",
    "startTime",
    "leaderInfo",
    "recvAppendRequestCnt",
    "sendAppendRequestCnt",
  ]);
});

Deno.test("V2Stats: leader stats keep etcd's running mean and deviation per follower", () => {
  const stats = new V2Stats({ name: "m1", id: 1n, now: () => 0 });
  stats.keepFollowers([2n, 3n]);
  stats.succeeded(2n, 1);
  stats.succeeded(2n, 3);
  stats.failed(2n);
  stats.keepFollowers([2n]);
  const leader = JSON.parse(stats.leaderJson());
  deepStrictEqual(leader, {
    leader: "1",
    followers: {
      "2": {
        latency: { current: 3, average: 2, standardDeviation: 1, minimum: 1, maximum: 3 },
        counts: { fail: 1, success: 2 },
      },
    },
  });
  stats.keepFollowers([2n, 4n]);
  // A follower with no send yet starts at etcd's minimum of 1<<63.
  strictEqual(JSON.parse(stats.leaderJson()).followers["4"].latency.minimum, 2 ** 63);
});

Deno.test("messageSize() is the encoded size of a MsgApp", () => {
  const message: Message = {
    type: MessageType.MsgApp,
    to: 0xd68ee78f5ee71761n,
    from: 0x81cdb13a6f0776b5n,
    term: 2,
    logTerm: 2,
    index: 300,
    entries: [
      { term: 2, index: 301, type: EntryType.EntryNormal, data: new Uint8Array(200) },
      { term: 2, index: 302, type: EntryType.EntryNormal, data: new Uint8Array(3) },
    ],
    commit: 301,
    reject: false,
    rejectHint: 0,
  };
  strictEqual(messageSize(message), encodeMessage(message).length);
});
