/**
 * The store's operation counters (etcd's v2store Stats), served at `/v2/stats/store` and
 * saved in `.snap` files.
 *
 * @module
 */

/** The counters, in etcd's JSON field order. */
export const STAT_FIELDS = [
  "getsSuccess",
  "getsFail",
  "setsSuccess",
  "setsFail",
  "deleteSuccess",
  "deleteFail",
  "updateSuccess",
  "updateFail",
  "createSuccess",
  "createFail",
  "compareAndSwapSuccess",
  "compareAndSwapFail",
  "compareAndDeleteSuccess",
  "compareAndDeleteFail",
  "expireCount",
  "watchers",
] as const;

/** One counter's name. */
export type StatField = typeof STAT_FIELDS[number];

/** The counters of one store. */
export class Stats {
  readonly counts: Record<StatField, number> = Object.fromEntries(
    STAT_FIELDS.map((f) => [f, 0]),
  ) as Record<StatField, number>;

  /** Adds one to a counter. */
  inc(field: StatField): void {
    this.counts[field]++;
  }

  /** A copy. */
  clone(): Stats {
    const copy = new Stats();
    Object.assign(copy.counts, this.counts);
    return copy;
  }

  /** The JSON etcd writes. */
  toJson(): string {
    return `{${STAT_FIELDS.map((f) => `"${f}":${this.counts[f]}`).join(",")}}`;
  }

  /** Reads the counters back from saved JSON (missing ones stay zero). */
  static fromJson(raw: Record<string, unknown> | null | undefined): Stats {
    const stats = new Stats();
    for (const f of STAT_FIELDS) {
      const v = raw?.[f];
      if (typeof v === "number") stats.counts[f] = v;
    }
    return stats;
  }
}
