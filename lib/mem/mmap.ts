/**
 * Memory regions backed by `mmap(MAP_SHARED)` of a file: regular files and
 * `/dev/mem`. POSIX shared memory objects (`shm.ts`) and UIO devices
 * (`uio.ts`) are mapped through {@linkcode mapFile} too.
 *
 * Each function returns a {@linkcode MemoryRegion} whose accessors take
 * physical addresses; closing it unmaps the memory and closes the file, after
 * detaching every view handed out so none can touch unmapped memory.
 *
 * Needs `--allow-ffi` (in practice `--allow-all`, since Deno refuses
 * `/dev/shm`, `/dev/uio*` and `/sys` otherwise).
 *
 * @module
 */

import { ConfigError, MemoryBoundsError, type MemoryBoundsErrorCode } from "../errors.ts";
import {
  closeQuietly,
  MAP_PRIVATE,
  MAP_SHARED,
  O_CLOEXEC,
  O_CREAT,
  O_NOFOLLOW,
  O_RDONLY,
  O_RDWR,
  O_SYNC,
  PROT_READ,
  PROT_WRITE,
  S_IFMT,
  S_IFREG,
  sysClose,
  sysFstat,
  sysFtruncate,
  sysMmap,
  sysMunmap,
  sysOpen,
  sysPageSize,
} from "./_libc.ts";
import { hex, MemoryRegion } from "./region.ts";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * The system page size (`sysconf(_SC_PAGESIZE)`, 4096 if unavailable).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pageSize } from "./mmap.ts";
 * const p = pageSize();
 * assert(p >= 4096 && (p & (p - 1)) === 0);
 * ```
 */
export function pageSize(): number {
  return sysPageSize();
}

/** Options for {@linkcode mapFile}. */
export interface MapFileOptions {
  /** Physical address of the first mapped byte. */
  base: number;
  /** Bytes to map (> 0). */
  size: number;
  /** File offset of the first byte; need not be page aligned. Default 0. */
  offset?: number;
  /** Create the file if missing and grow it (never shrink) to `offset + size`. Default false. */
  create?: boolean;
  /** Permission bits for a created file. Default `0o600`. */
  mode?: number;
  /** Region name for errors. Default: the path. */
  name?: string;
  /**
   * Open read-only. The memory is mapped private copy-on-write so a stray
   * write through a view cannot fault; the region's accessors refuse writes.
   */
  readOnly?: boolean;
  /** Open with `O_SYNC` (uncached device memory for `/dev/mem` and UIO). Default false. */
  sync?: boolean;
  /** Byte order of multi-byte accessors. Default little-endian. */
  littleEndian?: boolean;
  /** Refuse a symlink at `path` (`O_NOFOLLOW`, ELOOP), as `shm_open` does. Default false. */
  noFollow?: boolean;
}

interface Mapping {
  ptr: Deno.PointerObject;
  len: number;
  fd: number;
  target: string;
}

/** Unmaps mappings whose region (and every view of it) was dropped without `close()`. */
const leakGuard = new FinalizationRegistry<Mapping>((m) => {
  try {
    sysMunmap(m.ptr, m.len, m.target);
  } catch { /* nothing left to report to */ }
  try {
    sysClose(m.fd, m.target);
  } catch { /* nothing left to report to */ }
});

function checkInt(
  v: unknown,
  min: number,
  code: MemoryBoundsErrorCode,
  what: string,
  target: string,
): asserts v is number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    throw new MemoryBoundsError(
      code,
      `Cannot map ${target}: ${what} ${
        typeof v === "number" ? hex(v) : String(v)
      } is not an integer >= ${min}`,
    );
  }
}

/**
 * Map `[offset, offset + size)` of a file as physical `[base, base + size)`.
 *
 * The file is opened `O_RDWR` (plus `O_CREAT` when `create`, `O_SYNC` when
 * `sync`) and mapped `MAP_SHARED`, so writes are seen by every other mapping
 * of the same file, in this process or another. A regular file must already
 * be at least `offset + size` bytes long unless `create` is set (touching a
 * mapping past the end of a file would kill the process). An offset that is
 * not page aligned is handled by mapping from the start of its page.
 *
 * Errors: `MEM_BAD_BASE`, `MMAP_BAD_SIZE`, `MMAP_BAD_OFFSET`, `MEM_WRAP`
 * (base + size too large), `MMAP_OFFSET_WRAP` (offset + size too large),
 * `MMAP_CREATE_READ_ONLY`, `MMAP_FILE_TOO_SMALL`, and `OsError` from
 * `open`/`statx`/`ftruncate`/`mmap`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapFile } from "./mmap.ts";
 * const path = Deno.makeTempFileSync();
 * try {
 *   const a = mapFile(path, { base: 0x1000, size: 64, create: true });
 *   const b = mapFile(path, { base: 0x2000, size: 64 });
 *   a.setU32(0x1010, 0x12345678);
 *   assert(b.u32(0x2010) === 0x12345678);
 *   a.close();
 *   b.close();
 * } finally {
 *   Deno.removeSync(path);
 * }
 * ```
 */
export function mapFile(path: string, options: MapFileOptions): MemoryRegion {
  if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
    throw new ConfigError("MMAP_BAD_PATH", `Cannot map ${JSON.stringify(path)}: not a file path`);
  }
  const { base, size, offset = 0, create = false, readOnly = false, sync = false } = options;
  checkInt(base, 0, "MEM_BAD_BASE", "base", path);
  checkInt(size, 1, "MMAP_BAD_SIZE", "size", path);
  checkInt(offset, 0, "MMAP_BAD_OFFSET", "file offset", path);
  if (size > MAX_SAFE - base) {
    throw new MemoryBoundsError(
      "MEM_WRAP",
      `Cannot map ${path}: [${hex(base)}, +${hex(size)}) ends past ${hex(MAX_SAFE)}`,
    );
  }
  if (size > MAX_SAFE - offset) {
    throw new MemoryBoundsError(
      "MMAP_OFFSET_WRAP",
      `Cannot map ${path}: file range [${hex(offset)}, +${hex(size)}) ends past ${hex(MAX_SAFE)}`,
    );
  }
  if (create && readOnly) {
    throw new ConfigError(
      "MMAP_CREATE_READ_ONLY",
      `Cannot map ${path}: create and readOnly exclude each other`,
    );
  }
  const page = sysPageSize();
  const delta = offset % page;
  const fileStart = offset - delta;
  const mapLen = delta + size; // <= offset + size <= MAX_SAFE
  const end = offset + size;

  const flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (create ? O_CREAT : 0) |
    (sync ? O_SYNC : 0) | (options.noFollow ? O_NOFOLLOW : 0);
  const fd = sysOpen(path, flags, options.mode ?? 0o600);
  let ptr: Deno.PointerObject;
  try {
    const st = sysFstat(fd, path);
    if ((st.mode & S_IFMT) === S_IFREG && st.size < end) {
      if (!create) {
        throw new MemoryBoundsError(
          "MMAP_FILE_TOO_SMALL",
          `Cannot map ${path} [${hex(offset)}, +${hex(size)}): the file is only ${
            hex(st.size)
          } bytes`,
        );
      }
      sysFtruncate(fd, end, path);
    }
    ptr = readOnly
      ? sysMmap(mapLen, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, fileStart, path)
      : sysMmap(mapLen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, fileStart, path);
  } catch (e) {
    closeQuietly(fd, path);
    throw e;
  }
  const m: Mapping = { ptr, len: mapLen, fd, target: path };
  const buffer = Deno.UnsafePointerView.getArrayBuffer(ptr, mapLen);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    leakGuard.unregister(m);
    let failure: unknown;
    try {
      sysMunmap(ptr, mapLen, path);
    } catch (e) {
      failure = e;
    }
    try {
      sysClose(fd, path);
    } catch (e) {
      failure ??= e;
    }
    if (failure !== undefined) throw failure;
  };
  leakGuard.register(buffer, m, m);
  try {
    return new MemoryRegion(
      base,
      buffer,
      {
        name: options.name ?? path,
        littleEndian: options.littleEndian ?? true,
        readOnly,
        release,
      },
      delta,
      size,
    );
  } catch (e) {
    release();
    throw e;
  }
}

/** Options for {@linkcode mapDevMem}. */
export interface MapDevMemOptions {
  /** The memory device. Default `"/dev/mem"`. */
  path?: string;
  /** Region name for errors. Default `"mem@<pa>"`. */
  name?: string;
  /** Map read-only (private copy-on-write; accessors refuse writes). */
  readOnly?: boolean;
}

/**
 * Map physical memory `[pa, pa + size)` through `/dev/mem` (file offset `pa`,
 * opened `O_SYNC` so the mapping is uncached). Needs root and a kernel that
 * allows the range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapDevMem } from "./mmap.ts";
 * // A regular file stands in for /dev/mem here.
 * const path = Deno.makeTempFileSync();
 * try {
 *   Deno.truncateSync(path, 0x3000);
 *   const r = mapDevMem(0x2000, 0x100, { path });
 *   r.setU32(0x2004, 1);
 *   assert(r.base === 0x2000 && r.u32(0x2004) === 1);
 *   r.close();
 * } finally {
 *   Deno.removeSync(path);
 * }
 * ```
 */
export function mapDevMem(pa: number, size: number, options: MapDevMemOptions = {}): MemoryRegion {
  const opts: MapFileOptions = { base: pa, size, offset: pa, sync: true };
  opts.name = options.name ?? `mem@${hex(pa)}`;
  if (options.readOnly) opts.readOnly = true;
  return mapFile(options.path ?? "/dev/mem", opts);
}
