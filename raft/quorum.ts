/**
 * Majority quorums (etcd's quorum/majority.go): the committed index of a voter set and the
 * outcome of a vote.
 *
 * @module
 */

/** The outcome of a vote so far. */
export const VoteResult = {
  /** Neither won nor lost yet: more votes may decide it. */
  VotePending: 1,
  /** A majority voted no. */
  VoteLost: 2,
  /** A majority voted yes. */
  VoteWon: 3,
} as const;
/** A VoteResult value. */
export type VoteResult = typeof VoteResult[keyof typeof VoteResult];

/**
 * The highest index acknowledged by a majority of `voters` (Raft §5.3), where `acked(id)`
 * gives each voter's acknowledged index (undefined counts as 0). An empty set commits
 * everything (returns MAX_SAFE_INTEGER), as etcd's empty majority config does.
 */
export function committedIndex(
  voters: readonly bigint[],
  acked: (id: bigint) => number | undefined,
): number {
  const n = voters.length;
  if (n === 0) return Number.MAX_SAFE_INTEGER;
  const indexes = new Array<number>(n);
  for (let i = 0; i < n; i++) indexes[i] = acked(voters[i]!) ?? 0;
  indexes.sort((a, b) => b - a);
  // Sorted descending, the entry at position n/2 (floor) is held by a majority.
  return indexes[Math.floor(n / 2)]!;
}

/** The result of a vote among `voters`, given the votes cast so far (missing = pending). */
export function voteResult(
  voters: readonly bigint[],
  votes: ReadonlyMap<bigint, boolean> | undefined,
): VoteResult {
  if (voters.length === 0) return VoteResult.VoteWon;
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes?.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(voters.length / 2) + 1;
  if (yes >= q) return VoteResult.VoteWon;
  if (yes + missing >= q) return VoteResult.VotePending;
  return VoteResult.VoteLost;
}
