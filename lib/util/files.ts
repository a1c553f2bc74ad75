/**
 * Bounded file input: every file amp reads goes through {@linkcode readBoundedFile}
 * (or {@linkcode readJsonFile}), so no input can make amp allocate without
 * bound or block for ever. A file is stat'ed first and must be a regular file
 * (a FIFO, a device or a directory is refused before it is opened), it may not
 * be larger than the caller's cap, and the whole read has a deadline.
 *
 * @module
 */

import { AmpError, ConfigError, type ConfigErrorCode, TimeoutError } from "../errors.ts";

/** Options of {@linkcode readBoundedFile}. */
export interface ReadBoundedOptions {
  /** Largest size accepted, in bytes. */
  maxBytes: number;
  /** What the file is, for messages (e.g. `"firmware"`, `"machine profile"`). */
  what: string;
  /** Deadline for the whole read, ms (default 10000). */
  timeoutMs?: number;
  /** Error code used for every refusal (default `FILE_READ`). */
  code?: ConfigErrorCode;
}

function sizeText(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

function osReason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "it is a directory";
  const m = (e as Error).message ?? String(e);
  // Deno's messages end in "(os error N)": keep the reason, drop the noise.
  return m.replace(/\s*\(os error \d+\)/, "").replace(/: '.*'$/, "").trim();
}

async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Read a whole regular file of at most `maxBytes` bytes, with a deadline.
 *
 * Errors (all `ConfigError` with `options.code`, one line naming the file):
 * missing, unreadable, not a regular file (FIFO, device, directory), larger
 * than the cap, changed while read; `TimeoutError` past the deadline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readBoundedFile } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "hello");
 * assert((await readBoundedFile(`${dir}/a.txt`, { maxBytes: 16, what: "note" })).length === 5);
 * const big = await readBoundedFile(`${dir}/a.txt`, { maxBytes: 4, what: "note" }).catch((e) => e);
 * assert(big.message === `Cannot read note ${dir}/a.txt: it is 5 bytes, more than the 4 bytes allowed`);
 * const dev = await readBoundedFile("/dev/zero", { maxBytes: 4, what: "note" }).catch((e) => e);
 * assert(dev.message === "Cannot read note /dev/zero: not a regular file (a character device)");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readBoundedFile(
  path: string,
  options: ReadBoundedOptions,
): Promise<Uint8Array> {
  const { maxBytes, what } = options;
  const code = options.code ?? "FILE_READ";
  const timeoutMs = options.timeoutMs ?? 10_000;
  const refuse = (why: string, cause?: unknown): never => {
    throw new ConfigError(
      code,
      `Cannot read ${what} ${path}: ${why}`,
      cause === undefined ? undefined : { cause },
    );
  };
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (e) {
    return refuse(osReason(e), e);
  }
  if (!st.isFile) refuse(`not a regular file (${kindOf(st)})`);
  if (st.size > maxBytes) {
    refuse(`it is ${sizeText(st.size)}, more than the ${sizeText(maxBytes)} allowed`);
  }
  const read = async (): Promise<Uint8Array> => {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(path, { read: true });
    } catch (e) {
      return refuse(osReason(e), e);
    }
    try {
      const again = await f.stat();
      if (!again.isFile || again.ino !== st.ino || again.dev !== st.dev) {
        refuse("it was replaced while being opened");
      }
      // Read at most maxBytes + 1 bytes: a file that grew past the cap is refused too.
      let buf = new Uint8Array(Math.min(maxBytes, again.size) + 1);
      let n = 0;
      for (;;) {
        if (n === buf.length) {
          if (n > maxBytes) refuse(`it grew past the ${sizeText(maxBytes)} allowed while read`);
          const bigger = new Uint8Array(Math.min(maxBytes + 1, buf.length * 2));
          bigger.set(buf);
          buf = bigger;
        }
        const got = await f.read(buf.subarray(n));
        if (got === null) return n === buf.length ? buf : buf.slice(0, n);
        n += got;
      }
    } finally {
      f.close();
    }
  };
  try {
    return await withDeadline(read(), timeoutMs, `reading ${what} ${path}`);
  } catch (e) {
    if (e instanceof TimeoutError) refuse(`no data within ${timeoutMs} ms`, e);
    throw e;
  }
}

function kindOf(st: Deno.FileInfo): string {
  if (st.isDirectory) return "a directory";
  if (st.isFifo) return "a FIFO";
  if (st.isCharDevice) return "a character device";
  if (st.isBlockDevice) return "a block device";
  if (st.isSocket) return "a socket";
  return "not a plain file";
}

/**
 * Read and parse a bounded JSON file ({@linkcode readBoundedFile} rules).
 * A parse error is a `ConfigError` with `options.parseCode` (default: `code`)
 * naming the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readJsonFile } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/p.json`, '{"a": 1}');
 * assert.deepEqual(await readJsonFile(`${dir}/p.json`, { maxBytes: 64, what: "profile" }), { a: 1 });
 * await Deno.writeTextFile(`${dir}/bad.json`, "{");
 * const e = await readJsonFile(`${dir}/bad.json`, { maxBytes: 64, what: "profile" })
 *   .catch((e: Error) => e) as Error;
 * assert(e.message.startsWith(`Cannot read profile ${dir}/bad.json: not valid JSON`));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readJsonFile(
  path: string,
  options: ReadBoundedOptions & { parseCode?: ConfigErrorCode },
): Promise<unknown> {
  const bytes = await readBoundedFile(path, options);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw new ConfigError(
      options.code ?? "FILE_READ",
      `Cannot read ${options.what} ${path}: not UTF-8 text`,
      { cause: e },
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      options.parseCode ?? options.code ?? "FILE_READ",
      `Cannot read ${options.what} ${path}: not valid JSON (${(e as Error).message})`,
      { cause: e },
    );
  }
}

/** True when `e` is amp's refusal of a missing file (for callers that treat absence as normal). */
export function isMissingFile(e: unknown): boolean {
  return e instanceof AmpError && e.cause instanceof Deno.errors.NotFound ||
    (e instanceof ConfigError && e.cause instanceof Deno.errors.NotFound);
}
