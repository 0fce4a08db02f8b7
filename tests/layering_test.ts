// The layering test: every import of every non-test `.ts` file must follow the declared module
// graph (tests/layering_graph.ts) and go through the imported module's `mod.ts`. The unit
// tests feed the checker made-up files to prove it finds what it must and nothing else; the
// last test runs it over the real tree.

import { deepStrictEqual } from "node:assert/strict";
import {
  checkLayering,
  findCycle,
  type LayeringRules,
  scanImports,
  type SourceFile,
  undeclaredTargets,
} from "./layering.ts";
import { MODULE_GRAPH, surfaceOf } from "./layering_graph.ts";

const RULES: LayeringRules = { graph: MODULE_GRAPH, surfaceOf };

/** Generated code, checked by its generator rather than read here. */
const GENERATED_DIR = "etcdserverpb/gen/";

Deno.test("scanImports() finds every form of import and only those", () => {
  // Goal: each import form counts once, at the line of its keyword; imports written in
  // comments, strings and template text do not count. Method: one source with all of them.
  const source = [
    'import { a } from "./a.ts";', // 1
    'import type { B } from "./b.ts";', // 2
    "import {", // 3
    "  c,",
    "  type D,",
    '} from "./cd.ts";',
    'import * as e from "./e.ts";', // 7
    'import f, { g } from "./fg.ts";', // 8
    'import "./side_effect.ts";', // 9
    'export { h } from "./h.ts";', // 10
    'export * from "./star.ts";', // 11
    'export type { I } from "./i.ts";', // 12
    'export * as j from "./j.ts";', // 13
    'const k = await import("./dynamic.ts");', // 14
    'type L = typeof import("./type_query.ts");', // 15
    '// import { m } from "./line_comment.ts";', // 16
    '/* import { n } from "./block_comment.ts";', // 17
    '   export * from "./block_comment2.ts"; */',
    "const o = 'import { p } from \"./single_quoted.ts\"';", // 19
    'const q = "import(\\"./double_quoted.ts\\")";', // 20
    'const r = `import "./template_text.ts" ${await import("./in_template.ts")}`;', // 21
    'const s = 1 / 2; const t = /import "x"/g.test(o);', // 22
    "export { a, c };", // 23
    'export const from = "./not_an_import.ts";', // 24
    "const u = import.meta.url;", // 25
    "export function v() {", // 26
    '  return { from: "./object_value.ts" };',
    "}",
    'export {} from "./last.ts"', // 29
  ].join("\n");
  deepStrictEqual(scanImports(source), [
    { specifier: "./a.ts", line: 1 },
    { specifier: "./b.ts", line: 2 },
    { specifier: "./cd.ts", line: 3 },
    { specifier: "./e.ts", line: 7 },
    { specifier: "./fg.ts", line: 8 },
    { specifier: "./side_effect.ts", line: 9 },
    { specifier: "./h.ts", line: 10 },
    { specifier: "./star.ts", line: 11 },
    { specifier: "./i.ts", line: 12 },
    { specifier: "./j.ts", line: 13 },
    { specifier: "./dynamic.ts", line: 14 },
    { specifier: "./type_query.ts", line: 15 },
    { specifier: "./in_template.ts", line: 21 },
    { specifier: "./last.ts", line: 29 },
  ]);
});

Deno.test("checkLayering() fails on a made-up edge server -> api", () => {
  // Goal: the checker can fail. Method: an in-memory server file imports api through its
  // mod.ts (so the import is not deep), an edge the graph forbids.
  const files: SourceFile[] = [{
    path: "server/made_up.ts",
    source: '// server answers requests\n\nimport { METHODS } from "../api/mod.ts";\n',
  }];
  deepStrictEqual(checkLayering(files, RULES), [{
    kind: "edge",
    file: "server/made_up.ts",
    line: 3,
    source: "server",
    target: "api",
    specifier: "../api/mod.ts",
    message: 'server/made_up.ts:3: server -> api (import "../api/mod.ts"): ' +
      "the declared graph does not allow it",
  }]);
});

Deno.test("checkLayering() fails on a made-up deep import api -> server/etcd_server.ts", () => {
  // Goal: an allowed edge that bypasses the target's mod.ts fails. Method: an in-memory api
  // file, nested one folder down, imports a server file other than server/mod.ts.
  const files: SourceFile[] = [{
    path: "api/services/made_up.ts",
    source: 'import type { EtcdServer } from "../../server/etcd_server.ts";\n',
  }];
  deepStrictEqual(checkLayering(files, RULES), [{
    kind: "deep",
    file: "api/services/made_up.ts",
    line: 1,
    source: "api",
    target: "server",
    specifier: "../../server/etcd_server.ts",
    message: "api/services/made_up.ts:1: api -> server/etcd_server.ts is a deep import " +
      '(import "../../server/etcd_server.ts"): import server/mod.ts instead',
  }]);
});

Deno.test("checkLayering() accepts allowed edges, own-module imports and foreign specifiers", () => {
  // Goal: no false alarms. Method: in-memory files that import down the graph through mod.ts,
  // inside their own module through any file, and packages that are not ours.
  const files: SourceFile[] = [
    {
      path: "main.ts",
      source: 'import { startEtcd } from "./embed/mod.ts";\nimport { parse } from "yaml";\n',
    },
    {
      path: "api/services/kv.ts",
      source: 'import { x } from "../../server/mod.ts";\nimport { y } from "../methods.ts";\n',
    },
    {
      path: "wal/wal.ts",
      source: 'import { Entry } from "../raft/mod.ts";\nimport * as fs from "node:fs";\n',
    },
    { path: "tests/x_util.ts", source: 'import { main } from "../main.ts";\n' },
  ];
  deepStrictEqual(checkLayering(files, RULES), []);
});

Deno.test("checkLayering() reports both faults of an import that is forbidden and deep", () => {
  const files: SourceFile[] = [
    { path: "raft/made_up.ts", source: 'export { Wal } from "../wal/wal.ts";\n' },
    { path: "bench/made_up.ts", source: 'import "../tests/_harness.ts";\n' },
    { path: "newmodule/x.ts", source: 'import "../checksum/mod.ts";\n' },
    { path: "root.ts", source: 'import "../outside.ts";\n' },
  ];
  deepStrictEqual(
    checkLayering(files, RULES).map((violation) => violation.message),
    [
      'raft/made_up.ts:1: raft -> wal (import "../wal/wal.ts"): ' +
      "the declared graph does not allow it",
      'raft/made_up.ts:1: raft -> wal/wal.ts is a deep import (import "../wal/wal.ts"): ' +
      "import wal/mod.ts instead",
      'bench/made_up.ts:1: bench -> tests (import "../tests/_harness.ts"): ' +
      "the declared graph does not allow it",
      'bench/made_up.ts:1: bench -> tests/_harness.ts is a deep import (import "../tests/_harness.ts"): ' +
      "import tests/mod.ts instead",
      'newmodule/x.ts:1: newmodule -> checksum (import "../checksum/mod.ts"): ' +
      "module newmodule is not in the declared graph",
      'root.ts:1: import "../outside.ts" leaves the repository',
    ],
  );
});

Deno.test("findCycle() finds a cycle in a made-up graph", () => {
  deepStrictEqual(findCycle({ a: ["b"], b: ["c"], c: ["a"], d: [] }), ["a", "b", "c", "a"]);
  deepStrictEqual(findCycle({ a: ["b", "c"], b: ["c"], c: [] }), null);
});

Deno.test("the declared module graph is acyclic and names only declared modules", () => {
  // Goal: the graph itself points one way (down). A cycle in the data is a failure even before
  // any file follows it.
  deepStrictEqual(findCycle(MODULE_GRAPH), null);
  deepStrictEqual(undeclaredTargets(MODULE_GRAPH), []);
});

/** Lists the repository's non-test `.ts` files, relative to `root`, sorted. */
async function listSourceFiles(root: URL, relative = ""): Promise<string[]> {
  const paths: string[] = [];
  for await (const entry of Deno.readDir(new URL(relative, root))) {
    const path = relative + entry.name;
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    if (entry.isDirectory) {
      if (`${path}/` === GENERATED_DIR) continue;
      paths.push(...await listSourceFiles(root, `${path}/`));
    } else if (entry.isFile && path.endsWith(".ts") && !path.endsWith("_test.ts")) {
      paths.push(path);
    }
  }
  return paths.sort();
}

Deno.test("every import of the real tree follows the declared module graph through mod.ts", async () => {
  // Goal: the layering stays true. Method: read every non-test .ts file of the repository and
  // check it; the failure lists each offending file:line and edge.
  const root = new URL("../", import.meta.url);
  const files: SourceFile[] = [];
  for (const path of await listSourceFiles(root)) {
    files.push({ path, source: await Deno.readTextFile(new URL(path, root)) });
  }
  const violations = checkLayering(files, RULES).map((violation) => violation.message);
  deepStrictEqual(
    violations,
    [],
    `${violations.length} layering violations:\n${violations.join("\n")}`,
  );
});
