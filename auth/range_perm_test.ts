// Goal: the merged permissions answer etcd's two questions (a key, a range) exactly as its
// interval tree does: point grants, ranges, prefixes, from-key grants, contiguous unions and
// gaps. Method: table tests over UnifiedPermissions built from authpb roles.
import { strictEqual } from "node:assert/strict";
import { authpb } from "../etcdserverpb/mod.ts";
import { IntervalSet, UnifiedPermissions } from "./range_perm.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const READ = authpb.Permission.Type.READ;
const WRITE = authpb.Permission.Type.WRITE;
const READWRITE = authpb.Permission.Type.READWRITE;

function perms(...list: [string, string, number][]): UnifiedPermissions {
  const merged = new UnifiedPermissions();
  merged.addRole({
    name: enc("r"),
    keyPermission: list.map(([key, end, permType]) => ({
      key: enc(key),
      rangeEnd: end === "\0" ? Uint8Array.of(0) : enc(end),
      permType,
    })),
  });
  return merged;
}

Deno.test("a single-key grant permits that key only", () => {
  const p = perms(["a", "", READ]);
  strictEqual(p.permits(enc("a"), enc(""), false), true);
  strictEqual(p.permits(enc("a"), enc(""), true), false);
  strictEqual(p.permits(enc("ab"), enc(""), false), false);
  strictEqual(p.permits(enc("a"), enc("b"), false), false, "a range is not a key");
});

Deno.test("a prefix grant covers keys and sub-ranges under it, not past it", () => {
  const p = perms(["foo", "fop", READWRITE]);
  strictEqual(p.permits(enc("foo"), enc(""), true), true);
  strictEqual(p.permits(enc("foo/x"), enc(""), false), true);
  strictEqual(p.permits(enc("foo"), enc("fop"), false), true);
  strictEqual(p.permits(enc("foo/a"), enc("foo/b"), true), true);
  strictEqual(p.permits(enc("foo"), enc("foq"), false), false);
  strictEqual(p.permits(enc("fo"), enc("fop"), false), false);
  strictEqual(p.permits(enc("fop"), enc(""), false), false);
});

Deno.test("a from-key grant is unbounded; a from-key request needs one", () => {
  const p = perms(["m", "\0", WRITE]);
  strictEqual(p.permits(enc("zzz"), enc(""), true), true);
  strictEqual(p.permits(enc("m"), Uint8Array.of(0), true), true);
  strictEqual(p.permits(enc("l"), enc(""), true), false);
  strictEqual(p.permits(enc("m"), enc(""), false), false, "write only");
  const bounded = perms(["m", "z", WRITE]);
  strictEqual(bounded.permits(enc("m"), Uint8Array.of(0), true), false);
});

Deno.test("adjacent grants cover a range together; a gap does not", () => {
  const p = perms(["a", "c", READ], ["c", "e", READ]);
  strictEqual(p.permits(enc("b"), enc("d"), false), true);
  const gap = perms(["a", "c", READ], ["d", "f", READ]);
  strictEqual(gap.permits(enc("b"), enc("e"), false), false);
  strictEqual(gap.permits(enc("d"), enc("e"), false), true);
});

Deno.test("READ and WRITE grants stay separate; READWRITE gives both", () => {
  const p = perms(["r", "", READ], ["w", "", WRITE], ["b", "", READWRITE]);
  strictEqual(p.permits(enc("r"), enc(""), true), false);
  strictEqual(p.permits(enc("w"), enc(""), false), false);
  strictEqual(p.permits(enc("b"), enc(""), false), true);
  strictEqual(p.permits(enc("b"), enc(""), true), true);
});

Deno.test("holds(key) answers as intersects() with the point interval [key, key+\\0)", () => {
  // Goal: the single-key check that builds no point end agrees with the interval overlap it
  // replaces. Method: random intervals and keys over a 3-letter alphabet with \0 (short keys
  // make bounds meet often), empty ends (unbounded) included, seeded for replay.
  let seed = 12345;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const word = () => Uint8Array.from({ length: next(4) }, () => [0, 97, 98][next(3)]!);
  for (let trial = 0; trial < 2000; trial++) {
    const set = new IntervalSet();
    for (let n = next(4); n > 0; n--) set.insert({ begin: word(), end: word() });
    const key = word();
    const end = new Uint8Array(key.length + 1);
    end.set(key);
    strictEqual(set.holds(key), set.intersects({ begin: key, end }), `trial ${trial}`);
  }
});
