/**
 * Typed errors shared by every part of amp.
 *
 * Each class extends the built-in error that best describes it (`SyntaxError`
 * for malformed bytes, `RangeError` for bounds) and carries a stable `code`,
 * typed per class (the unions of `error_codes.ts`), so callers and tests can
 * match on the exact failed check and a misspelt code does not compile. Every amp
 * error is recognisable with {@linkcode isAmpError}; anything else escaping the
 * library is a bug.
 *
 * @module
 */

import type {
  AmpErrorCode,
  ConfigErrorCode,
  ElfErrorCode,
  LoadErrorCode,
  MemoryBoundsErrorCode,
  OsErrorCode,
  ResourceTableErrorCode,
  RpmsgErrorCode,
  VirtioErrorCode,
} from "./error_codes.ts";

export type {
  AmpCode,
  AmpErrorCode,
  ConfigErrorCode,
  ElfErrorCode,
  LoadErrorCode,
  MemoryBoundsErrorCode,
  OsErrorCode,
  ResourceTableErrorCode,
  RpmsgErrorCode,
  VhostErrorCode,
  VirtioErrorCode,
} from "./error_codes.ts";

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
