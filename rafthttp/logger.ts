/**
 * The transport's logging surface. The server passes its own logger; the default writes one
 * JSON line per record to stderr, shaped like etcd's zap output (`level`, `ts`, `msg`, fields).
 *
 * @module
 */

/** Structured fields of a log record. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** A structured logger. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** capnslog or zap, when the server's logger tells: etcd words some lines per format. */
  readonly format?: "capnslog" | "zap";
}

function _line(level: string, msg: string, fields: LogFields | undefined): string {
  return JSON.stringify({
    level,
    ts: new Date().toISOString(),
    caller: "rafthttp",
    msg,
    ...fields,
  });
}

/** A logger writing JSON lines to stderr; `debug` is dropped unless `debug` is true. */
export function stderrLogger(options: { debug?: boolean } = {}): Logger {
  const write = (line: string) => console.error(line);
  return {
    debug: (msg, fields) => {
      if (options.debug === true) write(_line("debug", msg, fields));
    },
    info: (msg, fields) => write(_line("info", msg, fields)),
    warn: (msg, fields) => write(_line("warn", msg, fields)),
    error: (msg, fields) => write(_line("error", msg, fields)),
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** A logger that keeps records in memory, for tests that assert on log lines. */
export class MemoryLogger implements Logger {
  readonly records: { level: string; msg: string; fields: LogFields }[] = [];
  debug(msg: string, fields: LogFields = {}): void {
    this.records.push({ level: "debug", msg, fields });
  }
  info(msg: string, fields: LogFields = {}): void {
    this.records.push({ level: "info", msg, fields });
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.records.push({ level: "warn", msg, fields });
  }
  error(msg: string, fields: LogFields = {}): void {
    this.records.push({ level: "error", msg, fields });
  }
  /** True when some record's message contains `text`. */
  has(text: string): boolean {
    return this.records.some((r) => r.msg.includes(text));
  }
}
