/**
 * The console's files, as strings in the module graph: its own HTML, script and style sheet
 * beside this file, and three browser libraries from npm (text imports, so `deno compile`
 * embeds all of them and nothing is read from disk or fetched from a CDN at run time).
 *
 * Vendored libraries and their licences:
 * - Preact 10.27.2 and its hooks (MIT, Jason Miller and contributors)
 * - htm 3.1.1 (Apache-2.0, Google LLC), tagged templates for Preact, no build step
 * - uPlot 1.6.32 (MIT, Leon Sorokin), time-series charts
 *
 * @module
 */

import indexHtml from "./static/index.html" with { type: "text" };
import appJs from "./static/app.js" with { type: "text" };
import styleCss from "./static/style.css" with { type: "text" };
import preactJs from "preact" with { type: "text" };
import hooksJs from "preact/hooks" with { type: "text" };
import htmJs from "htm" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.esm.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** One file the console serves. */
export interface Asset {
  contentType: string;
  body: string;
}

const _JS = "text/javascript; charset=utf-8";

/**
 * The hooks module imports the bare specifier `preact`; the browser has no import map here
 * (an inline one would need a CSP exception), so the import is pointed at the served file.
 */
function _relinkHooks(source: string): string {
  const relinked = source.replaceAll(/from\s*"preact"/g, 'from"./preact.mjs"');
  if (relinked === source || /["']preact["']/.test(relinked)) {
    throw new Error("ui: preact/hooks no longer imports preact as expected");
  }
  return relinked;
}

const _LICENSES = [
  "The detcd console serves these libraries unchanged (except for one import path in hooks.mjs):",
  "",
  "preact.mjs, hooks.mjs  Preact 10.27.2   MIT License, Copyright (c) 2015-present Jason Miller",
  "htm.mjs                htm 3.1.1        Apache License 2.0, Copyright 2018 Google Inc.",
  "uplot.mjs, uplot.css   uPlot 1.6.32     MIT License, Copyright (c) 2022 Leon Sorokin",
  "",
].join("\n");

/** The console's files by path below `/ui/`. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map<string, Asset>([
  ["", { contentType: "text/html; charset=utf-8", body: indexHtml }],
  ["app.js", { contentType: _JS, body: appJs }],
  ["style.css", { contentType: "text/css; charset=utf-8", body: styleCss }],
  ["vendor/preact.mjs", { contentType: _JS, body: preactJs }],
  ["vendor/hooks.mjs", { contentType: _JS, body: _relinkHooks(hooksJs) }],
  ["vendor/htm.mjs", { contentType: _JS, body: htmJs }],
  ["vendor/uplot.mjs", { contentType: _JS, body: uplotJs }],
  ["vendor/uplot.css", { contentType: "text/css; charset=utf-8", body: uplotCss }],
  ["vendor/LICENSES.txt", { contentType: "text/plain; charset=utf-8", body: _LICENSES }],
]);
