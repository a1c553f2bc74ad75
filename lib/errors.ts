/**
 * Typed errors shared by every part of amp.
 *
 * Each class extends the built-in error that best describes it (`SyntaxError`
 * for malformed bytes, `RangeError` for bounds) and carries a stable `code`
 * string, so callers and tests can match on the exact failed check. Every amp
 * error is recognisable with {@linkcode isAmpError}; anything else escaping the
 * library is a bug.
 *
 * @module
 */

// ---------------------------------------------------------------------------
// The codes each class is thrown with: a misspelt code does not compile.

/** Codes of {@linkcode AmpError}. */
export type AmpErrorCode =
  | "ABORTED"
  | "AMBIGUOUS_CPU"
  | "CPU_BUSY"
  | "LIBC_UNAVAILABLE"
  | "MACHINE_NOT_RUNNING"
  | "MEM_ATOMIC_BYTE_ORDER"
  | "MEM_CLOSED"
  | "MEM_READ_ONLY"
  | "NOT_OWNED"
  | "NO_REMOTE"
  | "QEMU_CLOSED"
  | "QEMU_EXITED"
  | "QEMU_HART_BUSY"
  | "QEMU_NOT_FOUND"
  | "QEMU_NOT_PARKED"
  | "QEMU_RAM_FILE_BUSY"
  | "QEMU_TEST_NOTIFY"
  | "QEMU_TEST_NO_VDEV"
  | "QMP_CLOSED"
  | "QMP_ERROR"
  | "QMP_PROTOCOL"
  | "RELOAD_BUSY"
  | "RELOAD_FAILED"
  | "RELOAD_OWNER_GONE"
  | "RELOAD_SELF"
  | "RELOAD_UNSUPPORTED"
  | "RPROC_BAD_ENTRY"
  | "SIM_EXITED"
  | "STATE"
  | "STOP_SELF"
  | "WAIT_BAD_OPTION";

/** Codes of {@linkcode ElfError} (and of ELF problems: `ELF_CODES`). */
export type ElfErrorCode =
  | "ELF_BAD_CLASS"
  | "ELF_BAD_DATA"
  | "ELF_BAD_MAGIC"
  | "ELF_BAD_PHENTSIZE"
  | "ELF_BAD_SHENTSIZE"
  | "ELF_BAD_SHSTRNDX"
  | "ELF_BAD_VERSION"
  | "ELF_BIG_ENDIAN"
  | "ELF_NO_SECTION_NAMES"
  | "ELF_NO_SEGMENTS"
  | "ELF_PHDRS_MISSING"
  | "ELF_PHDRS_OUTSIDE_FILE"
  | "ELF_SECTION_NAME_OUTSIDE_STRTAB"
  | "ELF_SECTION_NAME_UNTERMINATED"
  | "ELF_SECTION_OUTSIDE_FILE"
  | "ELF_SEGMENTS_OVERLAP"
  | "ELF_SEGMENT_ADDRESS_WRAP"
  | "ELF_SEGMENT_EMPTY"
  | "ELF_SEGMENT_FILESZ_GT_MEMSZ"
  | "ELF_SEGMENT_OUTSIDE_FILE"
  | "ELF_SHDRS_MISSING"
  | "ELF_SHDRS_OUTSIDE_FILE"
  | "ELF_SHSTRTAB_NOT_STRTAB"
  | "ELF_TOO_SMALL"
  | "ELF_VALUE_TOO_LARGE";

/** Codes of {@linkcode ResourceTableError} (and of resource table findings). */
export type ResourceTableErrorCode =
  | "RSC_BAD_VERSION"
  | "RSC_CARVEOUT_RESERVED_NONZERO"
  | "RSC_DEVMEM_RESERVED_NONZERO"
  | "RSC_ENTRIES_OVERLAP"
  | "RSC_ENTRY_OUT_OF_BOUNDS"
  | "RSC_ENTRY_OVERLAPS_HEADER"
  | "RSC_ENTRY_TRUNCATED"
  | "RSC_ENTRY_UNALIGNED"
  | "RSC_FIELD_RANGE"
  | "RSC_INVALID"
  | "RSC_LAYOUT"
  | "RSC_NAME_TOO_LONG"
  | "RSC_OFFSETS_OUT_OF_BOUNDS"
  | "RSC_RESERVED_NONZERO"
  | "RSC_SECTION_DUPLICATE"
  | "RSC_SECTION_EMPTY"
  | "RSC_SECTION_NOBITS"
  | "RSC_SIZE_UNALIGNED"
  | "RSC_TOO_SMALL"
  | "RSC_TRACE_BAD_DA"
  | "RSC_TRACE_RESERVED_NONZERO"
  | "RSC_TRACE_ZERO_LEN"
  | "RSC_UNKNOWN_TYPE"
  | "RSC_VDEV_RESERVED_NONZERO"
  | "RSC_VDEV_TOO_MANY_VRINGS"
  | "RSC_VDEV_TRUNCATED"
  | "RSC_VENDOR_SKIPPED"
  | "RSC_VRING_BAD_ALIGN"
  | "RSC_VRING_BAD_NUM"
  | "RSC_VRING_RESERVED_NONZERO"
  | "TRACE_NONE"
  | "TRACE_TABLE_OFFSETS"
  | "TRACE_TABLE_TOO_SMALL"
  | "TRACE_TABLE_VERSION";

/** Codes of {@linkcode MemoryBoundsError}. */
export type MemoryBoundsErrorCode =
  | "MEM_BAD_BASE"
  | "MEM_BAD_SIZE"
  | "MEM_DUPLICATE"
  | "MEM_MISALIGNED"
  | "MEM_OUT_OF_BOUNDS"
  | "MEM_OVERLAP"
  | "MEM_U64_UNSAFE"
  | "MEM_UNMAPPED"
  | "MEM_WRAP"
  | "MMAP_BAD_OFFSET"
  | "MMAP_BAD_SIZE"
  | "MMAP_FILE_TOO_SMALL"
  | "MMAP_OFFSET_WRAP"
  | "QEMU_BAD_ENTRY"
  | "QEMU_BAD_LOAD_RANGE"
  | "TRACE_OUTSIDE"
  | "TRACE_TABLE_UNMAPPED"
  | "UIO_MAP_ADDR_RANGE"
  | "UIO_MAP_EMPTY"
  | "UIO_MAP_INDEX_RANGE"
  | "UIO_MAP_LEN_RANGE"
  | "UIO_MAP_OFFSET_RANGE"
  | "UIO_MAP_WRAP"
  | "VDEV_OUTSIDE"
  | "VQ_RING_OUTSIDE";

/** Codes of {@linkcode LoadError}. */
export type LoadErrorCode =
  | "LOAD_BAD_SEGMENT"
  | "LOAD_OUTSIDE_REGIONS"
  | "LOAD_READ"
  | "LOAD_RSC_OUTSIDE_REGIONS"
  | "LOAD_RSC_TOO_BIG"
  | "LOAD_TOO_BIG"
  | "LOAD_VRING_NO_SLOT"
  | "LOAD_VRING_OUTSIDE"
  | "LOAD_VRING_SLOT";

/** Codes of {@linkcode VirtioError}. */
export type VirtioErrorCode =
  | "HOST_NO_RPMSG_VDEV"
  | "HOST_SPLIT_REGIONS"
  | "HOST_VRING_COUNT"
  | "SIM_NO_RPMSG_VDEV"
  | "SIM_VRING_COUNT"
  | "VDEV_BAD_ARG"
  | "VDEV_BAD_TYPE"
  | "VDEV_CLOSED"
  | "VDEV_FAILED"
  | "VDEV_RESERVED"
  | "VDEV_TOO_MANY_VRINGS"
  | "VDEV_TRUNCATED"
  | "VDEV_VRING_ALIGN"
  | "VDEV_VRING_NUM"
  | "VDEV_VRING_RESERVED"
  | "VQ_AVAIL_HEAD_IN_FLIGHT"
  | "VQ_AVAIL_HEAD_RANGE"
  | "VQ_AVAIL_IDX_JUMP"
  | "VQ_BAD_ALIGN"
  | "VQ_BAD_ARG"
  | "VQ_BAD_NUM"
  | "VQ_BAD_PA"
  | "VQ_BAD_RANGE"
  | "VQ_BYTE_ORDER"
  | "VQ_CLOSED"
  | "VQ_DESC_ADDR"
  | "VQ_DESC_INDIRECT"
  | "VQ_DESC_LOOP"
  | "VQ_DESC_NEXT_RANGE"
  | "VQ_MISALIGNED"
  | "VQ_PUT_LEN"
  | "VQ_PUT_NOT_IN_FLIGHT"
  | "VQ_READ_ONLY"
  | "VQ_USED_IDX_JUMP"
  | "VQ_USED_ID_NOT_POSTED"
  | "VQ_USED_ID_RANGE"
  | "VQ_USED_LEN";

/** Codes of {@linkcode RpmsgError}. */
export type RpmsgErrorCode =
  | "RPMSG_ADDR_IN_USE"
  | "RPMSG_ALREADY_HELD"
  | "RPMSG_BAD_ADDR"
  | "RPMSG_BAD_BUFFER"
  | "RPMSG_BAD_HANDLE"
  | "RPMSG_CLOSED"
  | "RPMSG_EP_DESTROYED"
  | "RPMSG_NAME_TOO_LONG"
  | "RPMSG_NOT_IN_CALLBACK"
  | "RPMSG_NO_ADDR"
  | "RPMSG_NO_BUFFER"
  | "RPMSG_NO_DST"
  | "RPMSG_NS_BAD_ADDR"
  | "RPMSG_NS_BAD_FLAGS"
  | "RPMSG_NS_BAD_LENGTH"
  | "RPMSG_NS_NAME_UNTERMINATED"
  | "RPMSG_TOO_LONG"
  | "RPMSG_VQ_FULL";

/** Codes of {@linkcode ConfigError}. */
export type ConfigErrorCode =
  | "BACKEND_UNAVAILABLE"
  | "ELF_SPEC_SECTION"
  | "ELF_SPEC_VALUE"
  | "LOAD_CHUNK_SIZE"
  | "MAP_MISMATCH"
  | "MMAP_BAD_PATH"
  | "MMAP_CREATE_READ_ONLY"
  | "NOTIFY_BAD_WORD"
  | "NOTIFY_INPROC"
  | "PROFILE_CPU"
  | "PROFILE_FIELD"
  | "PROFILE_JSON"
  | "PROFILE_LAYOUT"
  | "PROFILE_LAYOUT_OVERLAP"
  | "PROFILE_NOTIFY"
  | "PROFILE_NOT_FOUND"
  | "PROFILE_OVERLAP"
  | "PROFILE_POOL"
  | "PROFILE_RANGE"
  | "PROFILE_READ"
  | "PROFILE_UNKNOWN_FIELD"
  | "QEMU_BAD_HART"
  | "QEMU_BAD_OPTION"
  | "QEMU_PROFILE"
  | "QEMU_RAM_FILE"
  | "QMP_BAD_PATH"
  | "REMOTE_MACHINE"
  | "REMOTE_SHM_NAME"
  | "REMOTE_SOCKET"
  | "REMOTE_TABLE_SIZE"
  | "RPMSG_BAD_BUF_SIZE"
  | "RPMSG_BAD_POOL"
  | "RPMSG_BAD_ROLE"
  | "RPMSG_BAD_WINDOW"
  | "RPMSG_POOL_TOO_SMALL"
  | "RPMSG_VQ_ROLE"
  | "RPROC_AMBIGUOUS"
  | "RPROC_FW_NAME"
  | "RPROC_NOT_FOUND"
  | "SHMEM_DEMO_UNKNOWN"
  | "SHM_BAD_NAME"
  | "SIM_COMMAND"
  | "SIM_NO_RSC"
  | "SIM_PREFIX"
  | "SIM_RSC_SIZE"
  | "SIM_RSC_UNMAPPED"
  | "STATE_DIR"
  | "STATE_FILE_CORRUPT"
  | "STATE_FILE_READ"
  | "STATE_FILE_WRITE"
  | "STATE_LOCK"
  | "UIO_AMBIGUOUS"
  | "UIO_BAD_DEVICE_NAME"
  | "UIO_BAD_MAP_INDEX"
  | "UIO_BAD_OPTION"
  | "UIO_BIND_FAILED"
  | "UIO_DRIVER_LINK"
  | "UIO_MAP_ATTR_MISSING"
  | "UIO_MAP_BAD_ADDR"
  | "UIO_MAP_BAD_OFFSET"
  | "UIO_MAP_BAD_SIZE"
  | "UIO_MAP_NOT_FOUND"
  | "UIO_NOT_FOUND"
  | "UIO_OVERRIDE_FAILED"
  | "UIO_UNBIND_FAILED";

/**
 * Every code an amp error can carry: the per-class unions, `TIMEOUT`,
 * `USAGE`, and the errno names of {@linkcode OsError} (`"ENOENT"`...).
 */
export type AmpCode =
  | AmpErrorCode
  | ElfErrorCode
  | ResourceTableErrorCode
  | MemoryBoundsErrorCode
  | LoadErrorCode
  | VirtioErrorCode
  | RpmsgErrorCode
  | ConfigErrorCode
  | "TIMEOUT"
  | "USAGE"
  | OsErrorCode;

/** Code of an {@linkcode OsError}: the errno's short name, or `OS_ERROR` for one amp does not name. */
export type OsErrorCode = `E${string}` | "OS_ERROR";

const BRAND: unique symbol = Symbol.for("amp.error");

/** Fields every amp error has. */
export interface AmpErrorFields {
  /** Stable machine-readable identifier of the failed check, e.g. `"ELF_BAD_MAGIC"`. */
  readonly code: string;
}

function brand(e: Error, code: string): void {
  Object.defineProperty(e, BRAND, { value: true });
  Object.defineProperty(e, "code", { value: code, enumerable: true });
}

/**
 * True when `e` was thrown by amp on purpose (any class in this module).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isAmpError, MemoryBoundsError } from "./errors.ts";
 * assert(isAmpError(new MemoryBoundsError("MEM_OUT_OF_BOUNDS", "out of range")));
 * assert(!isAmpError(new Error("x")));
 * ```
 */
export function isAmpError(e: unknown): e is Error & AmpErrorFields {
  return typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Generic amp failure that has no more specific class.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AmpError } from "./errors.ts";
 * const e = new AmpError("STATE", "core 1 is not running");
 * assert(e.code === "STATE");
 * ```
 */
export class AmpError extends Error implements AmpErrorFields {
  declare readonly code: AmpErrorCode;
  /** Create an error with a stable `code` and a human message. */
  constructor(code: AmpErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AmpError";
    brand(this, code);
  }
}

/**
 * Malformed firmware image: a check on the ELF file failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ElfError } from "./errors.ts";
 * const e = new ElfError("ELF_BAD_MAGIC", "not an ELF file");
 * assert(e instanceof SyntaxError && e.code === "ELF_BAD_MAGIC");
 * ```
 */
export class ElfError extends SyntaxError implements AmpErrorFields {
  declare readonly code: ElfErrorCode;
  /** Create an error with a stable `code` and a human message. */
  constructor(code: ElfErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ElfError";
    brand(this, code);
  }
}

/**
 * Malformed resource table: a check from openamp-wire.md section 1 failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ResourceTableError } from "./errors.ts";
 * const e = new ResourceTableError("RSC_BAD_VERSION", "version 2, expected 1");
 * assert(e instanceof SyntaxError);
 * ```
 */
export class ResourceTableError extends SyntaxError implements AmpErrorFields {
  declare readonly code: ResourceTableErrorCode;
  /** Create an error with a stable `code` and a human message. */
  constructor(code: ResourceTableErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ResourceTableError";
    brand(this, code);
  }
}

/**
 * An access or a placement falls outside the memory it must stay inside.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBoundsError } from "./errors.ts";
 * const e = new MemoryBoundsError("MEM_OUT_OF_BOUNDS", "[0x10, +0x4) is outside region shm");
 * assert(e instanceof RangeError);
 * ```
 */
export class MemoryBoundsError extends RangeError implements AmpErrorFields {
  declare readonly code: MemoryBoundsErrorCode;
  /** Create an error with a stable `code` and a human message. */
  constructor(code: MemoryBoundsErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MemoryBoundsError";
    brand(this, code);
  }
}

/**
 * A firmware image could not be placed into the remote's memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LoadError } from "./errors.ts";
 * const e = new LoadError("LOAD_OUTSIDE_REGIONS", 'Cannot load firmware "fw.elf": ...');
 * assert(e.code === "LOAD_OUTSIDE_REGIONS");
 * ```
 */
export class LoadError extends Error implements AmpErrorFields {
  declare readonly code: LoadErrorCode;
  /** Create an error with a stable `code` and a human message. */
  constructor(code: LoadErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LoadError";
    brand(this, code);
  }
}

/**
 * A system call failed (`open`, `mmap`, a sysfs write...). Carries `errno`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OsError } from "./errors.ts";
 * const e = new OsError("open", 2, "/dev/uio9");
 * assert(e.errno === 2 && e.code === "ENOENT" && e.message.includes("ENOENT"));
 * ```
 */
export class OsError extends Error implements AmpErrorFields {
  declare readonly code: OsErrorCode;
  /** The failing call, e.g. `"mmap"`. */
  readonly syscall: string;
  /** The C `errno` value. */
  readonly errno: number;
  /** Create from a syscall name, an errno and what it was applied to. */
  constructor(syscall: string, errno: number, target: string, options?: ErrorOptions) {
    const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${syscall}(${target}) failed: ${name}`, options);
    this.name = "OsError";
    this.syscall = syscall;
    this.errno = errno;
    brand(this, name.startsWith("E") ? name.split(" ")[0]! : "OS_ERROR");
  }
}

/** Short names of the errno values amp reports most (Linux numbering). */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM (operation not permitted)",
  2: "ENOENT (no such file or directory)",
  5: "EIO (input/output error)",
  9: "EBADF (bad file descriptor)",
  11: "EAGAIN (resource temporarily unavailable)",
  12: "ENOMEM (out of memory)",
  13: "EACCES (permission denied)",
  16: "EBUSY (device or resource busy)",
  17: "EEXIST (file exists)",
  19: "ENODEV (no such device)",
  20: "ENOTDIR (not a directory)",
  21: "EISDIR (is a directory)",
  22: "EINVAL (invalid argument)",
  24: "EMFILE (too many open files)",
  28: "ENOSPC (no space left on device)",
  30: "EROFS (read-only file system)",
  75: "EOVERFLOW (value too large)",
  95: "EOPNOTSUPP (operation not supported)",
  111: "ECONNREFUSED (connection refused)",
};

const ERRNO_BY_CLASS: readonly [new (...a: never[]) => Error, number][] = [
  [Deno.errors.NotFound, 2],
  [Deno.errors.PermissionDenied, 13],
  [Deno.errors.Busy, 16],
  [Deno.errors.AlreadyExists, 17],
  [Deno.errors.NotADirectory, 20],
  [Deno.errors.IsADirectory, 21],
  [Deno.errors.InvalidData, 22],
];

/**
 * The errno of a short name such as `"ENOENT"` (as Deno's I/O errors carry in
 * `code`), or undefined when it is not one amp names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errnoFromName } from "./errors.ts";
 * assert.equal(errnoFromName("EBUSY"), 16);
 * assert.equal(errnoFromName("EWHAT"), undefined);
 * ```
 */
export function errnoFromName(name: string): number | undefined {
  for (const [n, text] of Object.entries(ERRNO_NAMES)) {
    if (text.startsWith(name + " ")) return Number(n);
  }
  return undefined;
}

/**
 * An {@linkcode OsError} for an error thrown by a Deno file API. The errno
 * comes from "(os error N)" in its message, else its `code` name, else its
 * class, else EIO. An OsError is returned as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { osErrorFrom } from "./errors.ts";
 * const e = osErrorFrom(new Deno.errors.Busy("busy"), "write", "/sys/x");
 * assert(e.errno === 16 && e.syscall === "write" && e.code === "EBUSY");
 * ```
 */
export function osErrorFrom(e: unknown, syscall: string, target: string): OsError {
  if (e instanceof OsError) return e;
  const m = e instanceof Error ? /\(os error (\d+)\)/.exec(e.message) : null;
  let errno = m ? Number(m[1]) : undefined;
  const code = (e as { code?: unknown } | null)?.code;
  if (errno === undefined && typeof code === "string") errno = errnoFromName(code);
  if (errno === undefined) {
    for (const [cls, n] of ERRNO_BY_CLASS) if (e instanceof cls) errno = n;
  }
  return new OsError(syscall, errno ?? 5, target, { cause: e });
}

/**
 * A virtqueue or vdev protocol violation by the peer; the queue is broken.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VirtioError } from "./errors.ts";
 * const e = new VirtioError("VQ_USED_ID_RANGE", "vring0: used id 300 >= num 256");
 * assert(e.code === "VQ_USED_ID_RANGE");
 * ```
 */
export class VirtioError extends Error implements AmpErrorFields {
  declare readonly code: VirtioErrorCode;
  /** Create an error with a stable `code` and a human message. */
  constructor(code: VirtioErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VirtioError";
    brand(this, code);
  }
}

/**
 * An rpmsg-level failure: bad message from the peer, no buffer, unknown endpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RpmsgError } from "./errors.ts";
 * const e = new RpmsgError("RPMSG_NO_BUFFER", "no free TX buffer within 15000 ms");
 * assert(e.code === "RPMSG_NO_BUFFER");
 * ```
 */
export class RpmsgError extends Error implements AmpErrorFields {
  declare readonly code: RpmsgErrorCode;
  /** Create an error with a stable `code` and a human message. */
  constructor(code: RpmsgErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RpmsgError";
    brand(this, code);
  }
}

/**
 * A wait ran past its deadline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TimeoutError } from "./errors.ts";
 * const e = new TimeoutError("waiting for DRIVER_OK", 5000);
 * assert(e.message.includes("5000 ms"));
 * ```
 */
export class TimeoutError extends Error implements AmpErrorFields {
  declare readonly code: "TIMEOUT";
  /** How long was waited, in milliseconds. */
  readonly ms: number;
  /** Create from what was waited for and for how long. */
  constructor(what: string, ms: number, options?: ErrorOptions) {
    super(`Timed out after ${ms} ms ${what}`, options);
    this.name = "TimeoutError";
    this.ms = ms;
    brand(this, "TIMEOUT");
  }
}

/**
 * Invalid configuration: a machine profile, an option value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError } from "./errors.ts";
 * const e = new ConfigError("PROFILE_FIELD", "board.json: regions[0].size must be > 0");
 * assert(e.code === "PROFILE_FIELD");
 * ```
 */
export class ConfigError extends Error implements AmpErrorFields {
  declare readonly code: ConfigErrorCode;
  /** Create an error with a stable `code` and a human message. */
  constructor(code: ConfigErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
    brand(this, code);
  }
}

/**
 * The command line is wrong (unknown flag, missing argument). Exit code 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "./errors.ts";
 * const e = new UsageError("missing <fw.elf>");
 * assert(e.code === "USAGE");
 * ```
 */
export class UsageError extends Error implements AmpErrorFields {
  declare readonly code: "USAGE";
  /** Create from a message saying what is wrong with the command line. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
    brand(this, "USAGE");
  }
}
