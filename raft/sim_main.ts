/**
 * Runs the raft simulator over many seeds: `deno task sim:raft --seeds 100000`, or replays
 * one: `deno task sim:raft --seed 42 --verbose`. Options: --start N (first seed), --seeds N,
 * --seed N, --nodes 1|3|5|7, --ticks N (chaos ticks), --verbose. Exits 1 on the first failure
 * and prints the one-line command that reproduces it.
 *
 * @module
 */

import { reproCommand, Simulation } from "./sim.ts";

function _flag(args: string[], name: string): string | undefined {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
}

function _int(args: string[], name: string): number | undefined {
  const v = _flag(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`--${name} wants an integer, got ${v}`);
  return n;
}

function main(args: string[]): number {
  const verbose = args.includes("--verbose");
  const one = _int(args, "seed");
  const start = one ?? _int(args, "start") ?? 1;
  const count = one === undefined ? (_int(args, "seeds") ?? 1000) : 1;
  const nodes = _int(args, "nodes");
  const chaosTicks = _int(args, "ticks");
  const began = performance.now();
  let committed = 0;
  let reads = 0;
  const healTicks: number[] = [];
  for (let seed = start; seed < start + count; seed++) {
    const sim = new Simulation({
      seed,
      verbose,
      ...(nodes === undefined ? {} : { nodes }),
      ...(chaosTicks === undefined ? {} : { chaosTicks }),
    });
    const result = sim.run();
    committed += result.committed;
    reads += result.reads;
    healTicks.push(result.healLeaderTicks);
    if (!result.ok) {
      console.error(result.error);
      console.error(
        `FAILED seed ${seed} (${result.nodes} nodes). Reproduce: ${reproCommand(seed, nodes)}`,
      );
      return 1;
    }
    if (one !== undefined) console.log(JSON.stringify(result));
    if ((seed - start + 1) % 1000 === 0) {
      console.log(
        `${seed - start + 1} seeds ok (${((performance.now() - began) / 1000).toFixed(1)} s)`,
      );
    }
  }
  const seconds = (performance.now() - began) / 1000;
  healTicks.sort((a, b) => a - b);
  const at = (q: number) =>
    healTicks[Math.min(healTicks.length - 1, Math.floor(q * healTicks.length))];
  console.log(
    `ticks from healing to a working leader (electionTick 10): median ${at(0.5)}, p99 ${
      at(0.99)
    }, max ${at(1)}`,
  );
  console.log(
    `${count} seeds ok from ${start}: ${committed} entries committed, ${reads} reads checked, ${
      seconds.toFixed(1)
    } s`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
