/**
 * Runs the db inspector: `deno run --allow-read backend/inspect_cli.ts FILE [--json]`.
 *
 * @module
 */

import { inspectDb } from "./inspect.ts";

if (import.meta.main) {
  const args = Deno.args.filter((a) => a !== "--json");
  if (args.length !== 1) {
    console.error("usage: inspect_cli.ts FILE [--json]");
    Deno.exit(2);
  }
  try {
    console.log(inspectDb(args[0]!, { json: Deno.args.includes("--json") }));
  } catch (error) {
    console.error(`inspect: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
