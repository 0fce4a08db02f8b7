/**
 * Prints a violation as a readable table: every operation of the offending partition in call
 * order, with its client, times, and its place in the longest linearization the search found.
 *
 * @module
 */

import type { CheckResult } from "./checker.ts";
import type { Model } from "./model.ts";

/** Options of {@link describeResult}. */
export interface DescribeOptions {
  /** Print at most this many operations (those nearest the failure are kept). */
  linesMax?: number;
}

function _ms(value: number, origin: number): string {
  return Number.isFinite(value) ? (value - origin).toFixed(1) : "never";
}

/** A multi-line report of a check result; for a violation, the offending sub-history. */
export function describeResult<S, I, O>(
  model: Model<S, I, O>,
  result: CheckResult<I, O>,
  options: DescribeOptions = {},
): string {
  const head = `linearizability: ${result.verdict} (${result.partitions} partitions, ${
    result.elapsedMs.toFixed(0)
  } ms)`;
  const violation = result.violation;
  if (violation === undefined) return head;
  const ops = violation.operations;
  const origin = Math.min(...ops.map((op) => op.call));
  const order = new Map<number, number>();
  violation.longestLinearization.forEach((id, position) => order.set(id, position + 1));
  const stuck = new Set(violation.stuck);
  // Keep the operations around the first one the search could not place.
  const linesMax = options.linesMax ?? 60;
  const firstStuck = Math.min(...violation.stuck, ops.length - 1);
  const from = Math.max(0, Math.min(firstStuck - Math.floor(linesMax / 2), ops.length - linesMax));
  const to = Math.min(ops.length, from + linesMax);
  const lines = [
    head,
    `not linearizable: ${ops.length} operations in the offending partition`,
    `  ${"client".padEnd(7)}${"call ms".padStart(10)}${"return ms".padStart(11)}  ${
      "linearized".padEnd(11)
    } operation`,
  ];
  if (from > 0) lines.push(`  ... ${from} earlier operations`);
  for (let i = from; i < to; i++) {
    const op = ops[i]!;
    const mark = order.has(i) ? `#${order.get(i)}` : stuck.has(i) ? "STUCK" : "-";
    lines.push(
      `  ${String(op.clientId).padEnd(7)}${_ms(op.call, origin).padStart(10)}${
        _ms(op.return, origin).padStart(11)
      }  ${mark.padEnd(11)} ${model.describeOperation(op.input, op.output)}`,
    );
  }
  if (to < ops.length) lines.push(`  ... ${ops.length - to} later operations`);
  lines.push(
    `longest linearizable prefix: ${violation.longestLinearization.length} operations; ` +
      `state after it: ${violation.stateAfter}`,
  );
  lines.push(
    "STUCK: the operations that had to be linearized next and could not (their answer " +
      "does not fit any order of the operations before them)",
  );
  return lines.join("\n");
}
