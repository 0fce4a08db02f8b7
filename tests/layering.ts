/**
 * The layering checker behind `tests/layering_test.ts`: pure functions from source files to
 * violations, so a test can feed it made-up files as well as the real tree.
 *
 * - `scanImports` lists the module specifiers a TypeScript source imports: static imports
 *   (`import x from`, `import type`, multi-line lists), re-exports (`export ... from`),
 *   side-effect imports (`import "x"`) and dynamic imports (`import("x")`). It reads tokens, not
 *   lines, so imports written inside comments or string literals do not count.
 * - `checkLayering` maps every relative import to its top-level module and reports each edge
 *   the declared graph does not allow and each import into another module that bypasses that
 *   module's surface (`mod.ts`).
 * - `findCycle` proves the declared graph itself points one way.
 *
 * @module
 */

/** One import found in a source file. */
export interface ImportRef {
  /** The module specifier as written (`"../api/mod.ts"`). */
  specifier: string;
  /** The 1-based line of the `import` or `export` keyword that starts it. */
  line: number;
}

/** A source file to check: its path relative to the repository root and its text. */
export interface SourceFile {
  path: string;
  source: string;
}

/** Why an import breaks the layering. */
export type ViolationKind = "edge" | "deep" | "outside";

/** One import that breaks the layering. */
export interface Violation {
  kind: ViolationKind;
  /** The importing file, relative to the repository root. */
  file: string;
  line: number;
  /** The importing module. */
  source: string;
  /** The imported module ("" when the import leaves the repository). */
  target: string;
  specifier: string;
  /** `file:line: ...`, naming the offending edge. */
  message: string;
}

type TokenKind = "name" | "string" | "template" | "regex" | "punct";

interface Token {
  kind: TokenKind;
  /** The identifier, the punctuator, or a string literal's value. */
  text: string;
  line: number;
}

/** Keywords after which a `/` starts a regular expression rather than a division. */
const KEYWORDS_BEFORE_EXPRESSION = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

function isNameChar(char: string): boolean {
  return /[A-Za-z0-9_$]/.test(char) || char.charCodeAt(0) > 0x7f;
}

/** Whether a `/` after `previous` starts a regular expression literal. */
function slashStartsRegex(previous: Token | undefined): boolean {
  if (previous === undefined) return true;
  if (previous.kind !== "name" && previous.kind !== "punct") return false;
  if (previous.kind === "name") return KEYWORDS_BEFORE_EXPRESSION.has(previous.text);
  return previous.text !== ")" && previous.text !== "]" && previous.text !== "}";
}

/**
 * Splits `source` into names, string literals, template literals, regular expression literals
 * and one-character punctuators, dropping whitespace and comments. The
 * expressions inside a template literal's `${...}` are tokenized too.
 */
function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // For each open `${` of a template literal, the brace depth at which it closes.
  const templateDepths: number[] = [];
  let braceDepth = 0;
  let line = 1;
  let index = 0;

  // Scans a template literal's text from `index` up to its closing backtick or its next
  // `${`; returns whether it stopped at a `${`.
  const scanTemplateText = (): boolean => {
    while (index < source.length) {
      const char = source[index]!;
      if (char === "\\") {
        if (source[index + 1] === "\n") line++;
        index += 2;
        continue;
      }
      if (char === "`") {
        index++;
        return false;
      }
      if (char === "$" && source[index + 1] === "{") {
        index += 2;
        return true;
      }
      if (char === "\n") line++;
      index++;
    }
    return false;
  };

  const enterTemplate = (startLine: number): void => {
    tokens.push({ kind: "template", text: "", line: startLine });
    if (scanTemplateText()) {
      braceDepth++;
      templateDepths.push(braceDepth);
    }
  };

  while (index < source.length) {
    const char = source[index]!;
    const next = source[index + 1];
    if (char === "\n") {
      line++;
      index++;
    } else if (/\s/.test(char)) {
      index++;
    } else if (char === "/" && next === "/") {
      while (index < source.length && source[index] !== "\n") index++;
    } else if (char === "/" && next === "*") {
      const end = source.indexOf("*/", index + 2);
      const stop = end === -1 ? source.length : end + 2;
      for (let i = index; i < stop; i++) if (source[i] === "\n") line++;
      index = stop;
    } else if (char === '"' || char === "'") {
      const startLine = line;
      let text = "";
      index++;
      while (index < source.length && source[index] !== char && source[index] !== "\n") {
        if (source[index] === "\\") {
          text += source[index + 1] ?? "";
          index += 2;
        } else {
          text += source[index];
          index++;
        }
      }
      index++;
      tokens.push({ kind: "string", text, line: startLine });
    } else if (char === "`") {
      index++;
      enterTemplate(line);
    } else if (char === "/" && slashStartsRegex(tokens.at(-1))) {
      index++;
      let inClass = false;
      while (index < source.length && source[index] !== "\n") {
        const current = source[index]!;
        if (current === "\\") {
          index += 2;
          continue;
        }
        index++;
        if (current === "[") inClass = true;
        else if (current === "]") inClass = false;
        else if (current === "/" && !inClass) break;
      }
      while (index < source.length && isNameChar(source[index]!)) index++;
      tokens.push({ kind: "regex", text: "", line });
    } else if (isNameChar(char)) {
      const start = index;
      while (index < source.length && isNameChar(source[index]!)) index++;
      tokens.push({ kind: "name", text: source.slice(start, index), line });
    } else if (char === "}" && templateDepths.at(-1) === braceDepth) {
      // The end of a template literal's `${...}`: continue with its text.
      templateDepths.pop();
      braceDepth--;
      index++;
      if (scanTemplateText()) {
        braceDepth++;
        templateDepths.push(braceDepth);
      }
    } else {
      if (char === "{") braceDepth++;
      if (char === "}") braceDepth--;
      tokens.push({ kind: "punct", text: char, line });
      index++;
    }
  }
  return tokens;
}

function isPunct(token: Token | undefined, text: string): boolean {
  return token !== undefined && token.kind === "punct" && token.text === text;
}

function isName(token: Token | undefined, text: string): boolean {
  return token !== undefined && token.kind === "name" && token.text === text;
}

/**
 * From the token after `import`/`export`, finds the `from "x"` that ends the statement and
 * returns the index of its string, or -1 when the statement ends without one.
 */
function findFromClause(tokens: Token[], start: number): number {
  let depth = 0;
  for (let i = start; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (isPunct(token, "{")) depth++;
    else if (isPunct(token, "}")) depth--;
    else if (depth === 0 && isPunct(token, ";")) return -1;
    else if (depth === 0 && (isName(token, "import") || isName(token, "export"))) return -1;
    else if (depth === 0 && isName(token, "from") && tokens[i + 1]?.kind === "string") {
      return i + 1;
    }
    if (depth < 0) return -1;
  }
  return -1;
}

/** Lists every module specifier that `source` imports or re-exports, in order. */
export function scanImports(source: string): ImportRef[] {
  const tokens = tokenize(source);
  const found: ImportRef[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind !== "name") continue;
    if (token.text !== "import" && token.text !== "export") continue;
    // `x.import` is a property, not a keyword.
    if (isPunct(tokens[i - 1], ".")) continue;
    const next = tokens[i + 1];
    if (token.text === "import") {
      if (isPunct(next, "(")) {
        const argument = tokens[i + 2];
        if (
          argument?.kind === "string" &&
          (isPunct(tokens[i + 3], ")") || isPunct(tokens[i + 3], ","))
        ) {
          found.push({ specifier: argument.text, line: token.line });
        }
        continue;
      }
      if (isPunct(next, ".")) continue; // import.meta
      if (next?.kind === "string") {
        found.push({ specifier: next.text, line: token.line });
        continue;
      }
    } else {
      // Only `export {...} from`, `export * from` and their `export type` forms re-export.
      const head = isName(next, "type") ? tokens[i + 2] : next;
      if (!isPunct(head, "{") && !isPunct(head, "*")) continue;
    }
    const at = findFromClause(tokens, i + 1);
    if (at !== -1) found.push({ specifier: tokens[at]!.text, line: token.line });
  }
  return found;
}

/** The module a repository-relative path belongs to: its top folder, or `root`. */
export function moduleOf(path: string): string {
  const slash = path.indexOf("/");
  return slash === -1 ? "root" : path.slice(0, slash);
}

/**
 * Resolves a relative specifier against the importing file's repository-relative path;
 * returns null when the result leaves the repository.
 */
export function resolveRelative(file: string, specifier: string): string | null {
  const parts = file.split("/").slice(0, -1);
  for (const part of specifier.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return null;
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join("/");
}

/** What `checkLayering` needs to know about the design. */
export interface LayeringRules {
  /** Which modules each module may import, besides itself. */
  graph: Readonly<Record<string, readonly string[]>>;
  /** The one file of a module that others may import. */
  surfaceOf: (module: string) => string;
}

/**
 * Checks every relative import of `files` against `rules`: an import into another module must
 * follow an edge of the graph (a module missing from the graph may import nothing) and must go
 * to that module's surface. Bare and URL specifiers (`npm:`, `node:`, import-map names) are
 * not ours and are skipped.
 */
export function checkLayering(files: readonly SourceFile[], rules: LayeringRules): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const source = moduleOf(file.path);
    for (const ref of scanImports(file.source)) {
      if (!ref.specifier.startsWith("./") && !ref.specifier.startsWith("../")) continue;
      const where = `${file.path}:${ref.line}`;
      const base = { file: file.path, line: ref.line, source, specifier: ref.specifier };
      const resolved = resolveRelative(file.path, ref.specifier);
      if (resolved === null) {
        violations.push({
          ...base,
          kind: "outside",
          target: "",
          message: `${where}: import "${ref.specifier}" leaves the repository`,
        });
        continue;
      }
      const target = moduleOf(resolved);
      if (target === source) continue;
      const allowed = rules.graph[source];
      if (allowed === undefined || !allowed.includes(target)) {
        const why = allowed === undefined
          ? `module ${source} is not in the declared graph`
          : "the declared graph does not allow it";
        violations.push({
          ...base,
          kind: "edge",
          target,
          message: `${where}: ${source} -> ${target} (import "${ref.specifier}"): ${why}`,
        });
      }
      const surface = rules.surfaceOf(target);
      if (resolved !== surface) {
        violations.push({
          ...base,
          kind: "deep",
          target,
          message: `${where}: ${source} -> ${resolved} is a deep import (import ` +
            `"${ref.specifier}"): import ${surface} instead`,
        });
      }
    }
  }
  return violations;
}

/**
 * Returns a cycle of `graph` as a path that starts and ends at the same module
 * (`["a", "b", "a"]`), or null when the graph is acyclic. Self-edges count as cycles too:
 * a module may import itself without declaring it.
 */
export function findCycle(graph: Readonly<Record<string, readonly string[]>>): string[] | null {
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();

  const visit = (module: string): string[] | null => {
    if (onPath.has(module)) return [...path.slice(path.indexOf(module)), module];
    if (done.has(module)) return null;
    onPath.add(module);
    path.push(module);
    for (const target of graph[module] ?? []) {
      const cycle = visit(target);
      if (cycle !== null) return cycle;
    }
    path.pop();
    onPath.delete(module);
    done.add(module);
    return null;
  };

  for (const module of Object.keys(graph)) {
    const cycle = visit(module);
    if (cycle !== null) return cycle;
  }
  return null;
}

/** Edges of `graph` whose target is not itself a module of `graph`. */
export function undeclaredTargets(graph: Readonly<Record<string, readonly string[]>>): string[] {
  const problems: string[] = [];
  for (const [module, targets] of Object.entries(graph)) {
    for (const target of targets) {
      if (!(target in graph)) problems.push(`${module} -> ${target}`);
    }
  }
  return problems;
}
