/**
 * One-line descriptions of requests for the `apply request took too long` warning, in the
 * shape of etcd's stringers (protobuf text format): an InternalRaftRequest as
 * InternalRaftStringer prints it, with a put's value replaced by its size (values may be
 * large or secret, so etcd never logs them), and a read-only request as its String().
 *
 * @module
 */

import { etcdserverpb } from "../etcdserverpb/mod.ts";

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
    parts.push(`put:<key:${_quote(put.key)} value_size:${put.value?.length ?? 0}${lease} >`);
    return parts.join(" ");
  }
  const fields = etcdserverpb.InternalRaftRequest.toObject(req, { longs: String });
  for (const [field, value] of Object.entries(fields)) {
    if (field === "header" || value === undefined || value === null) continue;
    parts.push(`${_snake(field)}:<${_text(value)}>`);
  }
  return parts.join(" ");
}

/** A request's fields in protobuf text format: `key:"a" range_end:"b" limit:1 `. */
export function describeMessage(message: object): string {
  return _text(message).trimEnd();
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

/** A scalar as protobuf text prints it: bytes and text quoted, numbers bare. */
function _scalar(value: unknown): string {
  if (value instanceof Uint8Array) return _quote(value);
  if (typeof value === "bigint" || typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  if (typeof value === "string" && /^-?\d+$/.test(value)) return value; // an int64 as text
  if (typeof value === "object" && value !== null && "low" in value && "high" in value) {
    return String(value); // a protobufjs Long
  }
  return JSON.stringify(value);
}

function _isMessage(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !(value instanceof Uint8Array) &&
    !("low" in value && "high" in value);
}

/** protobuf text format of a message's set fields, defaults left out as protobuf does. */
function _text(value: unknown): string {
  if (!_isMessage(value)) return `${_scalar(value)} `;
  let out = "";
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || v === null || v === false || v === 0 || v === "") continue;
    if (v instanceof Uint8Array && v.length === 0) continue;
    if (Array.isArray(v)) { for (const item of v) out += _field(k, item); }
    else out += _field(k, v);
  }
  return out;
}

function _field(name: string, value: unknown): string {
  // A put inside a txn shows its value's size only, as etcd's LoggableTxnRequest does.
  if (name === "requestPut" && _isMessage(value)) {
    const { value: putValue, ...rest } = value;
    const size = putValue instanceof Uint8Array ? putValue.length : 0;
    return `request_put:<${_text(rest)}value_size:${size} > `;
  }
  return _isMessage(value)
    ? `${_snake(name)}:<${_text(value)}> `
    : `${_snake(name)}:${_scalar(value)} `;
}
