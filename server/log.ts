/**
 * A logger that prints lines shaped like etcd 3.4's, to stderr by default.
 *
 * - `--logger capnslog` (etcd 3.4's default):
 *   `2026-11-22 03:11:00.293901 I | etcdserver: published {...} to cluster 33bbc8273855a76d`
 *   (level letters D, I, N, W, E, C as capnslog prints them; fields follow as `key=value`).
 * - `--logger zap`: one JSON object per line,
 *   `{"level":"info","ts":"2026-11-22T03:11:00.293Z","caller":"etcdserver","msg":"...",...}`.
 *
 * etcd's e2e suite waits for the substrings "enabled capabilities for version" and "published"
 * in the server's output; whoever logs those lines must keep those words.
 *
 * Outputs (`--log-outputs`): `default` and `stderr` write to stderr, `stdout` to stdout, any
 * other value is a file path opened for appending. Writes are synchronous so that a line logged
 * just before a crash is not lost.
 *
 * @module
 */

/** Fields attached to a log line; bigints print as decimal, Errors as their message. */
export type LogFields = Record<string, unknown>;

/** The logging surface every server module receives. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Logs and exits the process with status 1. */
  fatal(msg: string, fields?: LogFields): never;
  /** A logger whose lines name `pkg` (capnslog's package, zap's caller), e.g. `etcdserver`. */
  named(pkg: string): Logger;
  /**
   * The line format. etcd words some warnings differently per logger (capnslog's printf
   * sentence, zap's message plus fields); a caller that matches etcd's words asks this.
   */
  readonly format?: "capnslog" | "zap";
}

/** Log levels in increasing severity, as `--log-level` accepts them. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "panic", "fatal"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

const _CAPNSLOG_LETTER: Record<string, string> = {
  debug: "D",
  info: "I",
  warn: "W",
  error: "E",
  fatal: "C",
};

interface _Sink {
  write(line: string): void;
}

/** Options of {@link createLogger}; names match the config fields. */
export interface LoggerOptions {
  /** `capnslog` or `zap`. */
  logger: string;
  level: string;
  outputs: string[];
  /** The package name of the root logger; `etcdmain` when not given. */
  pkg?: string;
  /** The clock; tests inject a fixed one. */
  now?: () => Date;
}

/** Creates a logger. Throws on an unknown logger, level or an output it cannot open. */
export function createLogger(cfg: LoggerOptions): Logger {
  if (cfg.logger !== "capnslog" && cfg.logger !== "zap") {
    throw new Error(`unknown logger option ${JSON.stringify(cfg.logger)}`);
  }
  const minimum = LOG_LEVELS.indexOf(cfg.level as LogLevel);
  if (minimum < 0) throw new Error(`unknown log level ${JSON.stringify(cfg.level)}`);
  const sinks = _openSinks(cfg.outputs.length === 0 ? ["default"] : cfg.outputs);
  const state: _LoggerState = {
    format: cfg.logger === "zap" ? _formatZap : _formatCapnslog,
    minimum,
    sinks,
    now: cfg.now ?? (() => new Date()),
  };
  return _makeLogger(state, cfg.pkg ?? "etcdmain");
}

interface _LoggerState {
  format: (time: Date, level: string, pkg: string, msg: string, fields?: LogFields) => string;
  minimum: number;
  sinks: _Sink[];
  now: () => Date;
}

function _makeLogger(state: _LoggerState, pkg: string): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(level) < state.minimum) return;
    const line = state.format(state.now(), level, pkg, msg, fields) + "\n";
    for (const sink of state.sinks) sink.write(line);
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    fatal: (msg, fields): never => {
      emit("fatal", msg, fields);
      Deno.exit(1);
    },
    named: (child) => _makeLogger(state, child),
    format: state.format === _formatZap ? "zap" : "capnslog",
  };
}

function _openSinks(outputs: string[]): _Sink[] {
  const encoder = new TextEncoder();
  const toFile = (file: { writeSync(p: Uint8Array): number }): _Sink => ({
    write(line) {
      const bytes = encoder.encode(line);
      let written = 0;
      while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
    },
  });
  return [...new Set(outputs)].map((output) => {
    if (output === "default" || output === "stderr") return toFile(Deno.stderr);
    if (output === "stdout") return toFile(Deno.stdout);
    return toFile(Deno.openSync(output, { append: true, create: true }));
  });
}

function _pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

function _fieldText(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return value;
  if (value instanceof URL) return value.href;
  try {
    return JSON.stringify(
      value,
      (_key, inner) => typeof inner === "bigint" ? inner.toString() : inner,
    ) ??
      String(value);
  } catch {
    return String(value);
  }
}

/** capnslog's format: `YYYY-MM-DD HH:MM:SS.uuuuuu L | pkg: msg`, in UTC. */
function _formatCapnslog(
  time: Date,
  level: string,
  pkg: string,
  msg: string,
  fields?: LogFields,
): string {
  const date = `${time.getUTCFullYear()}-${_pad(time.getUTCMonth() + 1, 2)}-${
    _pad(time.getUTCDate(), 2)
  }`;
  const clock = `${_pad(time.getUTCHours(), 2)}:${_pad(time.getUTCMinutes(), 2)}:${
    _pad(time.getUTCSeconds(), 2)
  }.${_pad(time.getUTCMilliseconds(), 3)}000`;
  let line = `${date} ${clock} ${_CAPNSLOG_LETTER[level] ?? "I"} | ${pkg}: ${msg}`;
  if (fields !== undefined) {
    const parts = Object.entries(fields).map(([key, value]) => `${key}=${_fieldText(value)}`);
    if (parts.length > 0) line += ` (${parts.join(", ")})`;
  }
  return line;
}

/** zap's production JSON encoder as etcd 3.4 configures it. */
function _formatZap(
  time: Date,
  level: string,
  pkg: string,
  msg: string,
  fields?: LogFields,
): string {
  const record: Record<string, unknown> = {
    level,
    ts: time.toISOString(),
    caller: pkg,
    msg,
  };
  for (const [key, value] of Object.entries(fields ?? {})) {
    record[key] = typeof value === "bigint"
      ? value.toString()
      : value instanceof Error
      ? value.message
      : value instanceof URL
      ? value.href
      : value;
  }
  return JSON.stringify(
    record,
    (_key, inner) => typeof inner === "bigint" ? inner.toString() : inner,
  );
}
