/**
 * `detcd inspect db FILE [--json]`: an operator's view of a bolt db file — both metas, the
 * buckets with their key counts and pages, page counts by type, and the free pages with the
 * histogram of free span lengths. It opens the file read-only and never writes to it.
 *
 * @module
 */

import * as fs from "node:fs";
import { DB } from "./db.ts";
import { Page, PAGE_HEADER_SIZE, PGID_NO_FREELIST, readMeta } from "./page.ts";
import type { Bucket } from "./bucket.ts";

interface _BucketReport {
  name: string;
  keys: number;
  inline: boolean;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  depth: number;
  sequence: number;
  buckets: _BucketReport[];
}

/** The inspector's report as a plain object (what --json prints). */
export interface InspectReport {
  file: string;
  fileBytes: number;
  pageSize: number;
  metas:
    ({ page: number; txid: number; root: number; freelist: number | null; highWater: number } | {
      page: number;
      error: string;
    })[];
  meta: {
    txid: number;
    root: number;
    freelist: number | null;
    highWater: number;
    freelistPersisted: boolean;
  };
  buckets: _BucketReport[];
  pages: {
    total: number;
    meta: number;
    freelist: number;
    branch: number;
    leaf: number;
    overflow: number;
    free: number;
    unreachable: number;
  };
  freeSpans: { length: number; count: number }[];
  freelistLoadMs: number;
}

function _name(bytes: Uint8Array): string {
  const printable = bytes.every((b) => b >= 0x20 && b < 0x7f);
  return printable
    ? new TextDecoder().decode(bytes)
    : "0x" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function _bucketReport(name: Uint8Array, bucket: Bucket): _BucketReport {
  const report: _BucketReport = {
    name: _name(name),
    keys: 0,
    inline: bucket.root === 0,
    branchPages: 0,
    leafPages: 0,
    overflowPages: 0,
    depth: 0,
    sequence: bucket.sequence,
    buckets: [],
  };
  bucket.forEachPage((page, depth) => {
    if (page.isLeaf()) {
      report.keys += page.count;
      if (!report.inline) report.leafPages++;
    } else report.branchPages++;
    if (!report.inline) report.overflowPages += page.overflow;
    report.depth = Math.max(report.depth, depth + 1);
  });
  bucket.forEach((key, value) => {
    if (value === null) report.buckets.push(_bucketReport(key, bucket.bucket(key)!));
  });
  return report;
}

/** Builds the inspector's report of the db file at `path`. */
export function inspectReport(path: string): InspectReport {
  const db = DB.open(path, { readOnly: true });
  try {
    const metas: InspectReport["metas"] = [];
    for (let i = 0; i < 2; i++) {
      const buf = new Uint8Array(PAGE_HEADER_SIZE + 64);
      const fd = fs.openSync(path, "r");
      try {
        fs.readSync(fd, buf, 0, buf.length, i * db.pageSize);
        const m = readMeta(new Page(buf));
        metas.push({
          page: i,
          txid: m.txid,
          root: m.root,
          freelist: m.freelist === PGID_NO_FREELIST ? null : m.freelist,
          highWater: m.pgid,
        });
      } catch (error) {
        metas.push({ page: i, error: (error as Error).message });
      } finally {
        fs.closeSync(fd);
      }
    }
    return { file: path, metas, ...pageReport(db) };
  } finally {
    db.close();
  }
}

/** What {@link pageReport} finds in the last committed state of an open db. */
export type PageReport = Omit<InspectReport, "file" | "metas">;

/**
 * The page accounting of the last committed state of an open db: buckets, page counts by type
 * and the histogram of free span lengths. It walks every page of the tree once (a read
 * transaction, so it works on a live db beside its writer).
 */
export function pageReport(db: DB): PageReport {
  const m = db.meta;
  return db.view((tx) => {
    const buckets: _BucketReport[] = [];
    tx.forEach((name, bucket) => buckets.push(_bucketReport(name, bucket)));
    const reachable = db.reachablePages(m);
    let reachableCount = 0;
    for (let i = 0; i < reachable.length; i++) reachableCount += reachable[i]!;
    const pages = {
      total: m.pgid,
      meta: 2,
      freelist: 0,
      branch: 0,
      leaf: 0,
      overflow: 0,
      free: 0,
      unreachable: 0,
    };
    if (m.freelist !== PGID_NO_FREELIST) pages.freelist = 1 + tx.page(m.freelist).overflow;
    tx.root.forEachPage((page) => {
      if (page.isLeaf()) pages.leaf++;
      else pages.branch++;
      pages.overflow += page.overflow;
    });
    const add = (b: _BucketReport) => {
      pages.branch += b.branchPages;
      pages.leaf += b.leafPages;
      pages.overflow += b.overflowPages;
      b.buckets.forEach(add);
    };
    buckets.forEach(add);
    pages.free = db.freelist.freeCount();
    pages.unreachable = m.pgid - reachableCount - pages.free;
    const freeSpans = [...db.freelist.spans.spanHistogram()]
      .map(([length, count]) => ({ length, count }))
      .sort((a, b) => a.length - b.length);
    return {
      fileBytes: db.fileSize(),
      pageSize: db.pageSize,
      meta: {
        txid: m.txid,
        root: m.root,
        freelist: m.freelist === PGID_NO_FREELIST ? null : m.freelist,
        highWater: m.pgid,
        freelistPersisted: m.freelist !== PGID_NO_FREELIST,
      },
      buckets,
      pages,
      freeSpans,
      freelistLoadMs: Math.round(db.stats.freelistLoadMs * 100) / 100,
    };
  });
}

/** The inspector's output for `path`: a text report, or one JSON object with `json`. */
export function inspectDb(path: string, options: { json?: boolean } = {}): string {
  const report = inspectReport(path);
  if (options.json) return JSON.stringify(report);
  const lines: string[] = [];
  lines.push(
    `file        ${report.file} (${report.fileBytes} bytes, page size ${report.pageSize})`,
  );
  for (const meta of report.metas) {
    if ("error" in meta) lines.push(`meta ${meta.page}      invalid: ${meta.error}`);
    else {
      lines.push(
        `meta ${meta.page}      txid ${meta.txid}, root ${meta.root}, freelist ${
          meta.freelist ?? "not persisted"
        }, high-water ${meta.highWater}`,
      );
    }
  }
  lines.push(`in use      meta ${report.meta.txid % 2 === 0 ? 0 : 1} (txid ${report.meta.txid})`);
  lines.push("buckets");
  const printBucket = (b: _BucketReport, indent: string) => {
    const shape = b.inline
      ? "inline"
      : `${b.leafPages} leaf, ${b.branchPages} branch, ${b.overflowPages} overflow pages, depth ${b.depth}`;
    lines.push(`${indent}${b.name.padEnd(20)} ${String(b.keys).padStart(10)} keys  (${shape})`);
    for (const child of b.buckets) printBucket(child, indent + "  ");
  };
  for (const b of report.buckets) printBucket(b, "  ");
  const p = report.pages;
  lines.push(
    `pages       ${p.total} total: ${p.meta} meta, ${p.freelist} freelist, ${p.branch} branch, ${p.leaf} leaf, ${p.overflow} overflow, ${p.free} free, ${p.unreachable} unreachable`,
  );
  lines.push(
    `free        ${p.free} pages (${
      p.free * report.pageSize
    } bytes), freelist loaded in ${report.freelistLoadMs} ms`,
  );
  lines.push("free spans  length: count");
  for (const span of report.freeSpans) {
    lines.push(`  ${String(span.length).padStart(8)}: ${span.count}`);
  }
  return lines.join("\n");
}
