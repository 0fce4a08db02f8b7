/**
 * Regenerates `etcdserverpb/gen/etcd.js` and `etcdserverpb/gen/etcd.d.ts` from the `.proto` files in
 * `etcdserverpb/proto/` with protobufjs-cli (static code, no reflection, nothing read at run time).
 *
 * Run as `deno task gen:proto`. The generated files are committed, so a build never needs
 * this script.
 *
 * protobufjs-cli runs jsdoc to write the `.d.ts`, and jsdoc's module loader needs a real
 * `node_modules` folder; the repository runs with `nodeModulesDir: none`, so the generator
 * runs from a temporary folder with a config of its own.
 *
 * @module
 */

import protobuf from "protobufjs";

/** Pinned generator; keep its protobufjs peer equal to the runtime pin in deno.json. */
const PBJS = "npm:protobufjs-cli@2.7.1/pbjs";

/** Every .proto file, relative to etcdserverpb/proto/, in one generated module (they cross-reference). */
const PROTO_FILES = [
  "etcdserverpb/rpc.proto",
  "etcdserverpb/raft_internal.proto",
  "etcdserverpb/etcdserver.proto",
  "mvccpb/kv.proto",
  "authpb/auth.proto",
  "leasepb/lease.proto",
  "v3electionpb/v3election.proto",
  "v3lockpb/v3lock.proto",
];

const moduleDir = new URL(".", import.meta.url).pathname;
const protoDir = `${moduleDir}proto`;
const genDir = `${moduleDir}gen`;

async function main(): Promise<void> {
  const workDir = await Deno.makeTempDir({ prefix: "detcd_gen_proto_" });
  try {
    await Deno.writeTextFile(`${workDir}/deno.json`, JSON.stringify({ nodeModulesDir: "auto" }));
    const outJs = `${workDir}/etcd.js`;
    const args = [
      "run",
      "--allow-all",
      PBJS,
      "--target=static-module",
      "--wrap=esm",
      // Every 64-bit field is a Long, never a number that may have lost precision.
      "--force-long",
      // A root of our own, so that another protobufjs user in the process cannot collide.
      "--root=detcd",
      "--no-service",
      "--no-delimited",
      "--no-typeurl",
      // Nothing calls a message type's `verify`: without it the code is 12% smaller.
      "--no-verify",
      "--dts",
      `--path=${protoDir}`,
      `--out=${outJs}`,
      ...PROTO_FILES,
    ];
    const result = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: workDir,
      env: { NO_COLOR: "1" },
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!result.success) throw new Error(`pbjs failed with exit code ${result.code}`);

    const js = await Deno.readTextFile(outJs);
    const dts = await Deno.readTextFile(`${workDir}/etcd.d.ts`);
    await Deno.mkdir(genDir, { recursive: true });
    // The declarations are written from the doc comments; the code then goes without them.
    const code = _stripIndentation(_stripDocComments(js));
    await Deno.writeTextFile(`${genDir}/etcd.js`, _patchJs(code));
    await Deno.writeTextFile(`${genDir}/etcd.d.ts`, _patchDts(dts));
    const names = JSON.stringify(await _jsonNames(), null, 1);
    await Deno.writeTextFile(`${genDir}/json_names.json`, names + "\n");
    console.log(`wrote ${genDir}/etcd.js, etcd.d.ts and json_names.json`);
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
}

/**
 * Removes pbjs's JSDoc blocks (`/** ... *\/` on lines of their own) from the generated code.
 * They are a third of its 1.7 MB, and a module's text is held twice for as long as the process
 * runs (by Deno and as V8's source string): about 1.2 MB of every member's idle memory
 * (docs/memory.md, 2026-12-07 round 4). `etcd.d.ts`, which pbjs builds from them, keeps them.
 * Throws on any comment that does not have the shape pbjs writes, rather than guess.
 */
function _stripDocComments(js: string): string {
  const kept: string[] = [];
  let inBlock = false;
  for (const line of js.split("\n")) {
    const text = line.trim();
    if (!inBlock && text.startsWith("/**")) {
      inBlock = !text.endsWith("*/") || text === "/**";
      continue;
    }
    if (inBlock) {
      if (!text.startsWith("*")) throw new Error(`pbjs output: unexpected comment line ${line}`);
      if (text.endsWith("*/")) inBlock = false;
      continue;
    }
    if (text.includes("/**")) throw new Error(`pbjs output: a doc comment inside code: ${line}`);
    kept.push(line);
  }
  if (inBlock) throw new Error("pbjs output: a doc comment does not end");
  return kept.join("\n");
}

/**
 * Removes the indentation of every line of the generated code: 0.32 of its 1.1 MB, held twice
 * for the life of every process, as the doc comments were (docs/memory.md, round 5). Leading
 * white space means something in JavaScript only inside a template literal or a string
 * continued on the next line; pbjs writes neither, and this throws if it ever does.
 */
function _stripIndentation(js: string): string {
  if (js.includes("`")) throw new Error("pbjs output: a template literal");
  const lines = js.split("\n");
  if (lines.some((line) => line.endsWith("\\"))) {
    throw new Error("pbjs output: a line continued with a backslash");
  }
  return lines.map((line) => line.trimStart()).join("\n");
}

/** Points `deno check` at the declarations and the import at the pinned runtime. */
function _patchJs(js: string): string {
  const importLine = 'import $protobuf from "protobufjs/minimal.js";';
  if (!js.includes(importLine)) throw new Error("pbjs output: runtime import not found");
  return `// @ts-self-types="./etcd.d.ts"\n// Generated by etcdserverpb/gen_proto.ts; do not edit.\n` +
    js;
}

/** The CommonJS-style `import Long = require("long")` becomes an ES import. */
function _patchDts(dts: string): string {
  const requireLine = 'import Long = require("long");';
  if (!dts.includes(requireLine)) throw new Error("pbjs output: Long import not found");
  return "// Generated by etcdserverpb/gen_proto.ts; do not edit.\n" +
    dts.replace(requireLine, 'import type Long from "long";');
}

/**
 * For the JSON gateway: per message (full name), each field's generated (camelCase) name ->
 * [its .proto name, the full name of its message type or null, and for a 64-bit integer its
 * .proto type]. grpc-gateway prints the .proto names (`range_end`) and accepts both; the
 * gateway checks 64-bit integers as Go's JSON decoder does (protobufjs would take "abc" as 0).
 */
const _INT64_TYPES = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);

async function _jsonNames(): Promise<
  Record<string, Record<string, [string, string | null] | [string, string | null, string]>>
> {
  const root = new protobuf.Root();
  for (const file of PROTO_FILES) {
    const source = await Deno.readTextFile(`${protoDir}/${file}`);
    protobuf.parse(source.replace(/^import .*$/gm, ""), root, { keepCase: true });
  }
  root.resolveAll();
  const result: Record<
    string,
    Record<string, [string, string | null] | [string, string | null, string]>
  > = {};
  const visit = (namespace: protobuf.NamespaceBase): void => {
    for (const nested of namespace.nestedArray) {
      if (nested instanceof protobuf.Type) {
        const fields: Record<string, [string, string | null] | [string, string | null, string]> =
          {};
        for (const field of nested.fieldsArray) {
          const type = field.resolvedType instanceof protobuf.Type
            ? field.resolvedType.fullName.slice(1)
            : null;
          const entry: [string, string | null] | [string, string | null, string] =
            _INT64_TYPES.has(field.type) ? [field.name, type, field.type] : [field.name, type];
          fields[protobuf.util.camelCase(field.name)] = entry;
        }
        result[nested.fullName.slice(1)] = fields;
      }
      if (nested instanceof protobuf.Namespace) visit(nested);
    }
  };
  visit(root);
  return result;
}

if (import.meta.main) await main();
