/**
 * Allocating a WAL segment's blocks up front (etcd's `fileutil.Preallocate(f, size, true)`:
 * `fallocate(fd, 0, 0, size)` on Linux, falling back to `ftruncate` where the file system
 * cannot).
 *
 * Why it matters: a segment extended with `ftruncate` alone is a sparse file, so every append
 * lands in a hole and its fdatasync must also allocate blocks, a metadata change that waits for
 * an ext4 journal commit shared with every other writer on the disk. With the blocks allocated
 * (unwritten extents) the appends of a segment only fill space that already exists. Measured on
 * this machine's ext4, 3-member cluster, one client: see docs/performance.md.
 *
 * Deno has no `fallocate`, so this opens the file a second time through libc (FFI, as
 * embed/sd_notify.ts does) and closes that descriptor again. Without FFI permission, or off
 * Linux, or when the file system refuses, it reports `false` and the caller keeps the sparse
 * extension it makes anyway.
 *
 * @module
 */

const _O_WRONLY = 0o1;
const _O_CLOEXEC = 0o2000000;

const _SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  fallocate: { parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

type _Libc = Deno.DynamicLibrary<typeof _SYMBOLS>;

/** The libc handle, opened once; `null` when FFI is unavailable here. */
let _libc: _Libc | null | undefined;

function _open(): _Libc | null {
  if (_libc !== undefined) return _libc;
  if (Deno.build.os !== "linux") return _libc = null;
  try {
    _libc = Deno.dlopen("libc.so.6", _SYMBOLS);
  } catch {
    // No --allow-ffi (or no glibc): the sparse extension is what remains.
    _libc = null;
  }
  return _libc;
}

/**
 * Allocates the blocks of `path`'s first `bytes` bytes and extends it to at least `bytes`
 * (`fallocate` mode 0). The file must exist. True when the blocks were allocated; false when
 * this platform or file system could not (nothing was changed then).
 */
export function preallocate(path: string, bytes: number): boolean {
  if (!(bytes > 0)) return false;
  const libc = _open();
  if (libc === null) return false;
  const name = new TextEncoder().encode(path + "\0");
  const fd = libc.symbols.open(name, _O_WRONLY | _O_CLOEXEC);
  if (fd < 0) return false;
  try {
    return libc.symbols.fallocate(fd, 0, 0n, BigInt(bytes)) === 0;
  } finally {
    libc.symbols.close(fd);
  }
}
