/**
 * Bad input: a truncated file, bad magic, bad checksums on both metas, a page id past the end
 * of the file. Each must make open fail with an error naming the file and the problem, and
 * the file must be left byte for byte as it was (open never rewrites what it cannot read).
 * One damaged meta alone is not fatal: bbolt falls back to the other, and so do we.
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { DB } from "../backend/mod.ts";

const encoder = new TextEncoder();

function makeDb(path: string): void {
  const db = DB.open(path, { noFreelistSync: false });
  db.update((tx) => {
    const key = tx.createBucket(encoder.encode("key"));
    for (let i = 0; i < 3000; i++) {
      key.put(encoder.encode(`k${i}`), new Uint8Array(50).fill(i & 255));
    }
    tx.createBucket(encoder.encode("meta")).put(
      encoder.encode("consistent_index"),
      new Uint8Array(8),
    );
  });
  db.update((tx) =>
    tx.bucket(encoder.encode("key"))!.put(encoder.encode("x"), encoder.encode("y"))
  );
  db.close();
}

/** FNV-1a 64 over the 56 meta bytes, to forge a meta that passes its checksum. */
function fnv(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of bytes) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

function setMetaField(file: Uint8Array, metaPage: number, offset: number, value: bigint): void {
  const base = metaPage * 4096 + 16;
  const dv = new DataView(file.buffer);
  dv.setBigUint64(base + offset, value, true);
  dv.setBigUint64(base + 56, fnv(file.subarray(base, base + 56)), true);
}

function expectOpenFails(name: string, corrupt: (file: Uint8Array) => Uint8Array, wants: string[]) {
  Deno.test(`open fails cleanly on ${name} and leaves the file untouched`, () => {
    const dir = Deno.makeTempDirSync({ prefix: "detcd-backend-bad-" });
    try {
      const path = `${dir}/db`;
      makeDb(path);
      Deno.writeFileSync(path, corrupt(Deno.readFileSync(path)));
      const before = Deno.readFileSync(path);
      for (const noFreelistSync of [false, true]) {
        let message = "";
        try {
          DB.open(path, { noFreelistSync }).close();
        } catch (error) {
          message = (error as Error).message;
        }
        ok(message.startsWith(path + ": "), `error names the file: "${message}"`);
        for (const want of wants) ok(message.includes(want), `"${message}" mentions "${want}"`);
      }
      deepStrictEqual(Deno.readFileSync(path), before, "the file is unchanged");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

expectOpenFails("a file truncated to 100 bytes", (f) => f.slice(0, 100), [
  "truncated",
  "100 bytes",
]);
expectOpenFails("a file truncated in the middle of its pages", (f) => f.slice(0, 4096 * 20), [
  "truncated",
  "high-water page",
]);
expectOpenFails("bad magic in both metas", (f) => {
  f[16] = f[16]! ^ 0xff;
  f[4096 + 16] = f[4096 + 16]! ^ 0xff;
  return f;
}, ["invalid database", "meta page 0", "meta page 1", "bad magic"]);
expectOpenFails("bad checksums in both metas", (f) => {
  f[16 + 16] = f[16 + 16]! ^ 0x01; // a bit of the root pgid of meta 0
  f[4096 + 16 + 48] = f[4096 + 16 + 48]! ^ 0x01; // a bit of the txid of meta 1
  return f;
}, ["invalid database", "checksum error"]);
expectOpenFails("a version other than 2", (f) => {
  setMetaField(f, 0, 0, 0x3ed0cdaedn); // version 3 next to the magic
  setMetaField(f, 1, 0, 0x3ed0cdaedn);
  return f;
}, ["version mismatch"]);
expectOpenFails("a root page id past the end of the file", (f) => {
  setMetaField(f, 0, 16, 1000000n);
  setMetaField(f, 1, 16, 1000000n);
  return f;
}, ["page 1000000", "high-water mark"]);
expectOpenFails("a bucket whose root page id is past the end of the file", (f) => {
  // Find the "key" bucket's value in the root leaf and point its root far away.
  const dv = new DataView(f.buffer);
  const meta = f[4096 + 16 + 48]! > f[16 + 48]! ? 1 : 0;
  const root = Number(dv.getBigUint64(meta * 4096 + 16 + 16, true));
  const page = root * 4096;
  for (let i = 0; i < dv.getUint16(page + 10, true); i++) {
    const elem = page + 16 + i * 16;
    const keyAt = elem + dv.getUint32(elem + 4, true);
    const key = new TextDecoder().decode(f.subarray(keyAt, keyAt + dv.getUint32(elem + 8, true)));
    if (key === "key") dv.setBigUint64(keyAt + 3, 5000000n, true);
  }
  return f;
}, ["page 5000000", "past"]);

Deno.test("one damaged meta is not fatal: open falls back to the other", () => {
  const dir = Deno.makeTempDirSync({ prefix: "detcd-backend-bad-" });
  try {
    const path = `${dir}/db`;
    makeDb(path);
    const file = Deno.readFileSync(path);
    const newest = file[4096 + 16 + 48]! > file[16 + 48]! ? 1 : 0;
    file[newest * 4096 + 16 + 24] = file[newest * 4096 + 16 + 24]! ^ 0x40; // break the newest meta's checksum
    Deno.writeFileSync(path, file);
    const db = DB.open(path, { readOnly: true });
    try {
      // The older meta (the commit before "x" was put) is the one in use.
      deepStrictEqual(
        db.view((tx) => tx.bucket(encoder.encode("key"))!.get(encoder.encode("x"))),
        undefined,
      );
      ok(
        db.view((tx) => tx.bucket(encoder.encode("key"))!.get(encoder.encode("k5"))) !== undefined,
      );
    } finally {
      db.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
