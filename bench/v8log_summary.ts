/**
 * Summarises a member's V8 isolate log (from `bench/profile_cluster.sh` with `V8_FLAGS`, e.g.
 * `--prof,--log-deopt` or `--log-ic`) over the steady state only: the lines after the offset its
 * `mark.txt` recorded once the warm-up requests had run. Per 1000 requests of the measured part:
 *
 * - ticks (`--prof`): by VM state (JS, GC, compiler, external, ...), by where the sampled pc lies
 *   (JavaScript by tier, builtins, the `deno` binary and other shared libraries), the hottest
 *   JavaScript functions by tier (`~` Ignition, `^` Sparkplug, `+` Maglev, `*` TurboFan), with the
 *   ticks in builtins and native code charged to the innermost JavaScript frame of the stack;
 * - deoptimizations (`--log-deopt`): by function, reason and source position;
 * - code created in the steady state (re-optimizations after a deopt, late tier-ups);
 * - inline cache misses (`--log-ic`): by site (function, line:column, IC kind, key) and state
 *   change (`0` uninitialized, `.` premonomorphic, `1` monomorphic, `^` recompute, `P`
 *   polymorphic, `N` megamorphic, `G` generic, `X` no feedback), and the sites whose last state
 *   is polymorphic or megamorphic in functions that were sampled in the steady state.
 *
 *   deno run -A bench/v8log_summary.ts [--top N] MEMBER_DIR...
 *
 * `node --prof-process` reads the same log once the code states V8 15 writes (`+'`, `o*`, ...) are
 * mapped to the four older ones; this summary needs neither node nor the symbols of `deno`.
 *
 * @module
 */

interface _Code {
  start: number;
  size: number;
  name: string;
  kind: string; // "JS", "Builtin", "BytecodeHandler", "RegExp", ...
  tier: string; // "~", "^", "+", "*" for JavaScript, "" otherwise
}

/** Code objects by address; code moves and new code keep the sorted view lazily up to date. */
class _CodeMap {
  #byStart = new Map<number, _Code>();
  #sorted: _Code[] = [];
  #dirty = false;
  libraries: { start: number; end: number; name: string }[] = [];

  add(code: _Code): void {
    this.#byStart.set(code.start, code);
    this.#dirty = true;
  }

  move(from: number, to: number): void {
    const code = this.#byStart.get(from);
    if (code === undefined) return;
    this.#byStart.delete(from);
    code.start = to;
    this.#byStart.set(to, code);
    this.#dirty = true;
  }

  find(pc: number): _Code | string | undefined {
    if (this.#dirty) {
      this.#sorted = [...this.#byStart.values()].sort((a, b) => a.start - b.start);
      this.#dirty = false;
    }
    let low = 0;
    let high = this.#sorted.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const code = this.#sorted[middle]!;
      if (pc < code.start) high = middle - 1;
      else if (pc >= code.start + code.size) low = middle + 1;
      else return code;
    }
    for (const library of this.libraries) {
      if (pc >= library.start && pc < library.end) return library.name;
    }
    return undefined;
  }
}

const _STATES = ["JS", "GC", "PARSER", "BYTECODE_COMPILER", "COMPILER", "OTHER", "EXTERNAL"];
const _STATES_MORE = ["ATOMICS_WAIT", "IDLE", "LOGGING", "IDLE_EXTERNAL"];

function _stateName(tag: string): string {
  const index = Number(tag);
  return _STATES[index] ?? _STATES_MORE[index - _STATES.length] ?? "state " + tag;
}

function _tier(state: string | undefined): string {
  if (state === undefined) return "";
  const match = /[~^+*]/.exec(state);
  return match === null ? state : match[0];
}

function _shortName(name: string): string {
  return name.replace(/file:\/\/\/\S*\/(wt|main)\/[^/]+\//, "").replace(
    /file:\/\/\/root\/\.cache\/deno\/npm\/registry\.npmjs\.org\//,
    "npm:",
  );
}

function _add(map: Map<string, number>, key: string, count = 1): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

function _describe(code: _Code | string | undefined): string {
  if (code === undefined) return "(unknown)";
  if (typeof code === "string") return "[" + code.split("/").pop() + "]";
  if (code.kind === "JS") return code.tier + _shortName(code.name);
  return code.kind + ": " + code.name;
}

interface _Summary {
  requests: number;
  ticks: number;
  byState: Map<string, number>;
  byPlace: Map<string, number>;
  byFunction: Map<string, number>;
  byOwner: Map<string, number>;
  byBuiltin: Map<string, number>;
  byPair: Map<string, number>;
  deopts: Map<string, number>;
  created: Map<string, number>;
  icMisses: Map<string, number>;
  icTotal: number;
  icLast: Map<string, { state: string; code: string }>;
  sampledFunctions: Set<string>;
}

async function* _lines(path: string): AsyncGenerator<[string, number]> {
  const file = await Deno.open(path);
  const decoder = new TextDecoder();
  let rest = new Uint8Array(0);
  let offset = 0; // byte offset of rest[0] in the file
  for await (const chunk of file.readable) {
    const bytes = new Uint8Array(rest.length + chunk.length);
    bytes.set(rest);
    bytes.set(chunk, rest.length);
    let from = 0;
    for (;;) {
      const end = bytes.indexOf(10, from);
      if (end < 0) break;
      yield [decoder.decode(bytes.subarray(from, end)), offset + from];
      from = end + 1;
    }
    rest = bytes.slice(from);
    offset += from;
  }
}

async function _summarise(dir: string): Promise<_Summary> {
  const mark = await Deno.readTextFile(dir + "/mark.txt");
  const isolate = /^isolate (\d+) (\S+)$/m.exec(mark);
  const requests = /^requests (\d+)$/m.exec(mark);
  if (isolate === null || requests === null) throw new Error(dir + "/mark.txt: no isolate log");
  const from = Number(isolate[1]);
  const codes = new _CodeMap();
  const summary: _Summary = {
    requests: Number(requests[1]),
    ticks: 0,
    byState: new Map(),
    byPlace: new Map(),
    byFunction: new Map(),
    byOwner: new Map(),
    byBuiltin: new Map(),
    byPair: new Map(),
    deopts: new Map(),
    created: new Map(),
    icMisses: new Map(),
    icTotal: 0,
    icLast: new Map(),
    sampledFunctions: new Set(),
  };
  for await (const [line, offset] of _lines(isolate[2]!)) {
    const f = line.split(",");
    const steady = offset >= from;
    switch (f[0]) {
      case "shared-library":
        codes.libraries.push({ name: f[1]!, start: Number(f[2]), end: Number(f[3]) });
        break;
      case "code-creation": {
        const code = {
          kind: f[1]!,
          start: Number(f[4]),
          size: Number(f[5]),
          name: f[6]!.trim(),
          tier: f[1] === "JS" ? _tier(f[8]) : "",
        };
        codes.add(code);
        if (steady && code.kind === "JS") _add(summary.created, code.tier + _shortName(code.name));
        break;
      }
      case "code-move":
        codes.move(Number(f[1]), Number(f[2]));
        break;
      case "code-deopt":
        if (steady) {
          const where = _describe(codes.find(Number(f[3])));
          _add(
            summary.deopts,
            `${where} | ${f[6]}: ${f.slice(8).join(",")} at ${_shortName(f[7]!)}`,
          );
        }
        break;
      case "tick":
        if (steady) _tick(summary, codes, f);
        break;
      default:
        if (f[0]!.endsWith("IC") && f.length >= 9) _ic(summary, codes, f, steady);
    }
  }
  return summary;
}

function _tick(summary: _Summary, codes: _CodeMap, f: string[]): void {
  summary.ticks++;
  _add(summary.byState, _stateName(f[5]!));
  const top = codes.find(Number(f[1]));
  const place = top === undefined
    ? "(unknown)"
    : typeof top === "string"
    ? "[" + top.split("/").pop() + "]"
    : top.kind === "JS"
    ? "JS " + top.tier
    : top.kind;
  _add(summary.byPlace, place);
  if (typeof top === "object" && top.kind !== "JS") _add(summary.byBuiltin, _describe(top));
  if (typeof top === "object" && top.kind === "JS") {
    _add(summary.byFunction, _describe(top));
    _add(summary.byOwner, _describe(top));
    summary.sampledFunctions.add(top.name);
    return;
  }
  // Charge a tick outside JavaScript to the innermost JavaScript frame on the stack.
  for (let i = 6; i < f.length; i++) {
    const code = codes.find(Number(f[i]));
    if (typeof code === "object" && code.kind === "JS") {
      _add(summary.byOwner, _describe(code));
      _add(summary.byPair, _describe(top) + "  <-  " + _describe(code));
      summary.sampledFunctions.add(code.name);
      return;
    }
  }
  _add(summary.byOwner, "(no JavaScript frame) " + _describe(top));
}

function _ic(summary: _Summary, codes: _CodeMap, f: string[], steady: boolean): void {
  // type, pc, time, line, column, old state, new state, map, key, modifier, slow reason
  const code = codes.find(Number(f[1]));
  const name = typeof code === "object" ? code.name : _describe(code);
  const site = `${_shortName(name)} @${f[3]}:${f[4]} ${f[0]} .${f[8]}`;
  summary.icLast.set(site, { state: f[6]!, code: name });
  if (!steady) return;
  summary.icTotal++;
  const reason = f[10] ? ` (${f[10]})` : "";
  _add(summary.icMisses, `${site} ${f[5]}->${f[6]}${reason}`);
}

function _print(title: string, map: Map<string, number>, per: number, top: number): void {
  const rows = [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  if (rows.length === 0) return;
  console.log(`\n${title} (count, per 1000 requests)`);
  for (const [key, count] of rows) {
    console.log(`${String(count).padStart(8)} ${(count * per).toFixed(2).padStart(9)}  ${key}`);
  }
}

async function _main(args: string[]): Promise<void> {
  let top = 30;
  const dirs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--top") top = Number(args[++i]);
    else dirs.push(args[i]!);
  }
  for (const dir of dirs) {
    const s = await _summarise(dir);
    const per = 1000 / s.requests;
    console.log(`### ${dir}: ${s.requests} requests after the mark, ${s.ticks} ticks`);
    _print("ticks by VM state", s.byState, per, top);
    _print("ticks by place of the pc", s.byPlace, per, top);
    _print("ticks in JavaScript, by function and tier (self)", s.byFunction, per, top);
    _print("ticks in builtins and other V8 code, by name", s.byBuiltin, per, top);
    _print("ticks by innermost JavaScript frame (self + builtins + native)", s.byOwner, per, top);
    _print("ticks outside JavaScript by place and innermost JavaScript frame", s.byPair, per, top);
    _print("deoptimizations", s.deopts, per, top);
    _print("JavaScript code created after the mark", s.created, per, top);
    if (s.icLast.size > 0) {
      console.log(
        `\nIC misses after the mark: ${s.icTotal} (${(s.icTotal * per).toFixed(1)}/1000)`,
      );
      _print("IC misses by site and state change", s.icMisses, per, top);
      const shared = [...s.icLast.entries()].filter(([, last]) =>
        (last.state === "N" || last.state === "P") && s.sampledFunctions.has(last.code)
      );
      if (shared.length > 0) {
        console.log("\nsites left polymorphic (P) or megamorphic (N) in sampled functions");
        for (const [site, last] of shared) console.log(`  ${last.state} ${site}`);
      }
    }
  }
}

if (import.meta.main) await _main(Deno.args);
