/**
 * The raft simulator over thousands of seeds (bounded: about a minute on two shared cores).
 * Each cluster size runs its own seed range; a failure names the seed and prints the one-line
 * command that replays it. `deno task sim:raft --seeds 100000` runs many more.
 */
import { reproCommand, Simulation } from "../raft/sim.ts";

const SEEDS_PER_SIZE = 500;

for (const nodes of [1, 3, 5, 7]) {
  Deno.test(`raft simulation: ${SEEDS_PER_SIZE} seeds of ${nodes} nodes (drop, delay, duplicate, reorder, partition, crash)`, () => {
    const first = 1000 * nodes;
    for (let seed = first; seed < first + SEEDS_PER_SIZE; seed++) {
      const result = new Simulation({ seed, nodes }).run();
      if (!result.ok) {
        throw new Error(`${result.error}\nreproduce: ${reproCommand(seed, nodes)}`);
      }
    }
  });
}
