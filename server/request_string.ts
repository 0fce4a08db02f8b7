/**
 * A one-line description of an InternalRaftRequest for the `apply request took too long`
 * warning, in the shape of etcd's InternalRaftStringer: protobuf text format, with a put's
 * value replaced by its size (values may be large or secret, so etcd never logs them).
 *
 * @module
 */

import type { etcdserverpb } from "../etcdserverpb/mod.ts";

const _decoder = new TextDecoder();

/** `header:<ID:7587868934851012612 > put:<key:"foo" value_size:3 >`, and alike for others. */
export function describeRequest(req: etcdserverpb.InternalRaftRequest): string {
  const parts: string[] = [];
  if (req.header?.ID !== undefined && req.header.ID !== null) {
    parts.push(`header:<ID:${String(req.header.ID)} >`);
  }
  if (req.put) {
    const put = req.put;
    const lease = put.lease !== undefined && put.lease !== null && String(put.lease) !== "0"
      ? ` lease:${String(put.lease)}`
      : "";
    parts.push(
      `put:<key:${_quote(put.key)} value_size:${put.value?.length ?? 0}${lease} >`,
    );
    return parts.join(" ");
  }
  for (const [field, value] of Object.entries(req.toJSON())) {
    if (field === "header" || value === undefined || value === null) continue;
    parts.push(`${_snake(field)}:<${_text(value)}>`);
  }
  return parts.join(" ");
}

function _quote(bytes: Uint8Array | null | undefined): string {
  return JSON.stringify(bytes === undefined || bytes === null ? "" : _decoder.decode(bytes));
}

/** The .proto field name of a camel-cased one: `leaseGrant` -> `lease_grant`, `TTL` stays. */
function _snake(name: string): string {
  return name.replace(
    /([a-z0-9])([A-Z])/g,
    (_, before, upper) => `${before}_${upper.toLowerCase()}`,
  );
}

/** A scalar as protobuf text prints it: int64s (JSON strings of digits) bare, text quoted. */
function _scalar(value: unknown): string {
  if (typeof value === "string" && /^-?\d+$/.test(value)) return value;
  return JSON.stringify(value);
}

/** protobuf text format of a JSON-mapped message: `key:"a" range_end:"b" `. */
function _text(value: unknown): string {
  if (typeof value !== "object" || value === null) return `${_scalar(value)} `;
  let out = "";
  for (const [k, v] of Object.entries(value)) {
    if (Array.isArray(v)) { for (const item of v) out += `${_snake(k)}:<${_text(item)}> `; }
    else if (typeof v === "object" && v !== null) out += `${_snake(k)}:<${_text(v)}> `;
    else out += `${_snake(k)}:${_scalar(v)} `;
  }
  return out;
}
