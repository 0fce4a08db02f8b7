/**
 * A small command-line parser shaped like cobra/pflag, which etcd's `grpc-proxy start` and
 * `gateway start` use: `--name value`, `--name=value`, a bare `--name` for a boolean, flags
 * before or after the subcommand word, comma-separated lists for slice flags. An unknown flag
 * or a bad value is a `FlagError` (exit status 2, as detcd's member flags).
 *
 * @module
 */

import { parseGoDurationMs } from "../server/mod.ts";

/** The kinds of value a flag takes, as pflag's StringVar, BoolVar, IntVar, ... */
export type FlagKind = "string" | "bool" | "int" | "uint" | "duration" | "list";

/** One flag: its kind, default and usage line. */
export interface FlagSpec {
  kind: FlagKind;
  /** Default as pflag prints it: a string, "true"/"false", a number or a Go duration. */
  default: string;
  usage: string;
}

/** A refused command line. */
export class FlagError extends Error {
  /** Process exit status for this refusal. */
  readonly exitCode = 2;
}

/** Parsed flags: typed getters plus which flags were given. */
export class FlagValues {
  readonly #values: Map<string, string>;
  readonly #given: Set<string>;
  readonly #specs: Readonly<Record<string, FlagSpec>>;

  constructor(specs: Readonly<Record<string, FlagSpec>>, values: Map<string, string>) {
    this.#specs = specs;
    this.#values = values;
    this.#given = new Set(values.keys());
  }

  /** Whether the flag appeared on the command line. */
  given(name: string): boolean {
    return this.#given.has(name);
  }

  #raw(name: string): string {
    const spec = this.#specs[name];
    if (spec === undefined) throw new Error(`no such flag --${name}`);
    return this.#values.get(name) ?? spec.default;
  }

  /** A string flag. */
  text(name: string): string {
    return this.#raw(name);
  }

  /** A boolean flag. */
  bool(name: string): boolean {
    return this.#raw(name) === "true";
  }

  /** An integer flag (already validated). */
  int(name: string): number {
    return Number(this.#raw(name));
  }

  /** A duration flag, in milliseconds. */
  durationMs(name: string): number {
    return parseGoDurationMs(this.#raw(name));
  }

  /** A slice flag: comma-separated, empty items dropped. */
  list(name: string): string[] {
    return this.#raw(name).split(",").map((item) => item.trim()).filter((item) => item !== "");
  }
}

const _BOOL_WORDS = new Map([
  ["1", "true"],
  ["t", "true"],
  ["T", "true"],
  ["true", "true"],
  ["TRUE", "true"],
  ["True", "true"],
  ["0", "false"],
  ["f", "false"],
  ["F", "false"],
  ["false", "false"],
  ["FALSE", "false"],
  ["False", "false"],
]);

/** Validates and normalises one value; throws FlagError with pflag's wording. */
function _normalise(name: string, spec: FlagSpec, value: string): string {
  const bad = () => new FlagError(`invalid argument ${JSON.stringify(value)} for "--${name}" flag`);
  switch (spec.kind) {
    case "bool": {
      const word = _BOOL_WORDS.get(value);
      if (word === undefined) throw bad();
      return word;
    }
    case "int":
    case "uint":
      if (!/^[+-]?\d+$/.test(value)) throw bad();
      if (spec.kind === "uint" && Number(value) < 0) throw bad();
      return String(Number(value));
    case "duration":
      try {
        parseGoDurationMs(value);
      } catch {
        throw bad();
      }
      return value;
    case "list":
    case "string":
      return value;
  }
}

/**
 * Parses `args` against `specs`. Words that are not flags are returned in `positional`
 * (the subcommand, e.g. `start`). `--` ends the flags. `-h`/`--help` sets `help`.
 */
export function parseFlags(
  args: readonly string[],
  specs: Readonly<Record<string, FlagSpec>>,
): { values: FlagValues; positional: string[]; help: boolean } {
  const values = new Map<string, string>();
  const positional: string[] = [];
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const equals = body.indexOf("=");
    const name = equals < 0 ? body : body.slice(0, equals);
    if (name === "h" || name === "help") {
      help = true;
      continue;
    }
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) throw new FlagError(`unknown flag: --${name}`);
    let value: string;
    if (equals >= 0) value = body.slice(equals + 1);
    else if (spec.kind === "bool") value = "true";
    else {
      const next = args[i + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: --${name}`);
      value = next;
      i++;
    }
    const normalised = _normalise(name, spec, value);
    // pflag's slice flags accumulate over repeats; other flags keep the last value.
    const previous = values.get(name);
    values.set(
      name,
      spec.kind === "list" && previous !== undefined ? `${previous},${normalised}` : normalised,
    );
  }
  return { values: new FlagValues(specs, values), positional, help };
}

/** A usage text listing every flag with its default, as cobra prints it. */
export function flagUsage(command: string, specs: Readonly<Record<string, FlagSpec>>): string {
  const lines = [`Usage:\n  ${command} [flags]\n\nFlags:`];
  for (const [name, spec] of Object.entries(specs)) {
    const shown = spec.kind === "bool" || spec.default === "" ? "" : ` (default ${spec.default})`;
    lines.push(`      --${name.padEnd(40)} ${spec.usage}${shown}`);
  }
  return lines.join("\n");
}

/**
 * Parses the command line of `<command> start`: its flag values, or the exit status when there
 * is nothing to run (a refused flag or word: 2, after the error and the usage on stderr; `--help`:
 * 0, after the usage).
 */
export function parseStartCommand(
  command: string,
  args: readonly string[],
  specs: Readonly<Record<string, FlagSpec>>,
): FlagValues | number {
  const usage = flagUsage(`${command} start`, specs);
  let parsed;
  try {
    parsed = parseFlags(args, specs);
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    console.error(`Error: ${error.message}`);
    console.error(usage);
    return error.exitCode;
  }
  const { values, positional, help } = parsed;
  if (help || positional[0] !== "start" || positional.length !== 1) {
    console.error(usage);
    return help ? 0 : 2;
  }
  return values;
}
