/**
 * The registry behind `amp status`, `amp stop` and every verb that finds "the
 * running remote": which amp process owns which remote cpu, with what
 * firmware, on which machine, and how to reach it (its control socket and
 * console log).
 *
 * - Location: `$AMP_STATE_DIR/state.json`, else `$XDG_RUNTIME_DIR/amp/state.json`,
 *   else `/tmp/amp-<uid>/state.json` (directory mode 0700, must be owned by the user).
 * - Writes are atomic (temporary file + rename) and every read-modify-write
 *   holds an exclusive `flock` on `state.lock`, taken with a deadline, so
 *   concurrent amp processes do not lose each other's entries. Readers need no
 *   lock. The file is read bounded (1 MiB).
 * - An entry is stale when its pid is gone (or is a zombie), or when the pid
 *   was reused by a process that started later (`lib/runtime/process.ts`).
 *   What a stale owner left behind (its children, files, shm objects) is
 *   listed in its entry and released by {@linkcode releaseStale}.
 *
 * Requests to a live owner (stop, reload, status, console) go over its
 * control socket (`control.ts`), never through this file.
 *
 * @module
 */

import { AmpError, ConfigError, TimeoutError } from "../errors.ts";
import { sleep } from "../util/wait.ts";
import { isStale, processInfo } from "./process.ts";

/** A process an owner started (QEMU, the simulated core). */
export interface ChildRecord {
  /** What it is, for messages (e.g. `"QEMU"`). */
  what: string;
  /** Its pid. */
  pid: number;
  /** Its start time (`/proc/<pid>/stat` field 22), to tell it from a reused pid. */
  pidStart?: number;
}

/** One remote cpu owned by an amp process. */
export interface CpuEntry {
  /** Remote cpu number. */
  cpu: number;
  /** Machine profile name. */
  machine: string;
  /** Owning process. */
  pid: number;
  /** Start time of the owning process (`/proc/<pid>/stat` field 22), to detect pid reuse. */
  pidStart?: number;
  /** Firmware path as given. */
  firmware: string;
  /** Lifecycle state as the owner last recorded it (`loaded`, `running`, ...). */
  state: string;
  /** ISO time the entry was created. */
  startedAt: string;
  /** ISO time of the last change. */
  updatedAt: string;
  /** The owner's control socket (stop, reload, status, console). */
  control?: string;
  /** Everything the remote printed since it was started, when the machine has a console. */
  consoleLog?: string;
  /** Console commands the firmware offers (its `__fsym_` symbols, or the simulated core's shell). */
  shell?: string[];
  /** The firmware's own resource table (hex), to recognise a fresh copy in shared memory. */
  rscTable?: string;
  /** Processes the owner started; killed when the entry is found stale. */
  children?: ChildRecord[];
  /** Files the owner created (RAM files, sockets, temporary directories); removed when stale. */
  files?: string[];
  /** Why the remote stopped or is stopping (state `crashed` or `stopping`), as the owner saw it. */
  reason?: string;
}

/** How a run ended, as its owner recorded it when it released the cpu. */
export interface EndRecord {
  /** Remote cpu number. */
  cpu: number;
  /** Machine profile name. */
  machine: string;
  /** The owner's pid. */
  pid: number;
  /** Why it ended (e.g. "the simulated remote exited (code 137)"). */
  reason: string;
  /** ISO time. */
  at: string;
}

/** The whole file. */
export interface RuntimeState {
  /** Format version. */
  version: 1;
  /** One entry per owned cpu. */
  entries: CpuEntry[];
  /** The last runs that ended, newest last (at most {@linkcode MAX_END_RECORDS}), for "say why". */
  ended?: EndRecord[];
}

/** How many {@linkcode EndRecord}s the state file keeps. */
export const MAX_END_RECORDS = 16;

/** Options shared by the state-file functions. */
export interface StateFileOptions {
  /** Directory of `state.json` (default {@linkcode defaultStateDir}). */
  dir?: string;
  /** Longest wait for the lock, ms (default 5000). */
  lockTimeoutMs?: number;
}

const STATE_NAME = "state.json";
const LOCK_NAME = "state.lock";
const MAX_STATE_BYTES = 1 << 20;

/**
 * The state directory from the environment: `AMP_STATE_DIR`, else
 * `$XDG_RUNTIME_DIR/amp`, else `/tmp/amp-<uid>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultStateDir } from "./registry.ts";
 * assert(defaultStateDir({ AMP_STATE_DIR: "/x" }) === "/x");
 * assert(defaultStateDir({ XDG_RUNTIME_DIR: "/run/user/7" }) === "/run/user/7/amp");
 * assert(defaultStateDir({}, 7) === "/tmp/amp-7");
 * ```
 */
export function defaultStateDir(
  env: Record<string, string | undefined> = Deno.env.toObject(),
  uid: number | null = Deno.uid(),
): string {
  if (env.AMP_STATE_DIR) return env.AMP_STATE_DIR;
  if (env.XDG_RUNTIME_DIR) return `${env.XDG_RUNTIME_DIR.replace(/\/+$/, "")}/amp`;
  return `/tmp/amp-${uid ?? "user"}`;
}

function isEndRecord(v: unknown): v is EndRecord {
  if (typeof v !== "object" || v === null) return false;
  const e = v as Record<string, unknown>;
  const int = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  return int(e.cpu) && int(e.pid) && typeof e.machine === "string" &&
    typeof e.reason === "string" && e.reason.length < 4096 && typeof e.at === "string";
}

/** Parse and validate the state file's text. */
function parseState(path: string, text: string): RuntimeState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      "STATE_FILE_CORRUPT",
      `State file ${path} is not valid JSON (${(e as Error).message}); delete it`,
      { cause: e },
    );
  }
  const o = json as { version?: unknown; entries?: unknown; ended?: unknown };
  if (typeof json !== "object" || json === null || o.version !== 1 || !Array.isArray(o.entries)) {
    throw new ConfigError(
      "STATE_FILE_CORRUPT",
      `State file ${path} does not have the expected {version: 1, entries: [...]} shape; delete it`,
    );
  }
  // Entries that do not have the expected shape are dropped.
  const state: RuntimeState = { version: 1, entries: o.entries.filter(isEntry).map(cleanEntry) };
  if (Array.isArray(o.ended)) state.ended = o.ended.filter(isEndRecord).slice(-MAX_END_RECORDS);
  return state;
}

function isEntry(v: unknown): v is CpuEntry {
  if (typeof v !== "object" || v === null) return false;
  const e = v as Record<string, unknown>;
  const int = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  return int(e.cpu) && int(e.pid) && (e.pid as number) > 0 &&
    (e.pidStart === undefined || int(e.pidStart)) && typeof e.machine === "string" &&
    typeof e.firmware === "string" && typeof e.state === "string" &&
    typeof e.startedAt === "string" && typeof e.updatedAt === "string";
}

/** Drop optional fields that do not have the expected shape (the entry itself stays). */
function cleanEntry(e: CpuEntry): CpuEntry {
  const str = (v: unknown) => typeof v === "string" && v.length > 0 && v.length < 4096;
  const strs = (v: unknown) => Array.isArray(v) && v.length <= 256 && v.every(str);
  if (e.control !== undefined && !str(e.control)) delete e.control;
  if (e.consoleLog !== undefined && !str(e.consoleLog)) delete e.consoleLog;
  if (e.reason !== undefined && !str(e.reason)) delete e.reason;
  if (e.shell !== undefined && !strs(e.shell)) delete e.shell;
  if (e.files !== undefined && !strs(e.files)) delete e.files;
  if (
    e.rscTable !== undefined &&
    !(typeof e.rscTable === "string" && /^([0-9a-f]{2}){1,65536}$/.test(e.rscTable))
  ) {
    delete e.rscTable;
  }
  if (e.children !== undefined) {
    const ok = Array.isArray(e.children) && e.children.length <= 16 &&
      e.children.every((c) =>
        typeof c === "object" && c !== null && typeof c.what === "string" &&
        Number.isSafeInteger(c.pid) && c.pid > 1 &&
        (c.pidStart === undefined || Number.isSafeInteger(c.pidStart))
      );
    if (!ok) delete e.children;
  }
  return e;
}

/**
 * The state file: atomic writes, locked read-modify-write.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StateFile } from "./registry.ts";
 * const dir = await Deno.makeTempDir();
 * const sf = new StateFile({ dir });
 * await sf.update((s) => { s.entries = []; });
 * assert((await sf.read()).entries.length === 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class StateFile {
  /** Directory holding the files. */
  readonly dir: string;
  /** `state.json`. */
  readonly path: string;
  /** `state.lock`. */
  readonly lockPath: string;
  readonly #lockTimeoutMs: number;

  /** Use the directory from `options.dir` or the environment. */
  constructor(options: StateFileOptions = {}) {
    this.dir = (options.dir ?? defaultStateDir()).replace(/\/+$/, "") || "/";
    this.path = `${this.dir}/${STATE_NAME}`;
    this.lockPath = `${this.dir}/${LOCK_NAME}`;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 5000;
  }

  /** Create the directory (mode 0700) if needed and check it is this user's. */
  async ensureDir(): Promise<void> {
    try {
      await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new ConfigError(
        "STATE_DIR",
        `Cannot create the amp state directory ${this.dir}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const st = await Deno.lstat(this.dir);
    const uid = Deno.uid();
    if (!st.isDirectory || (uid !== null && st.uid !== null && st.uid !== uid)) {
      throw new ConfigError(
        "STATE_DIR",
        `The amp state directory ${this.dir} is not a directory owned by uid ${uid}; ` +
          `set AMP_STATE_DIR to a private directory`,
      );
    }
  }

  /** Read the state (no lock needed: writers replace the file atomically). */
  async read(): Promise<RuntimeState> {
    let text: string;
    try {
      const st = await Deno.stat(this.path);
      if (st.size > MAX_STATE_BYTES) {
        throw new ConfigError(
          "STATE_FILE_CORRUPT",
          `State file ${this.path} is ${st.size} bytes, more than ${MAX_STATE_BYTES}; delete it`,
        );
      }
      text = await Deno.readTextFile(this.path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { version: 1, entries: [] };
      if (e instanceof ConfigError) throw e;
      throw new ConfigError(
        "STATE_FILE_READ",
        `Cannot read state file ${this.path}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    return parseState(this.path, text);
  }

  /**
   * {@linkcode read} without awaiting, for checks made inside a polling loop.
   * Any problem (missing, too large, corrupt) reads as no entries.
   */
  readSync(): RuntimeState {
    try {
      const st = Deno.statSync(this.path);
      if (!st.isFile || st.size > MAX_STATE_BYTES) return { version: 1, entries: [] };
      return parseState(this.path, Deno.readTextFileSync(this.path));
    } catch {
      return { version: 1, entries: [] };
    }
  }

  async #write(state: RuntimeState): Promise<void> {
    const tmp = `${this.path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      await Deno.writeTextFile(tmp, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
      await Deno.rename(tmp, this.path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw new ConfigError(
        "STATE_FILE_WRITE",
        `Cannot write state file ${this.path}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  async #lock(): Promise<Deno.FsFile> {
    await this.ensureDir();
    let f: Deno.FsFile;
    try {
      f = await Deno.open(this.lockPath, { read: true, write: true, create: true, mode: 0o600 });
    } catch (e) {
      throw new ConfigError(
        "STATE_LOCK",
        `Cannot open the state lock ${this.lockPath}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const deadline = Date.now() + this.#lockTimeoutMs;
    let wait = 1;
    try {
      while (!(await f.tryLock(true))) {
        if (Date.now() >= deadline) {
          throw new TimeoutError(
            `waiting for the state lock ${this.lockPath}`,
            this.#lockTimeoutMs,
          );
        }
        await sleep(wait);
        wait = Math.min(wait * 2, 20);
      }
    } catch (e) {
      f.close();
      throw e;
    }
    return f;
  }

  /**
   * Read, change and write the state while holding the lock. `fn` may modify
   * the state in place or return a new one. Returns what was written.
   */
  async update(
    fn: (state: RuntimeState) => RuntimeState | void | Promise<RuntimeState | void>,
  ): Promise<RuntimeState> {
    const lock = await this.#lock();
    try {
      const current = await this.read();
      const next = (await fn(current)) ?? current;
      await this.#write(next);
      return next;
    } finally {
      try {
        await lock.unlock();
      } finally {
        lock.close();
      }
    }
  }
}

/** Identity of a run to record. */
export interface RunInfo {
  /** Remote cpu number. */
  cpu: number;
  /** Machine profile name. */
  machine: string;
  /** Firmware path as given. */
  firmware: string;
  /** Initial state (default `"loaded"`). */
  state?: string;
  /** The owner's control socket path. */
  control?: string;
  /** The console log path. */
  consoleLog?: string;
}

/** What else {@linkcode RunRecord.update} may change. */
export type RunChanges = Partial<
  Pick<
    CpuEntry,
    "firmware" | "shell" | "rscTable" | "children" | "files" | "consoleLog" | "reason"
  >
>;

/** A recorded run owned by this process. */
export interface RunRecord {
  /** The entry as last written. */
  readonly entry: CpuEntry;
  /** Record a new lifecycle state (and other changes). */
  update(state: string, changes?: RunChanges): Promise<void>;
  /**
   * Remove the entry (only if this process still owns it), recording `reason`
   * (why the run ended) for host sessions still attached. A second call is harmless.
   */
  release(reason?: string): Promise<void>;
}

/**
 * Record that this process owns `info.cpu` on `info.machine`. Refused with
 * `AmpError` `CPU_BUSY` when another live process owns it; a stale entry is
 * released ({@linkcode releaseStale}: its children killed, its files
 * removed) and replaced, and `onStale` hears what was cleaned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerRun } from "./registry.ts";
 * import { statusReport } from "./status.ts";
 * const dir = await Deno.makeTempDir();
 * const run = await registerRun({ cpu: 1, machine: "sim", firmware: "fw.elf" }, { dir });
 * await run.update("running");
 * assert((await statusReport({ dir }))[0]?.state === "running");
 * await run.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function registerRun(
  info: RunInfo,
  options: StateFileOptions & { onStale?: (line: string) => void } = {},
): Promise<RunRecord> {
  const sf = new StateFile(options);
  const now = new Date().toISOString();
  const entry: CpuEntry = {
    cpu: info.cpu,
    machine: info.machine,
    pid: Deno.pid,
    firmware: info.firmware,
    state: info.state ?? "loaded",
    startedAt: now,
    updatedAt: now,
  };
  if (info.control !== undefined) entry.control = info.control;
  if (info.consoleLog !== undefined) entry.consoleLog = info.consoleLog;
  const start = processInfo(Deno.pid).start;
  if (start !== undefined) entry.pidStart = start;
  const same = (e: CpuEntry) => e.cpu === entry.cpu && e.machine === entry.machine;
  const stale: CpuEntry[] = [];
  await sf.update((s) => {
    const other = s.entries.find((e) => same(e) && e.pid !== Deno.pid && !isStale(e));
    if (other) {
      throw new AmpError(
        "CPU_BUSY",
        `Remote cpu ${info.cpu} of machine "${info.machine}" is owned by amp process ${other.pid} ` +
          `(firmware ${other.firmware}, ${other.state} since ${other.startedAt}); run "amp stop ${info.cpu}" first, ` +
          `or "amp load --reload <fw.elf> ${info.cpu}" to give it new firmware`,
      );
    }
    stale.push(...s.entries.filter((e) => same(e) && e.pid !== Deno.pid));
    s.entries = s.entries.filter((e) => !same(e));
    s.entries.push(entry);
  });
  for (const e of stale) {
    const cleaned = await releaseStale(e);
    if (cleaned.length > 0) {
      options.onStale?.(
        `Cleaned up after amp process ${e.pid}, which died owning cpu ${e.cpu}: ${
          cleaned.join("; ")
        }`,
      );
    }
  }
  let released = false;
  const mine = (e: CpuEntry) => same(e) && e.pid === Deno.pid;
  return {
    get entry() {
      return entry;
    },
    async update(state: string, changes: RunChanges = {}) {
      if (released) return;
      entry.state = state;
      entry.updatedAt = new Date().toISOString();
      for (const [k, v] of Object.entries(changes)) {
        if (v === undefined) delete (entry as unknown as Record<string, unknown>)[k];
        else (entry as unknown as Record<string, unknown>)[k] = v;
      }
      await sf.update((s) => {
        s.entries = s.entries.filter((e) => !mine(e));
        s.entries.push({ ...entry });
      });
    },
    async release(reason?: string) {
      if (released) return;
      released = true;
      await sf.update((s) => {
        s.entries = s.entries.filter((e) => !mine(e));
        if (reason !== undefined) {
          const rec: EndRecord = {
            cpu: entry.cpu,
            machine: entry.machine,
            pid: Deno.pid,
            reason,
            at: new Date().toISOString(),
          };
          s.ended = [...(s.ended ?? []), rec].slice(-MAX_END_RECORDS);
        }
      });
    },
  };
}

/**
 * Release what a dead owner left behind: kill its children that still run
 * (checked by pid and start time, so a reused pid is never hit), remove its
 * files, sockets and temporary directories. Returns one phrase per thing
 * released. Only for entries whose owner is gone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { releaseStale } from "./registry.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/left.sock`, "");
 * const e = { cpu: 1, machine: "sim", pid: 2 ** 22 + 7, firmware: "fw", state: "running",
 *   startedAt: "", updatedAt: "", files: [`${dir}/left.sock`] };
 * assert.deepEqual(await releaseStale(e), [`removed ${dir}/left.sock`]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function releaseStale(entry: CpuEntry): Promise<string[]> {
  if (!isStale(entry)) {
    throw new AmpError(
      "STATE",
      `Cannot release cpu ${entry.cpu} of amp process ${entry.pid}: it is still running`,
    );
  }
  const done: string[] = [];
  for (const c of entry.children ?? []) {
    const p = processInfo(c.pid);
    if (!p.alive || (c.pidStart !== undefined && p.start !== c.pidStart)) continue;
    try {
      Deno.kill(c.pid, "SIGKILL");
      done.push(`killed ${c.what} (pid ${c.pid})`);
    } catch {
      continue; // Gone meanwhile, or not ours.
    }
    for (let i = 0; i < 100 && processInfo(c.pid).alive; i++) await sleep(10);
  }
  for (const f of entry.files ?? []) {
    try {
      await Deno.remove(f, { recursive: true });
      done.push(`removed ${f}`);
    } catch {
      // Already gone.
    }
  }
  return done;
}
