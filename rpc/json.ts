/**
 * Field-name translation between grpc-gateway JSON and protobufjs objects.
 *
 * etcd 3.4's gateway prints .proto field names (`range_end`, `create_revision`) and accepts
 * both those and the lowerCamel JSON names; protobufjs objects use camelCase names
 * (`rangeEnd`). The table `etcdserverpb/gen/json_names.json` (written by `etcdserverpb/gen_proto.ts`) gives, per
 * message, each field's .proto name and its message type, so that nested messages are
 * renamed too. Values (base64, Long strings, enum names) are converted by protobufjs's own
 * `fromObject`/`toObject`.
 *
 * @module
 */

import { jsonFieldNames as names } from "../etcdserverpb/mod.ts";

/** camelCase name -> [.proto name, message type or null, 64-bit integer type if one]. */
type _Fields = Record<string, [string, string | null] | [string, string | null, string]>;
const _NAMES = names as unknown as Record<string, _Fields>;

/** .proto or camelCase name -> [camelCase name, message type, 64-bit type], per message. */
const _FROM_JSON = new Map<string, Map<string, [string, string | null, string | undefined]>>();
for (const [typeName, fields] of Object.entries(_NAMES)) {
  const byJsonName = new Map<string, [string, string | null, string | undefined]>();
  for (const [camel, [proto, nested, int64Type]] of Object.entries(fields)) {
    byJsonName.set(proto, [camel, nested, int64Type]);
    byJsonName.set(camel, [camel, nested, int64Type]);
  }
  _FROM_JSON.set(typeName, byJsonName);
}

/** Bounds recursion on hostile input (TxnRequest nests; etcd limits it far below this). */
const DEPTH_MAX = 64;

/**
 * Renames the fields of a JSON request to protobufjs names, recursively. Unknown fields are
 * dropped, as etcd 3.4's gateway does (it answers 200 to `{"key": "..", "nonsense": 1}`).
 */
export function jsonToProtobufjs(typeName: string, json: unknown, depth = 0): {
  [key: string]: unknown;
} {
  if (depth > DEPTH_MAX) throw new TypeError("JSON nests too deeply");
  if (json === null || json === undefined) return {};
  if (typeof json !== "object" || Array.isArray(json)) {
    throw new TypeError(`${typeName}: expected a JSON object`);
  }
  const fields = _FROM_JSON.get(typeName);
  if (fields === undefined) throw new Error(`unknown message type ${typeName}`);
  const result: { [key: string]: unknown } = {};
  for (const [key, value] of Object.entries(json)) {
    const field = fields.get(key);
    if (field === undefined) continue;
    const [camel, nested, int64Type] = field;
    if (int64Type !== undefined) {
      result[camel] = Array.isArray(value)
        ? value.map((item) => checkInt64Json(item, int64Type))
        : checkInt64Json(value, int64Type);
      continue;
    }
    result[camel] = nested === null || value === null
      ? value
      : Array.isArray(value)
      ? value.map((item) => jsonToProtobufjs(nested, item, depth + 1))
      : jsonToProtobufjs(nested, value, depth + 1);
  }
  return result;
}

/** Renames the fields of a protobufjs `toObject` result to .proto names, recursively. */
export function protobufjsToJson(
  typeName: string,
  object: { [key: string]: unknown },
): Record<string, unknown> {
  const fields = _NAMES[typeName];
  if (fields === undefined) throw new Error(`unknown message type ${typeName}`);
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    const field = fields[key];
    if (field === undefined) continue; // `$unknowns` and the like
    const [proto, nested] = field;
    result[proto] = nested === null || value === null || typeof value !== "object"
      ? value
      : Array.isArray(value)
      ? value.map((item) => protobufjsToJson(nested, item as { [key: string]: unknown }))
      : protobufjsToJson(nested, value as { [key: string]: unknown });
  }
  return result;
}

/** Integer literals with at least this many digits may not fit a double exactly. */
const _UNSAFE_DIGITS = /\d{16}/;
const _INT64_MIN = -(2n ** 63n);
const _UINT64_MAX = 2n ** 64n - 1n;

/**
 * Parses one JSON text as grpc-gateway reads a request body, keeping 64-bit integers exact:
 * an integer literal of 16 digits or more becomes its decimal text (which protobufjs reads
 * into a Long digit for digit) instead of a rounded double; `checkInt64Json` then checks it
 * against its field's type. A text without a run of 16 digits takes the plain `JSON.parse`;
 * one with such a run is rewritten by one regular-expression pass first (cheaper than a
 * reviver, which JSON.parse would call for every value).
 */
export function parseJsonExact(text: string): unknown {
  if (!_UNSAFE_DIGITS.test(text)) return JSON.parse(text);
  return JSON.parse(text.replace(_STRING_OR_LONG_INTEGER, _quoteInteger));
}

/**
 * A JSON string (matched whole, so that digits inside strings stay as they are), or an
 * integer literal of 16+ digits with no fraction or exponent.
 */
const _STRING_OR_LONG_INTEGER = /"(?:[^"\\]|\\.)*"|-?\d{16,}(?![\d.eE])/g;

function _quoteInteger(match: string): string {
  return match.charCodeAt(0) === 0x22 ? match : `"${match}"`;
}

const _JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const _INT64_MAX = 2n ** 63n - 1n;

/**
 * A 64-bit integer field's JSON value as Go's gogo/jsonpb takes it (a number, or a string
 * holding one), checked with Go's error messages; answers a value protobufjs reads exactly
 * (a safe number, or the decimal text). protobufjs alone would read "abc" as 0 and wrap
 * values out of range.
 */
export function checkInt64Json(value: unknown, type: string): unknown {
  const goType = type === "int64" || type === "sint64" || type === "sfixed64" ? "int64" : "uint64";
  if (value === null) return value;
  let text: string;
  if (typeof value === "number") {
    text = Number.isInteger(value) ? value.toFixed(0) : String(value);
  } else if (typeof value === "string") {
    text = value;
    if (text === "") throw new SyntaxError("unexpected end of JSON input");
  } else {
    const kind = typeof value === "boolean" ? "bool" : Array.isArray(value) ? "array" : "object";
    throw new SyntaxError(`json: cannot unmarshal ${kind} into Go value of type ${goType}`);
  }
  if (!_JSON_NUMBER.test(text)) {
    throw new SyntaxError(`invalid character '${text[0]}' looking for beginning of value`);
  }
  const fits = /^-?\d+$/.test(text) && (() => {
    const exact = BigInt(text);
    return goType === "int64"
      ? exact >= _INT64_MIN && exact <= _INT64_MAX
      : exact >= 0n && exact <= _UINT64_MAX;
  })();
  if (!fits) {
    throw new SyntaxError(`json: cannot unmarshal number ${text} into Go value of type ${goType}`);
  }
  return text;
}
