import { deepStrictEqual } from "node:assert/strict";
import { memberDirs } from "./layout.ts";

Deno.test("memberDirs() lays out member/wal and member/snap; --wal-dir and --snap-dir move them", () => {
  deepStrictEqual(memberDirs({ dataDir: "/d" }), {
    memberDir: "/d/member",
    walDir: "/d/member/wal",
    snapDir: "/d/member/snap",
    dbDir: "/d/member/snap",
  });
  deepStrictEqual(memberDirs({ dataDir: "/d", walDir: "/fast/wal", snapDir: "/other/snap" }), {
    memberDir: "/d/member",
    walDir: "/fast/wal",
    snapDir: "/other/snap",
    dbDir: "/d/member/snap",
  });
  // An empty flag value means the default, as etcd treats --wal-dir="".
  deepStrictEqual(memberDirs({ dataDir: "d", walDir: "" }).walDir, "d/member/wal");
});
