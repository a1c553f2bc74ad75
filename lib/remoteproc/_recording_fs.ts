/**
 * An in-memory {@linkcode ControlFs} that records every call, for tests of
 * the control backends.
 *
 * @module
 */

import { OsError } from "../errors.ts";
import type { ControlFs } from "./_fs.ts";

/** One call recorded by {@linkcode RecordingFs}. */
export interface FsCall {
  /** Operation. */
  op: "read" | "write" | "list" | "install";
  /** Path it was applied to. */
  path: string;
  /** Text written (`write`) or byte count (`install`). */
  data?: string | number;
}

/**
 * An in-memory {@linkcode ControlFs} for tests: files are a map from path to
 * text, every call is recorded in order, and `failures` makes chosen writes
 * fail with an errno.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RecordingFs } from "./_recording_fs.ts";
 * const fs = new RecordingFs({ "/s/state": "offline" });
 * fs.failures.set("/s/busy", 16);
 * await fs.write("/s/state", "start");
 * assert(fs.files.get("/s/state") === "start" && fs.calls.length === 1);
 * ```
 */
export class RecordingFs implements ControlFs {
  /** Current file contents (text). */
  readonly files: Map<string, string>;
  /** Calls in order. */
  readonly calls: FsCall[] = [];
  /** Paths whose writes fail, with the errno to fail with. */
  readonly failures: Map<string, number> = new Map();
  /** Start with these files (path to text). Writes to missing files fail with ENOENT. */
  constructor(files: Record<string, string> = {}) {
    this.files = new Map(Object.entries(files));
  }
  read(path: string): Promise<string> {
    this.calls.push({ op: "read", path });
    const v = this.files.get(path);
    if (v === undefined) return Promise.reject(new OsError("open", 2, path));
    return Promise.resolve(v);
  }
  write(path: string, text: string): Promise<void> {
    this.calls.push({ op: "write", path, data: text });
    const errno = this.failures.get(path);
    if (errno !== undefined) return Promise.reject(new OsError("write", errno, path));
    if (!this.files.has(path)) return Promise.reject(new OsError("open", 2, path));
    this.files.set(path, text);
    return Promise.resolve();
  }
  list(dir: string): Promise<string[]> {
    this.calls.push({ op: "list", path: dir });
    const prefix = dir.endsWith("/") ? dir : dir + "/";
    const names = new Set<string>();
    for (const p of this.files.keys()) {
      if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split("/")[0]!);
    }
    if (names.size === 0) return Promise.reject(new OsError("readdir", 2, dir));
    return Promise.resolve([...names].sort());
  }
  install(path: string, bytes: Uint8Array): Promise<void> {
    this.calls.push({ op: "install", path, data: bytes.length });
    this.files.set(path, new TextDecoder("latin1").decode(bytes));
    return Promise.resolve();
  }
  /** Only the `write` calls, as `[path, text]` pairs. */
  writes(): [string, string][] {
    return this.calls.filter((c) => c.op === "write").map((c) => [c.path, String(c.data)]);
  }
}
