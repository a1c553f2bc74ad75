/**
 * The few libc calls amp needs for mapping memory, through Deno FFI.
 *
 * The library is opened lazily on first use. Every wrapper throws
 * {@linkcode OsError} (with the real `errno`) when the call fails; `errno` is
 * read once per failure, never on the success path.
 *
 * Flag values are the Linux ones shared by x86_64, aarch64 and riscv64.
 *
 * @module
 */

import { AmpError, OsError } from "../errors.ts";

/** `open` flags. */
export const O_RDONLY = 0, O_RDWR = 0o2, O_CREAT = 0o100, O_SYNC = 0o4010000;
/** Close the descriptor in child processes. */
export const O_CLOEXEC = 0o2000000;
/** Do not follow a symlink in the last path component. */
export const O_NOFOLLOW = 0o400000;
/** `mmap` protection bits. */
export const PROT_READ = 1, PROT_WRITE = 2;
/** `mmap` sharing modes. */
export const MAP_SHARED = 1, MAP_PRIVATE = 2;
/** File type bits of `st_mode`. */
export const S_IFMT = 0o170000, S_IFREG = 0o100000;

const SC_PAGESIZE = 30;
const AT_EMPTY_PATH = 0x1000;
const STATX_TYPE = 0x1, STATX_SIZE = 0x200;
const STATX_BUF_SIZE = 256;
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let lib: Libc | undefined;

function libc(): Libc {
  if (lib) return lib;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch (e) {
    throw new AmpError(
      "LIBC_UNAVAILABLE",
      `Cannot load libc.so.6 through FFI (needs --allow-ffi and glibc >= 2.28): ${
        e instanceof Error ? e.message : String(e)
      }`,
      { cause: e },
    );
  }
  return lib;
}

/** The calling thread's `errno`; only called right after a failed call. */
function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

const encoder = new TextEncoder();

/** NUL-terminated copy of a path (a path containing NUL is refused). */
function cPath(path: string): Uint8Array<ArrayBuffer> {
  if (path.includes("\0")) throw new OsError("open", 22, JSON.stringify(path));
  const bytes = encoder.encode(path);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** `open(path, flags, mode)`; returns the descriptor. */
export function sysOpen(path: string, flags: number, mode = 0o600): number {
  const fd = libc().open(cPath(path), flags, mode);
  if (fd < 0) throw new OsError("open", errno(), path);
  return fd;
}

/** `close(fd)`. `target` names the file in the error. */
export function sysClose(fd: number, target: string): void {
  if (libc().close(fd) !== 0) throw new OsError("close", errno(), target);
}

/** `close(fd)` after another failure: an error of its own would hide the first one. */
export function closeQuietly(fd: number, target: string): void {
  try {
    sysClose(fd, target);
  } catch {
    // The original failure is the one worth reporting.
  }
}

/** `read(fd, buf, buf.length)`; returns the byte count (0 at end of file). */
export function sysRead(fd: number, buf: Uint8Array<ArrayBuffer>, target: string): number {
  const n = libc().read(fd, buf, BigInt(buf.length));
  if (n < 0) throw new OsError("read", errno(), target);
  return Number(n);
}

/** `mmap(NULL, len, prot, flags, fd, offset)`; returns the mapping's address. */
export function sysMmap(
  len: number,
  prot: number,
  flags: number,
  fd: number,
  offset: number,
  target: string,
): Deno.PointerObject {
  const p = libc().mmap(null, BigInt(len), prot, flags, fd, BigInt(offset));
  if (p === null || Deno.UnsafePointer.value(p) === MAP_FAILED) {
    throw new OsError("mmap", errno(), target);
  }
  return p;
}

/** `munmap(ptr, len)`. */
export function sysMunmap(ptr: Deno.PointerObject, len: number, target: string): void {
  if (libc().munmap(ptr, BigInt(len)) !== 0) throw new OsError("munmap", errno(), target);
}

/** `ftruncate(fd, len)`. */
export function sysFtruncate(fd: number, len: number, target: string): void {
  if (libc().ftruncate(fd, BigInt(len)) !== 0) throw new OsError("ftruncate", errno(), target);
}

/** `unlink(path)`. */
export function sysUnlink(path: string): void {
  if (libc().unlink(cPath(path)) !== 0) throw new OsError("unlink", errno(), path);
}

/** What {@linkcode sysFstat} reports. */
export interface FileStat {
  /** `st_mode` (type and permission bits). */
  mode: number;
  /** Size in bytes (meaningful for regular files). */
  size: number;
}

/**
 * Type and size of an open descriptor, via `statx(fd, "", AT_EMPTY_PATH)`
 * (its layout is the same on every Linux architecture).
 */
export function sysFstat(fd: number, target: string): FileStat {
  const buf = new Uint8Array(STATX_BUF_SIZE);
  const empty = new Uint8Array(1);
  if (libc().statx(fd, empty, AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE, buf) !== 0) {
    throw new OsError("statx", errno(), target);
  }
  const v = new DataView(buf.buffer);
  const size = v.getBigUint64(40, true);
  return {
    mode: v.getUint16(28, true),
    size: size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size),
  };
}

let cachedPageSize: number | undefined;

/**
 * The system page size from `sysconf(_SC_PAGESIZE)`, or 4096 when that is
 * unavailable or not a power of two.
 */
export function sysPageSize(): number {
  if (cachedPageSize !== undefined) return cachedPageSize;
  let n = 4096;
  try {
    const v = Number(libc().sysconf(SC_PAGESIZE));
    if (Number.isSafeInteger(v) && v >= 1024 && v <= 0x4000_0000 && (v & (v - 1)) === 0) n = v;
  } catch {
    // No FFI: keep the common default.
  }
  cachedPageSize = n;
  return n;
}
