// detcd console: a Preact + htm application with no build step. It talks to the member that
// serves it only through the JSON gateway (/v3/...), /metrics and the read-only
// /ui/api/storage, and to the other members only for their /v3/maintenance/status (no
// credentials). The auth token lives in this module's memory and nowhere else.
import { h, render } from "./vendor/preact.mjs";
import { useCallback, useEffect, useRef, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import uPlot from "./vendor/uplot.mjs";

const html = htm.bind(h);

// ---- bytes ----------------------------------------------------------------------------------

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function toB64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromB64(text) {
  if (!text) return new Uint8Array(0);
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function toHex(bytes, limit = Infinity) {
  const n = Math.min(bytes.length, limit);
  let out = "";
  for (let i = 0; i < n; i++) out += bytes[i].toString(16).padStart(2, "0");
  return out;
}

function fromHex(text) {
  const clean = text.replace(/\s+/g, "").replace(/^0x/i, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error("not a hex string");
  const bytes = new Uint8Array(clean.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** Text when the bytes are UTF-8, else undefined. */
function asText(bytes) {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** A key as the console prints it: its text, or 0x-hex when it is not UTF-8. */
function keyLabel(bytes) {
  const text = asText(bytes);
  return text === undefined || bytes.some((b) => b < 0x20) ? "0x" + toHex(bytes) : text;
}

/** Parses a key typed by the user: `0x...` with the hex box ticked, else UTF-8 text. */
function parseKey(text, hex) {
  return hex ? fromHex(text) : utf8.encode(text);
}

/** The end of the range of every key that starts with `prefix` (etcd's GetPrefixRangeEnd). */
function prefixEnd(prefix) {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]); // every key
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function fmtBytes(n) {
  n = Number(n ?? 0);
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** int64 fields arrive as strings (or, from some servers, numbers); absent means 0. */
function int(value) {
  return value === undefined || value === null || value === "" ? 0n : BigInt(value);
}

function memberHex(id) {
  return int(id).toString(16);
}

// ---- the member's API ----------------------------------------------------------------------

// Who is logged in, and what they may do: `admin` (holds the root role) and `perms` (the
// permissions of their roles, decoded) are learnt after login from UserGet and RoleGet on the
// user's own name and roles, which etcd 3.4 answers for the user itself. Undefined means
// unknown (not logged in, or auth is off).
const session = { token: undefined, user: undefined, admin: undefined, perms: undefined };
const sessionListeners = new Set();
function setSession(token, user) {
  session.token = token;
  session.user = user;
  session.admin = undefined;
  session.perms = undefined;
  for (const listener of sessionListeners) listener();
  if (token !== undefined) {
    loadIdentity(token, user).catch(() => {});
  }
}

/** Learns the logged-in user's roles and permissions (only for the session it was asked for). */
async function loadIdentity(token, user) {
  const got = await api("/v3/auth/user/get", { name: user });
  const roles = got.roles ?? [];
  const perms = [];
  for (const role of roles) {
    const r = await api("/v3/auth/role/get", { role }).catch(() => ({ perm: [] }));
    for (const p of r.perm ?? []) {
      perms.push({
        role,
        type: p.permType ?? "READ",
        key: fromB64(p.key ?? ""),
        rangeEnd: p.range_end ? fromB64(p.range_end) : undefined,
      });
    }
  }
  if (session.token !== token) return;
  session.admin = roles.includes("root");
  session.perms = perms;
  for (const listener of sessionListeners) listener();
}

/** Re-renders the calling component when the session changes. */
function useSession() {
  const [, tick] = useState(0);
  useEffect(() => {
    const listener = () => tick((n) => n + 1);
    sessionListeners.add(listener);
    return () => sessionListeners.delete(listener);
  }, []);
  return session;
}

/** A logged-in user known not to hold the root role. */
function isNonAdmin() {
  return session.user !== undefined && session.admin === false;
}

/** A permission as a line: type, then the key, the prefix (`key*`) or the range. */
function permLabel(p) {
  if (p.rangeEnd === undefined) return `${p.type} ${keyLabel(p.key)}`;
  if (p.key.length > 0 && sameBytes(p.rangeEnd, prefixEnd(p.key))) {
    return `${p.type} ${keyLabel(p.key)}*`;
  }
  if (p.rangeEnd.length === 1 && p.rangeEnd[0] === 0) {
    return `${p.type} ${keyLabel(p.key)} and after`;
  }
  return `${p.type} [${keyLabel(p.key)}, ${keyLabel(p.rangeEnd)})`;
}

class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function authHeaders() {
  return session.token ? { authorization: session.token } : {};
}

/** POSTs `body` to a gateway path of this member and answers the decoded JSON. */
async function api(path, body = {}, options = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeaders() },
    body: JSON.stringify(body),
    credentials: "same-origin",
    signal: options.signal ?? AbortSignal.timeout(options.timeoutMs ?? 15000),
  });
  let json;
  try {
    json = await response.json();
  } catch {
    throw new ApiError(
      `HTTP ${response.status} ${response.statusText}`,
      undefined,
      response.status,
    );
  }
  if (!response.ok || json.error !== undefined) {
    const message = typeof json.error === "string"
      ? json.error
      : json.message ?? `HTTP ${response.status}`;
    throw new ApiError(message, json.code, response.status);
  }
  return json;
}

/** The status of another member, asked at its own client URL: no credentials go there. */
async function remoteStatus(clientUrl) {
  const url = new URL("/v3/maintenance/status", clientUrl);
  if (url.origin === location.origin) return api("/v3/maintenance/status", {}, { timeoutMs: 2000 });
  const response = await fetch(url, {
    method: "POST",
    // text/plain keeps it a simple request (no preflight); the gateway reads JSON anyway.
    headers: { "content-type": "text/plain" },
    body: "{}",
    mode: "cors",
    credentials: "omit",
    referrerPolicy: "no-referrer",
    signal: AbortSignal.timeout(2000),
  });
  const json = await response.json();
  if (!response.ok || json.error !== undefined) {
    throw new ApiError(json.message ?? json.error, json.code, response.status);
  }
  return json;
}

/** Reads a streaming gateway call line by line, calling `onResult` for each result. */
async function stream(path, body, onResult, signal) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeaders() },
    body: JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (!response.ok) {
    const json = await response.json().catch(() => ({}));
    throw new ApiError(
      json.message ?? json.error ?? `HTTP ${response.status}`,
      json.code,
      response.status,
    );
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line === "") continue;
      const message = JSON.parse(line);
      if (message.error) {
        throw new ApiError(message.error.message, message.error.grpc_code, message.error.http_code);
      }
      if (onResult(message.result) === false) {
        reader.cancel();
        return;
      }
    }
  }
}

const kv = {
  range: (body, options) => api("/v3/kv/range", body, options),
  put: (body) => api("/v3/kv/put", body),
  txn: (body) => api("/v3/kv/txn", body),
  deleteRange: (body) => api("/v3/kv/deleterange", body),
};

// ---- small widgets -------------------------------------------------------------------------

function Message({ value }) {
  if (!value) return null;
  return html`<div class=${"msg " + value.kind} role=${
    value.kind === "error" ? "alert" : "status"
  }>${value.text}</div>`;
}

function errorMessage(error) {
  return { kind: "error", text: error instanceof Error ? error.message : String(error) };
}

/** Calls `fn` now and every `ms` while mounted; `fn` gets an abort signal. */
function usePoll(fn, ms, deps) {
  useEffect(() => {
    let stopped = false;
    let timer;
    const run = async () => {
      try {
        await fn();
      } finally {
        if (!stopped) timer = setTimeout(run, ms);
      }
    };
    run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
}

/** Axis numbers in short form (14.3M), so that large values fit beside the chart. */
const COMPACT = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

function Chart({ title, series, data, height = 180, note }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    if (!box.current) return;
    const options = {
      width: Math.max(320, box.current.clientWidth || 400),
      height,
      legend: { show: true },
      series: [
        {},
        ...series.map((s, i) => ({
          label: s,
          stroke: ["#2456c7", "#c7243a", "#1a7f37", "#9a6700"][i % 4],
        })),
      ],
      axes: [{}, { size: 60, values: (_u, ticks) => ticks.map((v) => COMPACT.format(v)) }],
    };
    plot.current = new uPlot(options, data, box.current);
    return () => plot.current?.destroy();
  }, [series.join("|")]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  return html`<div class="chart"><h3>${title}</h3>${
    note ? html`<div class="muted">${note}</div>` : null
  }<div ref=${box}></div></div>`;
}

// ---- Keys ----------------------------------------------------------------------------------

const PAGE_ENTRIES = 50;
const FETCH_KEYS = 200;
const FETCHES_PER_PAGE_MAX = 20;
const VALUE_SHOWN_MAX = 256 * 1024;

/**
 * One page of the tree under `prefix`, starting at `start`: keys and folders (the next `/`
 * segment). A folder is skipped over in one step (the next range starts past its prefix), so
 * a page costs a few range calls of FETCH_KEYS keys however many keys each folder holds.
 */
async function treePage(prefix, start) {
  const end = prefix.length === 0 ? new Uint8Array([0]) : prefixEnd(prefix);
  const from = (key) => toB64(key.length === 0 ? new Uint8Array([0]) : key);
  const entries = [];
  let cursor = start;
  for (
    let fetches = 0;
    fetches < FETCHES_PER_PAGE_MAX && entries.length < PAGE_ENTRIES;
    fetches++
  ) {
    const response = await kv.range({
      key: from(cursor),
      range_end: toB64(end),
      limit: FETCH_KEYS,
      keys_only: true,
    });
    const kvs = response.kvs ?? [];
    if (kvs.length === 0) break;
    for (const item of kvs) {
      const key = fromB64(item.key);
      const rest = key.subarray(prefix.length);
      const slash = rest.indexOf(0x2f);
      if (slash >= 0 && slash < rest.length - 1) {
        const folder = key.subarray(0, prefix.length + slash + 1);
        const last = entries[entries.length - 1];
        if (last && last.folder && sameBytes(last.key, folder)) {
          last.count++;
          continue;
        }
        if (entries.length >= PAGE_ENTRIES) break;
        entries.push({ folder: true, key: folder, count: 1 });
      } else {
        if (entries.length >= PAGE_ENTRIES) break;
        entries.push({ folder: false, key });
      }
    }
    const last = entries[entries.length - 1];
    // Past a folder in one step; past a key by appending a zero byte.
    cursor = last.folder ? prefixEnd(last.key) : concat(last.key, new Uint8Array([0]));
    if (response.more !== true && !last.folder) break;
  }
  // One more call tells whether anything follows the page.
  const next = await kv.range({
    key: from(cursor),
    range_end: toB64(end),
    limit: 1,
    keys_only: true,
    count_only: false,
  });
  return { entries, next: entries.length > 0 && (next.kvs ?? []).length > 0 ? cursor : undefined };
}

function Breadcrumbs({ prefix, onGo }) {
  const parts = [];
  let start = 0;
  for (let i = 0; i < prefix.length; i++) {
    if (prefix[i] === 0x2f) {
      parts.push(prefix.subarray(0, i + 1));
      start = i + 1;
    }
  }
  const tail = prefix.subarray(start);
  return html`<div class="crumbs row" aria-label="prefix">
    <button onClick=${() => onGo(new Uint8Array(0))}>(root)</button>
    ${
    parts.map((p) => html`<span>›</span><button onClick=${() => onGo(p)}>${keyLabel(p)}</button>`)
  }
    ${tail.length > 0 ? html`<span>›</span><span class="mono">${keyLabel(tail)}…</span>` : null}
  </div>`;
}

/**
 * For a logged-in user without the root role: the keys and prefixes their roles let them read,
 * each a button that opens it (etcd refuses a range that is not wholly inside a permission, so
 * browsing from the top fails for them).
 */
function Readable({ onGo }) {
  useSession();
  if (!isNonAdmin() || session.perms === undefined) return null;
  const readable = session.perms.filter((p) => p.type !== "WRITE");
  return html`
    <div class="row" data-testid="readable">
      <span class="muted">${session.user} may read:</span>
      ${readable.length === 0 ? html`<span class="muted">nothing</span>` : null}
      ${readable.map((p) =>
        html`<button class="act" type="button" onClick=${() => onGo(p.key)}>${
          permLabel({ ...p, type: "" }).trim()
        }</button>`
      )}
    </div>
  `;
}

function KeysView() {
  const [prefix, setPrefix] = useState(new Uint8Array(0));
  const [search, setSearch] = useState("");
  const [pages, setPages] = useState([new Uint8Array(0)]); // start key of each page seen
  const [page, setPage] = useState(undefined);
  const [count, setCount] = useState(undefined);
  const [focus, setFocus] = useState(0);
  const [selected, setSelected] = useState(undefined);
  const [message, setMessage] = useState(undefined);
  const [renderMs, setRenderMs] = useState(undefined);
  const [reload, setReload] = useState(0);
  const list = useRef(null);
  // Each page load and each count takes a number; only the latest one's answer is shown.
  // Without it, a slow answer for an older prefix (the tree of the top, asked when the view
  // opened) arriving after a newer search's would replace it under the newer prefix.
  const latestLoad = useRef(0);
  const latestCount = useRef(0);

  const load = useCallback(async (start) => {
    const began = performance.now();
    const mine = ++latestLoad.current;
    try {
      const result = await treePage(prefix, start);
      if (mine !== latestLoad.current) return;
      setPage({ ...result, prefix });
      setFocus(0);
      requestAnimationFrame(() => setRenderMs(Math.round(performance.now() - began)));
    } catch (error) {
      if (mine !== latestLoad.current) return;
      setMessage(errorMessage(error));
      setPage({ entries: [], next: undefined, prefix });
    }
  }, [prefix]);

  useEffect(() => {
    setPages([prefix]);
    load(prefix);
    const mine = ++latestCount.current;
    const shown = (count) => mine === latestCount.current && setCount(count);
    kv.range({
      key: toB64(prefix.length ? prefix : new Uint8Array([0])),
      range_end: toB64(prefix.length ? prefixEnd(prefix) : new Uint8Array([0])),
      count_only: true,
    })
      .then((r) => shown(Number(int(r.count))), () => shown(undefined));
  }, [prefix, reload]);

  const open = (entry) => {
    if (!entry) return;
    if (entry.folder) {
      setPrefix(entry.key);
      setSearch(keyLabel(entry.key));
    } else setSelected(entry.key);
  };

  const onKeyDown = (event) => {
    const entries = page?.entries ?? [];
    if (event.key === "ArrowDown") setFocus((f) => Math.min(entries.length - 1, f + 1));
    else if (event.key === "ArrowUp") setFocus((f) => Math.max(0, f - 1));
    else if (event.key === "Enter") open(entries[focus]);
    else if (event.key === "Backspace") {
      const upTo = prefix.subarray(0, prefix.length - 1).lastIndexOf(0x2f);
      setPrefix(prefix.subarray(0, upTo + 1));
    } else return;
    event.preventDefault();
  };

  useEffect(() => {
    list.current?.querySelector(`[data-index="${focus}"]`)?.scrollIntoView({ block: "nearest" });
  }, [focus]);

  const pageIndex = pages.length - 1;
  return html`
    <div class="cols">
      <section class="panel" aria-label="key tree">
        <h2>Keys</h2>
        <form class="row" onSubmit=${(e) => {
          e.preventDefault();
          setMessage(undefined);
          setPrefix(utf8.encode(search));
        }}>
          <label class="sr-only" for="prefix-search">prefix</label>
          <input id="prefix-search" placeholder="prefix, e.g. /registry/" value=${search}
            onInput=${(e) => setSearch(e.target.value)} />
          <button class="act" type="submit">Search</button>
          <button class="act" type="button" onClick=${() =>
            setReload((n) => n + 1)}>Refresh</button>
        </form>
        <${Breadcrumbs} prefix=${prefix} onGo=${(p) => {
          setPrefix(p);
          setSearch(keyLabel(p));
        }} />
        <div class="row muted">
          <span data-testid="key-count">${count === undefined
            ? ""
            : `${count.toLocaleString()} keys under this prefix`}</span>
          <span data-testid="render-ms">${renderMs === undefined
            ? ""
            : `page in ${renderMs} ms`}</span>
        </div>
        <${Message} value=${message} />
        <${Readable} onGo=${(p) => {
          setMessage(undefined);
          setPrefix(p);
          setSearch(keyLabel(p));
        }} />
        <ul class="keys" role="listbox" tabindex="0" aria-label="keys" ref=${list}
          data-prefix=${page === undefined ? undefined : keyLabel(page.prefix)}
          onKeyDown=${onKeyDown}
          aria-activedescendant=${"key-" + focus}>
            ${(page?.entries ?? []).map((entry, index) =>
              html`
                <li role="option" id=${"key-" + index} data-index=${index}
                  aria-selected=${index === focus ? "true" : "false"}
                  onClick=${() => {
                    setFocus(index);
                    open(entry);
                  }}>
                            ${entry.folder
                              ? html`<span class="dir">${
                                keyLabel(entry.key.subarray(page.prefix.length))
                              }</span><span class="count">${
                                entry.count === 1 ? "" : `${entry.count}+ keys`
                              }</span>`
                              : html`<span class="mono">${
                                keyLabel(entry.key.subarray(page.prefix.length)) || "(this key)"
                              }</span>`}
                          </li>
              `
            )}
            ${page && page.entries.length === 0 ? html`<li class="muted">no keys</li>` : null}
          </ul>
        <div class="row">
          <button class="act" disabled=${pageIndex === 0} onClick=${() => {
            const previous = pages.slice(0, -1);
            setPages(previous);
            load(previous[previous.length - 1]);
          }}>‹ Previous</button>
          <span class="muted">page ${pageIndex + 1}</span>
          <button class="act" disabled=${!page?.next || page.prefix !== prefix} onClick=${() => {
            setPages([...pages, page.next]);
            load(page.next);
          }}>Next ›</button>
          <${DeletePrefix} prefix=${prefix} onDone=${() => setReload((n) => n + 1)} />
        </div>
      </section>
      <div>
          ${selected
            ? html`<${KeyDetail} key=${toB64(selected)} keyBytes=${selected} onChanged=${() =>
              setReload((n) => n + 1)} onClose=${() => setSelected(undefined)} />`
            : null}
          <${CreateKey} prefix=${prefix} onCreated=${(key) => {
            setReload((n) => n + 1);
            setSelected(key);
          }} />
        </div>
    </div>
  `;
}

function DeletePrefix({ prefix, onDone }) {
  const [pending, setPending] = useState(undefined);
  const [message, setMessage] = useState(undefined);
  if (prefix.length === 0) return null;
  const range = { key: toB64(prefix), range_end: toB64(prefixEnd(prefix)) };
  return html`<span>
    ${
    pending === undefined
      ? html`<button class="act danger" onClick=${async () => {
        setMessage(undefined);
        try {
          const r = await kv.range({ ...range, count_only: true });
          setPending(Number(int(r.count)));
        } catch (error) {
          setMessage(errorMessage(error));
        }
      }}>Delete prefix…</button>`
      : html`<span role="alertdialog" aria-label="confirm delete">
          Delete <b data-testid="delete-count">${pending.toLocaleString()}</b> keys under <span class="mono">${
        keyLabel(prefix)
      }</span>?
          <button class="act danger" onClick=${async () => {
        try {
          const r = await kv.deleteRange(range);
          setMessage({ kind: "ok", text: `deleted ${int(r.deleted)} keys` });
          onDone();
        } catch (error) {
          setMessage(errorMessage(error));
        }
        setPending(undefined);
      }}>Delete ${pending}</button>
          <button class="act" onClick=${() => setPending(undefined)}>Cancel</button>
        </span>`
  }
    <${Message} value=${message} />
  </span>`;
}

function ValueView({ bytes, mode }) {
  const [all, setAll] = useState(false);
  const shown = all ? bytes : bytes.subarray(0, VALUE_SHOWN_MAX);
  const cut = shown.length < bytes.length;
  let body;
  if (mode === "hex") {
    const hex = toHex(shown);
    body = hex.replace(/(.{64})/g, "$1\n");
  } else {
    const text = asText(bytes) === undefined ? undefined : new TextDecoder().decode(shown);
    if (text === undefined) {
      body = "(not UTF-8: shown as hex)\n" + toHex(shown).replace(/(.{64})/g, "$1\n");
    } else if (mode === "json") {
      try {
        body = JSON.stringify(JSON.parse(new TextDecoder().decode(bytes)), null, 2);
      } catch (error) {
        body = `(not JSON: ${error.message})\n${text}`;
      }
    } else body = text;
  }
  return html`<div>
    <pre class="value" data-testid="value">${body}</pre>
    ${
    cut
      ? html`<div class="row muted">showing ${fmtBytes(shown.length)} of ${fmtBytes(bytes.length)}
      <button class="act" onClick=${() => setAll(true)}>Show all</button></div>`
      : null
  }
  </div>`;
}

function KeyDetail({ keyBytes, onChanged, onClose }) {
  const [item, setItem] = useState(undefined);
  const [mode, setMode] = useState("text");
  const [draft, setDraft] = useState(undefined);
  const [message, setMessage] = useState(undefined);
  const [history, setHistory] = useState(undefined);
  const [leaseText, setLeaseText] = useState("");
  const [confirming, setConfirming] = useState(false);
  const keyB64 = toB64(keyBytes);

  const reload = useCallback(async () => {
    try {
      const r = await kv.range({ key: keyB64 });
      setItem((r.kvs ?? [])[0] ?? null);
    } catch (error) {
      setMessage(errorMessage(error));
    }
  }, [keyB64]);
  useEffect(() => {
    setDraft(undefined);
    setHistory(undefined);
    setMessage(undefined);
    reload();
  }, [keyB64]);

  if (item === undefined) {
    return html`
      <section class="panel">
        <h2>Loading…</h2>
      </section>
    `;
  }
  if (item === null) {
    return html`
      <section
        class="panel"><h2 class="mono">${keyLabel(
          keyBytes,
        )}</h2><p class="muted">This key does not exist (any more).</p>
            <button class="act" onClick=${onClose}>Close</button><${Message} value=${message} /></section>
    `;
  }
  const value = fromB64(item.value);
  const save = async () => {
    const bytes = mode === "hex" ? fromHex(draft) : utf8.encode(draft);
    // The save is a txn on the key's mod revision: a concurrent change fails the compare.
    const put = { key: keyB64, value: toB64(bytes) };
    if (int(item.lease) !== 0n) put.lease = item.lease;
    try {
      const r = await kv.txn({
        compare: [{
          target: "MOD",
          result: "EQUAL",
          key: keyB64,
          mod_revision: item.mod_revision ?? "0",
        }],
        success: [{ request_put: put }],
        failure: [{ request_range: { key: keyB64 } }],
      });
      if (r.succeeded) {
        setMessage({ kind: "ok", text: `saved at revision ${r.header?.revision}` });
        setDraft(undefined);
        await reload();
        onChanged();
      } else {
        const now = r.responses?.[0]?.response_range?.kvs?.[0];
        setMessage({
          kind: "error",
          text: now
            ? `conflict: the key changed since you opened it (mod revision ${item.mod_revision} → ${now.mod_revision}); your edit was not saved`
            : "conflict: the key was deleted since you opened it; your edit was not saved",
        });
      }
    } catch (error) {
      setMessage(errorMessage(error));
    }
  };
  return html`<section class="panel" aria-label="key detail">
    <h2 class="mono" data-testid="detail-key">${keyLabel(keyBytes)}</h2>
    <table><tbody>
      <tr><th>create revision</th><td>${item.create_revision}</td><th>mod revision</th><td data-testid="mod-revision">${item.mod_revision}</td></tr>
      <tr><th>version</th><td>${item.version}</td><th>lease</th><td>${
    int(item.lease) === 0n ? "none" : int(item.lease).toString(16) + ` (${item.lease})`
  }</td></tr>
      <tr><th>size</th><td>${fmtBytes(value.length)}</td><th></th><td></td></tr>
    </tbody></table>
    <div class="row" role="radiogroup" aria-label="value format">
      ${
    ["text", "json", "hex"].map((m) =>
      html`<label><input type="radio" name="mode" checked=${mode === m} onChange=${() =>
        setMode(m)} /> ${m}</label>`
    )
  }
    </div>
    ${
    draft === undefined
      ? html`
        <${ValueView} bytes=${value} mode=${mode} />
        <div class="row">
          <button class="act primary" onClick=${() =>
            setDraft(mode === "hex" ? toHex(value) : new TextDecoder().decode(value))}>Edit</button>
          <button class="act" onClick=${() =>
            setHistory(history ? undefined : "load")}>History</button>
          ${confirming
            ? html`<span role="alertdialog" aria-label="confirm key delete">Delete this key?
              <button class="act danger" onClick=${async () => {
              setConfirming(false);
              try {
                await kv.deleteRange({ key: keyB64 });
                onChanged();
                await reload();
              } catch (error) {
                setMessage(errorMessage(error));
              }
            }}>Delete key</button>
              <button class="act" onClick=${() => setConfirming(false)}>Keep</button></span>`
            : html`<button class="act danger" onClick=${() => setConfirming(true)}>Delete</button>`}
          <button class="act" onClick=${onClose}>Close</button>
        </div>
      `
      : html`
        <label class="sr-only" for="value-edit">value</label>
        <textarea id="value-edit" value=${draft} onInput=${(e) =>
          setDraft(e.target.value)}></textarea>
        <div class="row">
          <button class="act primary" onClick=${save}>Save</button>
          <button class="act" onClick=${() => setDraft(undefined)}>Cancel</button>
          <span class="muted">saved only if nobody changed the key since mod revision ${item
            .mod_revision}</span>
        </div>
      `
  }
    <form class="row" onSubmit=${async (e) => {
    e.preventDefault();
    try {
      const lease = leaseText.trim() === ""
        ? "0"
        : BigInt(leaseText.trim().startsWith("0x") ? leaseText.trim() : "0x" + leaseText.trim())
          .toString();
      await kv.put({ key: keyB64, lease, ignore_value: true });
      setMessage({
        kind: "ok",
        text: lease === "0" ? "lease detached" : `attached to lease ${leaseText.trim()}`,
      });
      await reload();
    } catch (error) {
      setMessage(errorMessage(error));
    }
  }}>
      <label for="attach-lease">lease (hex)</label>
      <input id="attach-lease" class="mono" size="18" value=${leaseText} onInput=${(e) =>
    setLeaseText(e.target.value)} />
      <button class="act" type="submit">Attach lease</button>
    </form>
    <${Message} value=${message} />
    ${history ? html`<${History} keyB64=${keyB64} item=${item} mode=${mode} />` : null}
  </section>`;
}

/** Line diff of two texts (LCS over lines), bounded so a huge value cannot stall the page. */
function lineDiff(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length * b.length > 250000) return [{ op: "note", text: "(too large to diff)" }];
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: " ", text: a[i++] });
      j++;
    } else if (j < b.length && (i === a.length || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out.push({ op: "+", text: b[j++] });
    } else out.push({ op: "-", text: a[i++] });
  }
  return out;
}

const HISTORY_VERSIONS_MAX = 20;

function History({ keyB64, item }) {
  const [versions, setVersions] = useState(undefined);
  const [note, setNote] = useState(undefined);
  const [shown, setShown] = useState(0);
  useEffect(() => {
    let cancelled = false;
    (async () => {
      // Walk back through the key's past: the value just before each mod revision.
      const found = [item];
      let current = item;
      try {
        while (found.length < HISTORY_VERSIONS_MAX && int(current.version) > 1n) {
          const r = await kv.range({
            key: keyB64,
            revision: (int(current.mod_revision) - 1n).toString(),
          });
          const older = (r.kvs ?? [])[0];
          if (!older) break;
          found.push(older);
          current = older;
        }
      } catch (error) {
        setNote(/compacted/.test(error.message) ? "older revisions are compacted" : error.message);
      }
      if (!cancelled) setVersions(found);
    })();
    return () => (cancelled = true);
  }, [keyB64, item.mod_revision]);
  if (!versions) return html`<p class="muted">loading history…</p>`;
  const chosen = versions[shown];
  const previous = versions[shown + 1];
  const text = (v) => (v ? asText(fromB64(v.value)) ?? "0x" + toHex(fromB64(v.value)) : "");
  const diff = lineDiff(text(previous), text(chosen));
  return html`<div aria-label="history">
    <h2>History</h2>
    <table><thead><tr><th>mod revision</th><th>version</th><th>size</th></tr></thead><tbody>
      ${
    versions.map((v, i) =>
      html`
        <tr aria-selected=${i === shown} tabindex="0" onClick=${() => setShown(i)}
          onKeyDown=${(e) => e.key === "Enter" && setShown(i)} style=${i === shown
            ? "background:#e4ecfb"
            : ""}>
          <td>${v.mod_revision}</td>
          <td>${v.version}</td>
          <td>${fmtBytes(fromB64(v.value).length)}</td>
        </tr>
      `
    )
  }
    </tbody></table>
    ${note ? html`<div class="msg warn">${note}</div>` : null}
    <h2>Diff ${
    previous
      ? `rev ${previous.mod_revision} → ${chosen.mod_revision}`
      : `(first version, rev ${chosen.mod_revision})`
  }</h2>
    <pre class="value diff" data-testid="diff">${
    diff.map((line) =>
      html`<div class=${
        line.op === "+" ? "add" : line.op === "-" ? "del" : ""
      }>${line.op} ${line.text}</div>`
    )
  }</pre>
  </div>`;
}

function CreateKey({ prefix, onCreated }) {
  const [key, setKey] = useState("");
  const [hexKey, setHexKey] = useState(false);
  const [value, setValue] = useState("");
  const [lease, setLease] = useState("");
  const [message, setMessage] = useState(undefined);
  useEffect(() => setKey(keyLabel(prefix)), [prefix]);
  return html`
    <section class="panel" aria-label="create key">
      <h2>Create a key</h2>
      <form onSubmit=${async (e) => {
        e.preventDefault();
        try {
          const bytes = parseKey(key, hexKey);
          if (bytes.length === 0) throw new Error("the key is empty");
          const put = { key: toB64(bytes), value: toB64(utf8.encode(value)) };
          if (lease.trim() !== "") {
            put.lease = BigInt("0x" + lease.trim().replace(/^0x/, "")).toString();
          }
          const r = await kv.txn({
            compare: [{ target: "CREATE", result: "EQUAL", key: put.key, create_revision: "0" }],
            success: [{ request_put: put }],
          });
          if (!r.succeeded) throw new Error("the key already exists; open it to edit it");
          setMessage({ kind: "ok", text: `created at revision ${r.header?.revision}` });
          onCreated(bytes);
        } catch (error) {
          setMessage(errorMessage(error));
        }
      }}>
        <div class="row">
          <label for="new-key">key</label>
          <input id="new-key" class="mono" size="40" value=${key} onInput=${(e) =>
            setKey(e.target.value)} />
          <label><input type="checkbox" checked=${hexKey} onChange=${(e) =>
            setHexKey(e.target.checked)} /> hex</label>
        </div>
        <label class="sr-only" for="new-value">value</label>
        <textarea id="new-value" placeholder="value" value=${value} onInput=${(e) =>
          setValue(e.target.value)}></textarea>
        <div class="row">
          <label for="new-lease">lease (hex, optional)</label>
          <input id="new-lease" class="mono" size="18" value=${lease} onInput=${(e) =>
            setLease(e.target.value)} />
          <button class="act primary" type="submit">Create</button>
        </div>
      </form>
      <${Message} value=${message} />
    </section>
  `;
}

// ---- Watch ---------------------------------------------------------------------------------

const WATCH_EVENTS_KEPT = 500;

function WatchView() {
  const [key, setKey] = useState("");
  const [prefixMode, setPrefixMode] = useState(true);
  const [startRev, setStartRev] = useState("");
  const [running, setRunning] = useState(false);
  const [paused, setPaused] = useState(false);
  const [events, setEvents] = useState([]);
  const [held, setHeld] = useState(0);
  const [message, setMessage] = useState(undefined);
  const control = useRef(undefined);
  const pausedRef = useRef(false);
  const buffer = useRef([]);

  const stop = () => {
    control.current?.abort();
    control.current = undefined;
    setRunning(false);
  };
  useEffect(() => stop, []);

  const start = async () => {
    stop();
    const bytes = utf8.encode(key);
    const request = { key: toB64(bytes.length ? bytes : new Uint8Array([0])), prev_kv: true };
    if (prefixMode) {
      request.range_end = toB64(bytes.length ? prefixEnd(bytes) : new Uint8Array([0]));
    }
    if (startRev.trim() !== "") request.start_revision = startRev.trim();
    const abort = new AbortController();
    control.current = abort;
    setRunning(true);
    setMessage(undefined);
    try {
      await stream("/v3/watch", { create_request: request }, (result) => {
        if (result.created) {
          setMessage({
            kind: "ok",
            text: `watching from revision ${int(result.header?.revision) + 1n}`,
          });
        }
        if (result.canceled) {
          setMessage({ kind: "error", text: `watch canceled: ${result.cancel_reason ?? ""}` });
        }
        if (result.compact_revision && int(result.compact_revision) > 0n) {
          setMessage({
            kind: "error",
            text: `revision compacted (oldest: ${result.compact_revision})`,
          });
        }
        const incoming = (result.events ?? []).map((e) => ({ ...e, at: Date.now() }));
        if (incoming.length === 0) return;
        if (pausedRef.current) {
          buffer.current.push(...incoming);
          setHeld(buffer.current.length);
        } else setEvents((old) => [...incoming.reverse(), ...old].slice(0, WATCH_EVENTS_KEPT));
      }, abort.signal);
    } catch (error) {
      if (error.name !== "AbortError") setMessage(errorMessage(error));
    } finally {
      if (control.current === abort) setRunning(false);
    }
  };

  const togglePause = () => {
    const next = !pausedRef.current;
    pausedRef.current = next;
    setPaused(next);
    if (!next && buffer.current.length > 0) {
      const flushed = buffer.current.reverse();
      buffer.current = [];
      setHeld(0);
      setEvents((old) => [...flushed, ...old].slice(0, WATCH_EVENTS_KEPT));
    }
  };

  return html`
    <section class="panel" aria-label="watch">
      <h2>Watch</h2>
      <form class="row" onSubmit=${(e) => {
        e.preventDefault();
        start();
      }}>
        <label for="watch-key">key</label>
        <input id="watch-key" class="mono" size="32" value=${key} onInput=${(e) =>
          setKey(e.target.value)} />
        <label><input type="checkbox" checked=${prefixMode} onChange=${(e) =>
          setPrefixMode(e.target.checked)} /> prefix</label>
        <label for="watch-rev">from revision</label>
        <input id="watch-rev" size="8" value=${startRev} onInput=${(e) =>
          setStartRev(e.target.value)} />
        <button class="act primary" type="submit">${running ? "Restart" : "Start"}</button>
        <button class="act" type="button" disabled=${!running} onClick=${togglePause}>${paused
          ? `Resume (${held} held)`
          : "Pause"}</button>
        <button class="act" type="button" disabled=${!running} onClick=${stop}>Stop</button>
        <button class="act" type="button" onClick=${() => setEvents([])}>Clear</button>
      </form>
      <${Message} value=${message} />
      <table aria-label="events">
        <thead>
          <tr>
            <th>revision</th>
            <th>type</th>
            <th>key</th>
            <th>value</th>
            <th>previous</th>
          </tr>
        </thead>
        <tbody data-testid="watch-events">
            ${events.map((e) => {
              const value = fromB64(e.kv?.value);
              const prev = e.prev_kv ? fromB64(e.prev_kv.value) : undefined;
              const type = e.type ?? "PUT";
              return html`
                <tr>
                  <td>${e.kv?.mod_revision}</td>
                  <td><span class=${"badge " + type.toLowerCase()}>${type}</span></td>
                  <td class="mono">${keyLabel(fromB64(e.kv?.key))}</td>
                  <td class="mono">${preview(value)}</td>
                  <td class="mono muted">${prev ? preview(prev) : ""}</td>
                </tr>
              `;
            })}
          </tbody>
      </table>
    </section>
  `;
}

function preview(bytes) {
  const text = asText(bytes.subarray(0, 120));
  const shown = text ?? "0x" + toHex(bytes, 40);
  return bytes.length > 120 ? shown + "…" : shown;
}

// ---- Leases --------------------------------------------------------------------------------

function LeasesView() {
  const [leases, setLeases] = useState([]);
  const [message, setMessage] = useState(undefined);
  const [ttl, setTtl] = useState("60");
  const [now, setNow] = useState(Date.now());
  const refresh = async () => {
    try {
      const r = await api("/v3/lease/leases");
      const ids = (r.leases ?? []).map((l) => l.ID);
      const details = await Promise.all(
        ids.map((id) =>
          api("/v3/lease/timetolive", { ID: id, keys: true }).then(
            (d) => ({
              id,
              ttl: Number(int(d.TTL)),
              granted: Number(int(d.grantedTTL)),
              keys: (d.keys ?? []).map(fromB64),
              at: Date.now(),
            }),
            (error) => ({ id, error: error.message }),
          )
        ),
      );
      setLeases(details);
    } catch (error) {
      setMessage(errorMessage(error));
    }
  };
  usePoll(refresh, 5000, []);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const keepAlive = async (id) => {
    const abort = new AbortController();
    try {
      await stream("/v3/lease/keepalive", { ID: id }, (result) => {
        setMessage({
          kind: "ok",
          text: `lease ${int(id).toString(16)} kept alive, TTL ${int(result.TTL)} s`,
        });
        return false;
      }, abort.signal);
      await refresh();
    } catch (error) {
      setMessage(errorMessage(error));
    }
  };
  return html`<section class="panel" aria-label="leases">
    <h2>Leases</h2>
    <form class="row" onSubmit=${async (e) => {
    e.preventDefault();
    try {
      const r = await api("/v3/lease/grant", { TTL: ttl });
      setMessage({
        kind: "ok",
        text: `granted lease ${int(r.ID).toString(16)} with TTL ${r.TTL} s`,
      });
      await refresh();
    } catch (error) {
      setMessage(errorMessage(error));
    }
  }}>
      <label for="lease-ttl">TTL (s)</label>
      <input id="lease-ttl" size="6" value=${ttl} onInput=${(e) => setTtl(e.target.value)} />
      <button class="act primary" type="submit">Grant</button>
      <button class="act" type="button" onClick=${refresh}>Refresh</button>
    </form>
    <${Message} value=${message} />
    <table><thead><tr><th>ID (hex)</th><th class="num">remaining</th><th class="num">granted</th><th>keys</th><th></th></tr></thead>
      <tbody data-testid="leases">
        ${
    leases.map((l) =>
      html`<tr>
          <td class="mono">${int(l.id).toString(16)}</td>
          ${
        l.error ? html`<td colspan="3" class="muted">${l.error}</td>` : html`
          <td class="num" data-testid="lease-ttl">${Math.max(
            0,
            l.ttl - Math.floor((now - l.at) / 1000),
          )} s</td>
          <td class="num">${l.granted} s</td>
          <td class="mono">${l.keys.slice(0, 20).map(keyLabel).join(", ")}${l.keys.length > 20
            ? ` … (${l.keys.length})`
            : ""}</td>
        `
      }
          <td><button class="act" onClick=${() => keepAlive(l.id)}>Keep alive</button>
            <button class="act danger" onClick=${async () => {
        try {
          await api("/v3/lease/revoke", { ID: l.id });
          setMessage({ kind: "ok", text: `revoked lease ${int(l.id).toString(16)}` });
          await refresh();
        } catch (error) {
          setMessage(errorMessage(error));
        }
      }}>Revoke</button></td>
        </tr>`
    )
  }
      </tbody></table>
    ${leases.length === 0 ? html`<p class="muted">no leases</p>` : null}
  </section>`;
}

// ---- Cluster -------------------------------------------------------------------------------

function ClusterView() {
  const [members, setMembers] = useState([]);
  const [statuses, setStatuses] = useState({});
  const [self, setSelf] = useState(undefined);
  const [message, setMessage] = useState(undefined);
  const [peerUrls, setPeerUrls] = useState("");
  const [learner, setLearner] = useState(true);
  const refresh = async () => {
    let list = members;
    try {
      const r = await api("/v3/cluster/member/list", {}, { timeoutMs: 3000 });
      list = r.members ?? [];
      setMembers(list);
      setSelf(r.header?.member_id);
    } catch (error) {
      setMessage(errorMessage(error));
    }
    const entries = await Promise.all(list.map(async (m) => {
      const url = (m.clientURLs ?? [])[0];
      if (!url) return [m.ID, { error: "not started (no client URL yet)" }];
      try {
        return [m.ID, { status: await remoteStatus(url) }];
      } catch (error) {
        return [m.ID, {
          error: error.name === "TimeoutError"
            ? "unreachable (timed out)"
            : `unreachable: ${error.message}`,
        }];
      }
    }));
    setStatuses(Object.fromEntries(entries));
  };
  usePoll(refresh, 2000, []);
  const leaderId = Object.values(statuses).map((s) => s.status?.leader).find((l) =>
    l && int(l) !== 0n
  );
  const selfIsLeader = self !== undefined && leaderId !== undefined && int(self) === int(leaderId);
  const act = async (path, body, done) => {
    setMessage(undefined);
    try {
      await api(path, body, { timeoutMs: 20000 });
      setMessage({ kind: "ok", text: done });
      await refresh();
    } catch (error) {
      setMessage(errorMessage(error));
    }
  };
  return html`<section class="panel" aria-label="cluster">
    <h2>Cluster</h2>
    <${Message} value=${message} />
    <table><thead><tr><th>member</th><th>name</th><th>role</th><th class="num">term</th><th class="num">raft index</th>
      <th class="num">applied</th><th class="num">db size</th><th>version</th><th>health</th><th>client URLs</th><th></th></tr></thead>
      <tbody data-testid="members">
        ${
    members.map((m) => {
      const s = statuses[m.ID];
      const st = s?.status;
      const isLeader = leaderId !== undefined && int(m.ID) === int(leaderId);
      const healthy = st && !(st.errors ?? []).length;
      return html`
        <tr data-member=${memberHex(m.ID)}>
          <td class="mono">${memberHex(m.ID)}${self && int(self) === int(m.ID)
            ? " (this)"
            : ""}</td>
          <td>${m.name || html`<span class="muted">unstarted</span>`}</td>
          <td>${m.isLearner
            ? html`<span class="badge">learner</span>`
            : isLeader
            ? html`<span class="badge leader">leader</span>`
            : html`<span class="badge">follower</span>`}</td>
          <td class="num">${st?.raftTerm ?? ""}</td>
          <td class="num">${st?.raftIndex ?? ""}</td>
          <td class="num">${st?.raftAppliedIndex ?? ""}</td>
          <td class="num">${st ? fmtBytes(st.dbSize) : ""}</td>
          <td>${st?.version ?? ""}</td>
          <td data-testid="health">${s === undefined
            ? "…"
            : healthy
            ? html`<span class="badge good">healthy</span>`
            : html`<span class="badge bad">${s.error ?? (st.errors ?? []).join("; ")}</span>`}</td>
          <td class="mono">${(m.clientURLs ?? []).join(", ")}</td>
          <td>
                      ${!isLeader && !m.isLearner && selfIsLeader
                        ? html`<button class="act" onClick=${() =>
                          act(
                            "/v3/maintenance/transfer-leadership",
                            { targetID: m.ID },
                            `leadership moved to ${memberHex(m.ID)}`,
                          )}>Make leader</button>`
                        : null}
                      ${m.isLearner
                        ? html`<button class="act" onClick=${() =>
                          act(
                            "/v3/cluster/member/promote",
                            { ID: m.ID },
                            `promoted ${memberHex(m.ID)}`,
                          )}>Promote</button>`
                        : null}
                      <button class="act danger" onClick=${() =>
                        act(
                          "/v3/cluster/member/remove",
                          { ID: m.ID },
                          `removed ${memberHex(m.ID)}`,
                        )}>Remove</button>
                    </td>
        </tr>
      `;
    })
  }
      </tbody></table>
    ${
    !selfIsLeader && leaderId
      ? html`
        <p
          class="muted">Leadership can only be moved from the leader's console (it holds your token only for this member).</p>
      `
      : null
  }
    <form class="row" onSubmit=${(e) => {
    e.preventDefault();
    act("/v3/cluster/member/add", {
      peerURLs: peerUrls.split(",").map((u) => u.trim()).filter(Boolean),
      isLearner: learner,
    }, "member added");
  }}>
      <label for="peer-urls">peer URLs</label>
      <input id="peer-urls" class="mono" size="40" placeholder="http://10.0.0.4:2380" value=${peerUrls} onInput=${(
    e,
  ) => setPeerUrls(e.target.value)} />
      <label><input type="checkbox" checked=${learner} onChange=${(e) =>
    setLearner(e.target.checked)} /> as learner</label>
      <button class="act primary" type="submit">Add member</button>
    </form>
  </section>`;
}

// ---- Storage -------------------------------------------------------------------------------

const HISTORY_POINTS = 300;

function StorageView() {
  useSession();
  if (isNonAdmin()) {
    return html`
      <section class="panel" aria-label="storage">
        <h2>Storage</h2>
        <div class="msg warn" data-testid="storage-root-only">The storage view needs the root role
          (its page file report, compaction, defragmentation and alarms are for root only when
          auth is on); ${session.user} does not hold it.</div>
      </section>
    `;
  }
  return html`<${StorageAdmin} />`;
}

function StorageAdmin() {
  const [status, setStatus] = useState(undefined);
  const [series, setSeries] = useState([[], [], []]);
  const [alarms, setAlarms] = useState([]);
  const [report, setReport] = useState(undefined);
  const [message, setMessage] = useState(undefined);
  const [defrag, setDefrag] = useState(undefined);
  const [compactRev, setCompactRev] = useState("");
  const [physical, setPhysical] = useState(true);
  const defragRunning = useRef(false);

  usePoll(
    async () => {
      try {
        const s = await api("/v3/maintenance/status", {}, { timeoutMs: 3000 });
        setStatus(s);
        setSeries(([t, a, b]) => [
          [...t, Date.now() / 1000].slice(-HISTORY_POINTS),
          [...a, Number(int(s.dbSize))].slice(-HISTORY_POINTS),
          [...b, Number(int(s.dbSizeInUse))].slice(-HISTORY_POINTS),
        ]);
        const r = await api("/v3/maintenance/alarm", { action: "GET" });
        setAlarms(r.alarms ?? []);
      } catch (error) {
        setMessage(errorMessage(error));
      }
    },
    2000,
    [],
  );
  const loadReport = async () => {
    const response = await fetch("/ui/api/storage", {
      credentials: "same-origin",
      headers: authHeaders(),
    });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new ApiError(
        json.error ?? `/ui/api/storage: HTTP ${response.status}`,
        json.code,
        response.status,
      );
    }
    setReport(json);
  };
  usePoll(
    () =>
      defragRunning.current
        ? Promise.resolve()
        : loadReport().catch((e) => setMessage(errorMessage(e))),
    5000,
    [],
  );

  // detcd copies the file in steps and serves requests between them, so while the Defragment
  // call runs the console asks /ui/api/defrag how many keys the copy has reached.
  const runDefrag = async () => {
    setMessage(undefined);
    defragRunning.current = true;
    const began = performance.now();
    const before = await api("/v3/maintenance/status", {}, { timeoutMs: 3000 }).then(
      (s) => int(s.dbSize),
      () => undefined,
    );
    setDefrag({ phase: "running", elapsedMs: 0, before });
    const timer = setInterval(async () => {
      const progress = await fetch("/ui/api/defrag", {
        credentials: "same-origin",
        headers: authHeaders(),
        signal: AbortSignal.timeout(2000),
      }).then((r) => r.ok ? r.json() : undefined).catch(() => undefined);
      setDefrag((d) =>
        d && d.phase === "running" && {
          ...d,
          elapsedMs: performance.now() - began,
          ...(progress?.running ? { copied: progress.copied, total: progress.total } : {}),
        }
      );
    }, 200);
    try {
      await api("/v3/maintenance/defragment", {}, { timeoutMs: 600000 });
      clearInterval(timer);
      const after = await api("/v3/maintenance/status", {}, { timeoutMs: 3000 }).then(
        (s) => int(s.dbSize),
        () => undefined,
      );
      const ms = Math.round(performance.now() - began);
      setDefrag({ phase: "done", elapsedMs: ms, before, after });
      const sizes = before !== undefined && after !== undefined
        ? `: ${fmtBytes(before)} → ${fmtBytes(after)}`
        : "";
      setMessage({ kind: "ok", text: `defragmented in ${ms} ms${sizes}` });
    } catch (error) {
      setDefrag(undefined);
      setMessage(errorMessage(error));
    } finally {
      clearInterval(timer);
      defragRunning.current = false;
      // The member reuses a page file report for a second or more: ask once that has passed.
      setTimeout(() => loadReport().catch(() => {}), 1200);
    }
  };

  const pages = report?.pages?.pages;
  const spans = report?.pages?.freeSpans ?? [];
  const spanMax = Math.max(1, ...spans.map((s) => s.count));
  return html`
    <div>
      <section class="panel" aria-label="db size">
        <h2>Database size</h2>
        <div class="row">
          <span>size <b data-testid="db-size">${status ? fmtBytes(status.dbSize) : "…"}</b></span>
          <span>in use <b>${status ? fmtBytes(status.dbSizeInUse) : "…"}</b></span>
          <span>revision <b>${status?.header?.revision ?? "…"}</b></span>
        </div>
        <${Chart} title="db size and size in use (bytes)" series=${[
          "db size",
          "in use",
        ]} data=${series} />
      </section>
      <section class="panel" aria-label="compaction and defragmentation">
          <h2>Compaction and defragmentation</h2>
          <form class="row" onSubmit=${async (e) => {
            e.preventDefault();
            try {
              // Without a revision typed, the current one, asked now (the polled one may be old).
              const revision = compactRev.trim() ||
                (await api("/v3/maintenance/status", {}, { timeoutMs: 3000 })).header?.revision;
              await api("/v3/kv/compaction", { revision, physical }, { timeoutMs: 60000 });
              setMessage({ kind: "ok", text: `compacted at revision ${revision}` });
            } catch (error) {
              setMessage(errorMessage(error));
            }
          }}>
            <label for="compact-rev">revision</label>
            <input id="compact-rev" size="10" placeholder=${status?.header?.revision ??
              ""} value=${compactRev} onInput=${(e) => setCompactRev(e.target.value)} />
            <label><input type="checkbox" checked=${physical} onChange=${(e) =>
              setPhysical(e.target.checked)} /> physical</label>
            <button class="act" type="submit">Compact</button>
            <button class="act primary" type="button" disabled=${defrag?.phase ===
              "running"} onClick=${runDefrag}>Defragment</button>
          </form>
          ${defrag !== undefined
            ? html`
              <div class="row" data-testid="defrag-progress" role="progressbar"
                aria-busy=${defrag.phase === "running" ? "true" : "false"} aria-valuemin="0"
                aria-valuemax=${defrag.total ?? 100} aria-valuenow=${defrag.phase === "running"
                  ? defrag.copied ?? 0
                  : defrag.total ?? 100}>
                              <span data-testid="defrag-phase">${defrag.phase === "running"
                                ? "defragmenting"
                                : "defragmented"}</span>
                              <span>${(defrag.elapsedMs / 1000).toFixed(1)} s</span>
                              ${defrag.phase === "running" && defrag.total === 0
                                ? html`<span>counting keys…</span>`
                                : null}
                              ${defrag.phase === "running" && defrag.total > 0
                                ? html`<span data-testid="defrag-copied">${
                                  defrag.copied.toLocaleString("en")
                                } of ${defrag.total.toLocaleString("en")} keys copied</span>`
                                : null}
                              <div class="bar"><div style=${`width:${
                                defrag.phase !== "running"
                                  ? 100
                                  : defrag.total
                                  ? Math.round(100 * defrag.copied / defrag.total)
                                  : 0
                              }%`}></div></div>
                              ${defrag.before === undefined
                                ? null
                                : html`<span>${fmtBytes(defrag.before)} → ${
                                  defrag.after === undefined
                                    ? "…"
                                    : html`<b data-testid="defrag-after">${
                                      fmtBytes(defrag.after)
                                    }</b>`
                                }</span>`}
                            </div>
            `
            : null}
          <${Message} value=${message} />
        </section>
      <section class="panel" aria-label="alarms">
          <h2>Alarms</h2>
          ${alarms.length === 0
            ? html`<p class="muted" data-testid="no-alarms">no alarms raised</p>`
            : html`
              <table>
                <tbody>
                      ${alarms.map((a) =>
                        html`
                          <tr>
                            <td class="mono">${memberHex(a.memberID)}</td>
                            <td><span class="badge bad">${a.alarm ?? "NONE"}</span></td>
                            <td><button class="act" onClick=${async () => {
                              try {
                                await api("/v3/maintenance/alarm", {
                                  action: "DEACTIVATE",
                                  memberID: a.memberID,
                                  alarm: a.alarm,
                                });
                                setMessage({ kind: "ok", text: "alarm disarmed" });
                              } catch (error) {
                                setMessage(errorMessage(error));
                              }
                            }}>Disarm</button></td>
                          </tr>
                        `
                      )}
                    </tbody>
              </table>
            `}
        </section>
      <section class="panel" aria-label="page file">
          <h2>Page file ${report
            ? html`<span class="muted">(page size ${report.pages.pageSize}, ${
              fmtBytes(report.pages.fileBytes)
            }, walked in ${report.walkMs.toFixed(1)} ms${
              report.ageMs > 0 ? `, ${(report.ageMs / 1000).toFixed(1)} s ago` : ""
            })</span>`
            : null}</h2>
          ${pages
            ? html`
              <table data-testid="page-counts">
                <thead>
                  <tr>
                    <th>type</th>
                    <th class="num">pages</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                      ${Object.entries(pages).filter(([name]) => name !== "total").map((
                        [name, count],
                      ) =>
                        html`
                          <tr>
                            <td>${name}</td>
                            <td class="num">${count.toLocaleString()}</td>
                            <td>
                              <div class="bar">
                                <div style=${`width:${
                                  (100 * count) / Math.max(1, pages.total)
                                }%`}></div>
                              </div>
                            </td>
                          </tr>
                        `
                      )}
                      <tr><th>total</th><th class="num">${pages.total
                        .toLocaleString()}</th><td></td></tr>
                    </tbody>
              </table>
                    <h2>Free spans</h2>
                    ${spans.length === 0 ? html`<p class="muted">no free pages</p>` : html`
                      <table data-testid="free-spans">
                        <thead>
                          <tr>
                            <th class="num">span length (pages)</th>
                            <th class="num">count</th>
                            <th></th>
                          </tr>
                        </thead>
                        <tbody>
                              ${spans.map((s) =>
                                html`
                                  <tr>
                                    <td class="num">${s.length}</td>
                                    <td class="num">${s.count}</td>
                                    <td>
                                      <div class="bar">
                                        <div style=${`width:${(100 * s.count) / spanMax}%`}></div>
                                      </div>
                                    </td>
                                  </tr>
                                `
                              )}
                            </tbody>
                      </table>
                    `}
                    <h2>Buckets</h2>
                    <table>
                <thead>
                  <tr>
                    <th>bucket</th>
                    <th class="num">keys</th>
                    <th class="num">leaf</th>
                    <th class="num">branch</th>
                    <th class="num">overflow</th>
                  </tr>
                </thead>
                <tbody>
                      ${report.pages.buckets.map((b) =>
                        html`
                          <tr>
                            <td class="mono">${b.name}</td>
                            <td class="num">${b.keys}</td>
                            <td class="num">${b.leafPages}</td>
                            <td class="num">${b.branchPages}</td>
                            <td class="num">${b.overflowPages}</td>
                          </tr>
                        `
                      )}
                    </tbody>
              </table>
            `
            : html`<p class="muted">loading…</p>`}
        </section>
    </div>
  `;
}

// ---- Metrics -------------------------------------------------------------------------------

/** Parses the Prometheus text format into name -> summed value (labels summed over). */
function parseMetrics(text) {
  const values = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    values.set(match[1], (values.get(match[1]) ?? 0) + value);
  }
  return values;
}

/** The charts: each a list of series, either a gauge or a per-second rate, or a mean latency. */
const CHARTS = [
  {
    title: "proposals per second",
    series: [["committed", "rate", "etcd_server_proposals_committed_total"], [
      "applied",
      "rate",
      "etcd_server_proposals_applied_total",
    ]],
  },
  {
    title: "WAL fsync and backend commit, mean ms",
    series: [["wal fsync", "mean", "etcd_disk_wal_fsync_duration_seconds"], [
      "backend commit",
      "mean",
      "etcd_disk_backend_commit_duration_seconds",
    ]],
  },
  {
    title: "watchers and watch streams",
    series: [["watchers", "gauge", "etcd_debugging_mvcc_watcher_total"], [
      "streams",
      "gauge",
      "etcd_debugging_mvcc_watch_stream_total",
    ]],
  },
  {
    title: "client traffic, bytes per second",
    series: [["received", "rate", "etcd_network_client_grpc_received_bytes_total"], [
      "sent",
      "rate",
      "etcd_network_client_grpc_sent_bytes_total",
    ]],
  },
  {
    title: "db size, bytes",
    series: [["db size", "gauge", "etcd_mvcc_db_total_size_in_bytes"]],
  },
  {
    title: "current revision",
    series: [["revision", "gauge", "etcd_debugging_mvcc_current_revision"]],
  },
];

function metricPoint(kind, name, now, before, seconds) {
  if (kind === "gauge") return now.get(name) ?? null;
  if (!before) return null;
  if (kind === "rate") {
    const a = now.get(name), b = before.get(name);
    return a === undefined || b === undefined ? null : (a - b) / seconds;
  }
  const sum = (now.get(name + "_sum") ?? NaN) - (before.get(name + "_sum") ?? NaN);
  const count = (now.get(name + "_count") ?? NaN) - (before.get(name + "_count") ?? NaN);
  return Number.isFinite(sum) && count > 0 ? (1000 * sum) / count : null;
}

function MetricsView() {
  const [data, setData] = useState(() => CHARTS.map((c) => [[], ...c.series.map(() => [])]));
  const [present, setPresent] = useState(new Set());
  const [message, setMessage] = useState(undefined);
  const last = useRef(undefined);
  usePoll(
    async () => {
      try {
        const response = await fetch("/metrics", { credentials: "same-origin" });
        if (!response.ok) throw new Error(`/metrics: HTTP ${response.status}`);
        const now = parseMetrics(await response.text());
        const at = Date.now() / 1000;
        const before = last.current;
        last.current = { values: now, at };
        const names = new Set();
        for (const key of now.keys()) names.add(key.replace(/_(sum|count|bucket)$/, ""));
        setPresent(names);
        setData((old) =>
          CHARTS.map((chart, i) => {
            const [t, ...rest] = old[i];
            return [
              [...t, at].slice(-HISTORY_POINTS),
              ...chart.series.map(([, kind, name], j) =>
                [
                  ...rest[j],
                  metricPoint(kind, name, now, before?.values, before ? at - before.at : 1),
                ].slice(-HISTORY_POINTS)
              ),
            ];
          })
        );
        setMessage(undefined);
      } catch (error) {
        setMessage(errorMessage(error));
      }
    },
    2000,
    [],
  );
  return html`
    <section class="panel" aria-label="metrics">
      <h2>Metrics <span class="muted">(from /metrics every 2 s)</span></h2>
      <${Message} value=${message} />
      <div class="charts">
          ${CHARTS.map((chart, i) => {
            const missing = chart.series.filter(([, , name]) => !present.has(name)).map((
              [, , name],
            ) => name);
            return html`
              <${Chart} title=${chart.title} series=${chart.series.map(([label]) =>
                label
              )} data=${data[i]}
                note=${missing.length && present.size
                  ? `not exported by this member: ${missing.join(", ")}`
                  : undefined} />
            `;
          })}
        </div>
    </section>
  `;
}

// ---- Auth ----------------------------------------------------------------------------------

function LoginForm() {
  const [name, setName] = useState("root");
  const [password, setPassword] = useState("");
  const [message, setMessage] = useState(undefined);
  return html`
    <form class="row" aria-label="log in" onSubmit=${async (e) => {
      e.preventDefault();
      try {
        const r = await api("/v3/auth/authenticate", { name, password });
        setPassword("");
        setSession(r.token, name);
        setMessage({ kind: "ok", text: `logged in as ${name}` });
      } catch (error) {
        setMessage(errorMessage(error));
      }
    }}>
      <label for="login-name">user</label>
      <input id="login-name" autocomplete="username" value=${name} onInput=${(e) =>
        setName(e.target.value)} />
      <label for="login-password">password</label>
      <input id="login-password" type="password" autocomplete="current-password" value=${password}
        onInput=${(e) => setPassword(e.target.value)} />
      <button class="act primary" type="submit">Log in</button>
      <${Message} value=${message} />
    </form>
  `;
}

/** What a user without the root role may know of auth: their own roles and permissions. */
function OwnPermissions() {
  if (session.perms === undefined) return html`<p class="muted">asking for your roles…</p>`;
  const byRole = new Map();
  for (const p of session.perms) byRole.set(p.role, [...(byRole.get(p.role) ?? []), p]);
  return html`
    <p class="muted">Users and roles can be listed and edited by root only.</p>
    <h2>Your roles</h2>
    <table data-testid="own-roles">
      <tbody>${[...byRole.entries()].map(([role, perms]) =>
        html`
          <tr>
            <td>${role}</td>
            <td class="mono">${perms.map(permLabel).join("; ")}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}

function AuthView() {
  const [state, setPhase] = useState({ phase: "loading" });
  const [message, setMessage] = useState(undefined);
  const [newUser, setNewUser] = useState({ name: "", password: "" });
  const [newRole, setNewRole] = useState("");
  const [perm, setPerm] = useState({ role: "", key: "", prefix: true, type: "READWRITE" });
  const [grant, setGrant] = useState({ user: "", role: "" });
  const [, tick] = useState(0);
  useEffect(() => {
    const listener = () => tick((n) => n + 1);
    sessionListeners.add(listener);
    return () => sessionListeners.delete(listener);
  }, []);
  // A refresh started before the session changed must not overwrite a later one's answer.
  const generation = useRef(0);
  const refresh = async () => {
    const mine = ++generation.current;
    if (isNonAdmin()) {
      setPhase({ phase: "self" });
      return;
    }
    const setState = (next) => mine === generation.current && setPhase(next);
    try {
      const users = await api("/v3/auth/user/list");
      const roles = await api("/v3/auth/role/list");
      const roleDetails = await Promise.all(
        (roles.roles ?? []).map((role) =>
          api("/v3/auth/role/get", { role }).then(
            (r) => ({ role, perm: r.perm ?? [] }),
            () => ({ role, perm: [] }),
          )
        ),
      );
      const userDetails = await Promise.all(
        (users.users ?? []).map((name) =>
          api("/v3/auth/user/get", { name }).then(
            (r) => ({ name, roles: r.roles ?? [] }),
            () => ({ name, roles: [] }),
          )
        ),
      );
      setState({ phase: "ready", users: userDetails, roles: roleDetails });
    } catch (error) {
      if (error.status === 501 || error.code === 12) {
        setState({ phase: "absent", text: error.message });
      } else if (error.code === 16 || error.code === 3 || error.code === 7) {
        setState({ phase: "login", text: error.message });
      } else setState({ phase: "error", text: error.message });
    }
  };
  useEffect(() => void refresh(), [session.token, session.admin]);
  const act = async (path, body, text) => {
    setMessage(undefined);
    try {
      await api(path, body);
      setMessage({ kind: "ok", text });
      await refresh();
    } catch (error) {
      setMessage(errorMessage(error));
    }
  };
  if (state.phase === "loading") {
    return html`
      <section class="panel">
        <h2>Auth</h2>
        <p class="muted">asking the Auth API…</p>
      </section>
    `;
  }
  if (state.phase === "absent") {
    return html`
      <section class="panel" aria-label="auth">
        <h2>Auth</h2>
        <div class="msg warn"
          data-testid="auth-absent">This member does not serve the Auth API (${state
            .text}). Users and roles cannot be shown.</div>
      </section>
    `;
  }
  return html`<section class="panel" aria-label="auth">
    <h2>Auth ${
    session.user ? html`<span class="muted">— logged in as ${session.user}</span>` : null
  }</h2>
    ${
    session.user
      ? html`<button class="act" onClick=${() => setSession(undefined, undefined)}>Log out</button>`
      : html`<${LoginForm} />`
  }
    ${
    state.phase === "login" || state.phase === "error"
      ? html`<div class="msg warn">${state.text}</div>`
      : null
  }
    <${Message} value=${message} />
    ${state.phase === "self" ? html`<${OwnPermissions} />` : null}
    ${
    state.phase === "ready"
      ? html`
        <div class="row">
          <button class="act" onClick=${() =>
            act("/v3/auth/enable", {}, "auth enabled")}>Enable auth</button>
          <button class="act" onClick=${() =>
            act("/v3/auth/disable", {}, "auth disabled")}>Disable auth</button>
        </div>
        <h2>Users</h2>
        <table data-testid="users">
          <tbody>${state.users.map((u) =>
            html`
              <tr>
                <td>${u.name}</td>
                <td>${u.roles.join(", ")}</td>
                <td><button class="act danger" onClick=${() =>
                  act(
                    "/v3/auth/user/delete",
                    { name: u.name },
                    `deleted user ${u.name}`,
                  )}>Delete</button></td>
              </tr>
            `
          )}</tbody>
        </table>
        <form class="row" onSubmit=${(e) => {
          e.preventDefault();
          act("/v3/auth/user/add", newUser, `added user ${newUser.name}`);
        }}>
          <label for="user-name">new user</label><input id="user-name" value=${newUser
            .name} onInput=${(e) => setNewUser({ ...newUser, name: e.target.value })} />
          <label for="user-password">password</label><input id="user-password" type="password" autocomplete="new-password" value=${newUser
            .password} onInput=${(e) => setNewUser({ ...newUser, password: e.target.value })} />
          <button class="act" type="submit">Add user</button>
        </form>
        <form class="row" onSubmit=${(e) => {
          e.preventDefault();
          act("/v3/auth/user/grant", grant, `granted ${grant.role} to ${grant.user}`);
        }}>
          <label for="grant-user">user</label><input id="grant-user" value=${grant.user} onInput=${(
            e,
          ) => setGrant({ ...grant, user: e.target.value })} />
          <label for="grant-role">role</label><input id="grant-role" value=${grant.role} onInput=${(
            e,
          ) => setGrant({ ...grant, role: e.target.value })} />
          <button class="act" type="submit">Grant role</button>
        </form>
        <h2>Roles</h2>
        <table data-testid="roles">
          <tbody>${state.roles.map((r) =>
            html`
              <tr>
                <td>${r.role}</td>
                <td class="mono">${r.perm.map((p) =>
                  `${p.permType ?? "READ"} ${keyLabel(fromB64(p.key))}${
                    p.range_end ? ` .. ${keyLabel(fromB64(p.range_end))}` : ""
                  }`
                ).join("; ")}</td>
                <td><button class="act danger" onClick=${() =>
                  act(
                    "/v3/auth/role/delete",
                    { role: r.role },
                    `deleted role ${r.role}`,
                  )}>Delete</button></td>
              </tr>
            `
          )}</tbody>
        </table>
        <form class="row" onSubmit=${(e) => {
          e.preventDefault();
          act("/v3/auth/role/add", { name: newRole }, `added role ${newRole}`);
        }}>
          <label for="role-name">new role</label><input id="role-name" value=${newRole} onInput=${(
            e,
          ) => setNewRole(e.target.value)} />
          <button class="act" type="submit">Add role</button>
        </form>
        <form class="row" onSubmit=${(e) => {
          e.preventDefault();
          const key = utf8.encode(perm.key);
          const body = { name: perm.role, perm: { permType: perm.type, key: toB64(key) } };
          if (perm.prefix) {
            body.perm.range_end = toB64(key.length ? prefixEnd(key) : new Uint8Array([0]));
          }
          act("/v3/auth/role/grant", body, `granted ${perm.type} on ${perm.key} to ${perm.role}`);
        }}>
          <label for="perm-role">role</label><input id="perm-role" value=${perm.role} onInput=${(
            e,
          ) => setPerm({ ...perm, role: e.target.value })} />
          <label for="perm-key">key</label><input id="perm-key" class="mono" value=${perm
            .key} onInput=${(e) => setPerm({ ...perm, key: e.target.value })} />
          <label><input type="checkbox" checked=${perm.prefix} onChange=${(e) =>
            setPerm({ ...perm, prefix: e.target.checked })} /> prefix</label>
          <select aria-label="permission" value=${perm.type} onChange=${(e) =>
            setPerm({ ...perm, type: e.target.value })}>
            <option>READ</option><option>WRITE</option><option>READWRITE</option></select>
          <button class="act" type="submit">Grant permission</button>
        </form>
      `
      : null
  }
  </section>`;
}

// ---- the shell -----------------------------------------------------------------------------

const VIEWS = [
  ["keys", "Keys", KeysView],
  ["watch", "Watch", WatchView],
  ["leases", "Leases", LeasesView],
  ["cluster", "Cluster", ClusterView],
  ["storage", "Storage", StorageView],
  ["metrics", "Metrics", MetricsView],
  ["auth", "Auth", AuthView],
];

function viewFromHash() {
  const name = location.hash.replace(/^#\/?/, "");
  return VIEWS.some(([id]) => id === name) ? name : "keys";
}

function App() {
  const [view, setView] = useState(viewFromHash);
  const [, tick] = useState(0);
  useEffect(() => {
    const onHash = () => setView(viewFromHash());
    addEventListener("hashchange", onHash);
    const listener = () => tick((n) => n + 1);
    sessionListeners.add(listener);
    return () => {
      removeEventListener("hashchange", onHash);
      sessionListeners.delete(listener);
    };
  }, []);
  const go = (id) => {
    location.hash = "#/" + id;
    setView(id);
  };
  const onTabKey = (event) => {
    const index = VIEWS.findIndex(([id]) => id === view);
    let next;
    if (event.key === "ArrowRight") next = (index + 1) % VIEWS.length;
    else if (event.key === "ArrowLeft") next = (index + VIEWS.length - 1) % VIEWS.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = VIEWS.length - 1;
    else return;
    event.preventDefault();
    go(VIEWS[next][0]);
    requestAnimationFrame(() => document.getElementById("tab-" + VIEWS[next][0])?.focus());
  };
  const Current = VIEWS.find(([id]) => id === view)[2];
  return html`
    <div>
      <header><h1>detcd console</h1><span class="muted">${location.host}</span>
          <span class="who">${session.user
            ? `logged in as ${session.user}`
            : "not logged in"}</span></header>
      <nav role="tablist" aria-label="views" onKeyDown=${onTabKey}>
          ${VIEWS.map(([id, label]) =>
            html`
              <button role="tab" id=${"tab-" + id} aria-selected=${id === view ? "true" : "false"}
                aria-controls="view" tabindex=${id === view ? 0 : -1} onClick=${() =>
                  go(id)}>${label}</button>
            `
          )}
        </nav>
      <main id="view" role="tabpanel" aria-labelledby=${"tab-" + view}>
        <${Current} />
      </main>
    </div>
  `;
}

render(html`<${App} />`, document.getElementById("app"));
