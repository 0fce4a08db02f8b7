import { strictEqual } from "node:assert/strict";
import { parseGoDurationMs } from "./compactor.ts";

Deno.test("parseGoDurationMs() reads Go durations as --auto-compaction-retention takes them", () => {
  strictEqual(parseGoDurationMs("1h"), 3_600_000);
  strictEqual(parseGoDurationMs("1h30m"), 5_400_000);
  strictEqual(parseGoDurationMs("10s"), 10_000);
  strictEqual(parseGoDurationMs("250ms"), 250);
  strictEqual(parseGoDurationMs("1.5s"), 1500);
  strictEqual(parseGoDurationMs("5"), undefined, "a bare number is hours, handled by the caller");
  strictEqual(parseGoDurationMs("1x"), undefined);
  strictEqual(parseGoDurationMs(""), undefined);
});
