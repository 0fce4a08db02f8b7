/**
 * Go's `path.Clean` and `path.Split`, which the v2 store applies to every key.
 *
 * @module
 */

/** Go's path.Clean: the shortest equivalent path (`..` at the root stays at the root). */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (rooted) return "/" + joined;
  return joined === "" ? "." : joined;
}

/** Go's `path.Clean(path.Join("/", p))`: every store key is absolute and clean. */
export function storePath(p: string): string {
  return cleanPath("/" + p);
}

/** Go's path.Split: everything up to and including the last slash, and the rest. */
export function splitPath(p: string): [dir: string, name: string] {
  const i = p.lastIndexOf("/");
  return [p.slice(0, i + 1), p.slice(i + 1)];
}
