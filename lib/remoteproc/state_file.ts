/**
 * The runtime state file behind `amp status` and `amp stop <cpu>`: which amp
 * process owns which remote cpu, with what firmware, on which machine.
 *
 * - Location: `$AMP_STATE_DIR/state.json`, else `$XDG_RUNTIME_DIR/amp/state.json`,
 *   else `/tmp/amp-<uid>/state.json` (directory mode 0700, must be owned by the user).
 * - Writes are atomic (temporary file + rename) and every read-modify-write
 *   holds an exclusive `flock` on `state.lock`, taken with a deadline, so
 *   concurrent amp processes do not lose each other's entries. Readers need no
 *   lock.
 * - An entry is stale when its pid is gone (or is a zombie), or when the pid
 *   was reused by a process that started later (checked with the start time
 *   from `/proc/<pid>/stat`).
 *
 * @module
 */

import { AmpError, ConfigError, OsError, TimeoutError } from "../errors.ts";
import { sleep } from "../util/poll.ts";

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
  /** True while the owner accepts `amp load --reload` requests (SIGHUP). */
  reloadable?: boolean;
  /** A pending reload request, written by the requester. */
  reloadRequest?: ReloadRequest;
  /** The owner's answer to the last reload request. */
  reloadResult?: ReloadResult;
}

/** `amp load --reload`: new firmware for the owner to load and start. */
export interface ReloadRequest {
  /** Firmware path (absolute, the owner may run in another directory). */
  firmware: string;
  /** Unique id the answer carries. */
  requestId: string;
  /** The requesting process. */
  pid: number;
}

/** The owner's answer to a {@linkcode ReloadRequest}. */
export interface ReloadResult {
  /** The request answered. */
  requestId: string;
  /** `ok`: the new firmware runs; `error`: see `message`. */
  result: "ok" | "error";
  /** One line: what runs now, or what failed and why. */
  message: string;
}

/** The whole file. */
export interface RuntimeState {
  /** Format version. */
  version: 1;
  /** One entry per owned cpu. */
  entries: CpuEntry[];
}

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
 * import { defaultStateDir } from "./state_file.ts";
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

function isEntry(v: unknown): v is CpuEntry {
  if (typeof v !== "object" || v === null) return false;
  const e = v as Record<string, unknown>;
  const int = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  return int(e.cpu) && int(e.pid) && (e.pid as number) > 0 &&
    (e.pidStart === undefined || int(e.pidStart)) && typeof e.machine === "string" &&
    typeof e.firmware === "string" && typeof e.state === "string" &&
    typeof e.startedAt === "string" && typeof e.updatedAt === "string";
}

/** Drop reload fields that do not have the expected shape (the entry itself stays). */
function cleanReloadFields(e: CpuEntry): CpuEntry {
  if (e.reloadable !== undefined && typeof e.reloadable !== "boolean") delete e.reloadable;
  if (e.reloadRequest !== undefined && !isReloadRequest(e.reloadRequest)) delete e.reloadRequest;
  if (e.reloadResult !== undefined && !isReloadResult(e.reloadResult)) delete e.reloadResult;
  return e;
}

function isReloadRequest(v: unknown): v is ReloadRequest {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.firmware === "string" && typeof r.requestId === "string" &&
    typeof r.pid === "number" && Number.isSafeInteger(r.pid) && r.pid > 0;
}

function isReloadResult(v: unknown): v is ReloadResult {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.requestId === "string" && (r.result === "ok" || r.result === "error") &&
    typeof r.message === "string";
}

/** Liveness of a process as seen from here. */
export interface ProcessInfo {
  /** True when the process exists and is not a zombie. */
  alive: boolean;
  /** Its start time (`/proc/<pid>/stat` field 22), when readable. */
  start?: number;
}

/**
 * Is `pid` alive, and when did it start? Uses `/proc/<pid>/stat` (a zombie
 * counts as dead); without `/proc` falls back to `kill(pid, 0)` semantics.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { processInfo } from "./state_file.ts";
 * assert(processInfo(Deno.pid).alive);
 * ```
 */
export function processInfo(pid: number): ProcessInfo {
  if (!Number.isSafeInteger(pid) || pid <= 0) return { alive: false };
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      // No such process, or no /proc at all: decide with signal 0.
      try {
        Deno.statSync("/proc/self");
        return { alive: false };
      } catch {
        return { alive: signalZero(pid) };
      }
    }
    return { alive: signalZero(pid) };
  }
  // "pid (comm) S ppid ...": comm may contain spaces and parentheses.
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  const state = fields[0];
  const start = Number(fields[19]);
  const info: ProcessInfo = { alive: state !== "Z" && state !== "X" };
  if (Number.isSafeInteger(start)) info.start = start;
  return info;
}

function signalZero(pid: number): boolean {
  try {
    Deno.kill(pid, 0);
    return true;
  } catch (e) {
    return e instanceof Deno.errors.PermissionDenied;
  }
}

/**
 * True when the entry's owner is gone or its pid now belongs to another process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isStale } from "./state_file.ts";
 * const e = { cpu: 1, machine: "sim", pid: Deno.pid, firmware: "fw", state: "running",
 *   startedAt: "", updatedAt: "" };
 * assert(!isStale(e) && isStale({ ...e, pidStart: -1 }));
 * ```
 */
export function isStale(entry: CpuEntry): boolean {
  const p = processInfo(entry.pid);
  if (!p.alive) return true;
  return entry.pidStart !== undefined && p.start !== undefined && p.start !== entry.pidStart;
}

/**
 * The state file: atomic writes, locked read-modify-write.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StateFile } from "./state_file.ts";
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

  async #ensureDir(): Promise<void> {
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
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(
        "STATE_FILE_CORRUPT",
        `State file ${this.path} is not valid JSON (${(e as Error).message}); delete it`,
        { cause: e },
      );
    }
    const o = json as { version?: unknown; entries?: unknown };
    if (typeof json !== "object" || json === null || o.version !== 1 || !Array.isArray(o.entries)) {
      throw new ConfigError(
        "STATE_FILE_CORRUPT",
        `State file ${this.path} does not have the expected {version: 1, entries: [...]} shape; delete it`,
      );
    }
    // Entries that do not have the expected shape are dropped.
    return { version: 1, entries: o.entries.filter(isEntry).map(cleanReloadFields) };
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
    await this.#ensureDir();
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
}

/** What else {@linkcode RunRecord.update} may change. */
export interface RunChanges {
  /** New firmware path. */
  firmware?: string;
  /** Whether reload requests are accepted now. */
  reloadable?: boolean;
  /** Answer to a reload request. */
  reloadResult?: ReloadResult;
}

/** A recorded run owned by this process. */
export interface RunRecord {
  /** The entry as last written. */
  readonly entry: CpuEntry;
  /** Record a new lifecycle state (and other changes). A pending reload request is kept. */
  update(state: string, changes?: RunChanges): Promise<void>;
  /** Remove and return the pending reload request, if any. */
  takeReloadRequest(): Promise<ReloadRequest | undefined>;
  /** Remove the entry (only if this process still owns it). A second call is harmless. */
  release(): Promise<void>;
}

/**
 * Record that this process owns `info.cpu` on `info.machine`. Refused with
 * `AmpError` `CPU_BUSY` when another live process owns it; a stale entry is
 * replaced.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerRun, statusReport } from "./state_file.ts";
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
  options: StateFileOptions = {},
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
  const start = processInfo(Deno.pid).start;
  if (start !== undefined) entry.pidStart = start;
  const same = (e: CpuEntry) => e.cpu === entry.cpu && e.machine === entry.machine;
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
    s.entries = s.entries.filter((e) => !same(e));
    s.entries.push(entry);
  });
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
      if (changes.firmware !== undefined) entry.firmware = changes.firmware;
      if (changes.reloadable !== undefined) entry.reloadable = changes.reloadable;
      if (changes.reloadResult !== undefined) entry.reloadResult = changes.reloadResult;
      await sf.update((s) => {
        const pending = s.entries.find(mine)?.reloadRequest;
        s.entries = s.entries.filter((e) => !mine(e));
        s.entries.push(pending ? { ...entry, reloadRequest: pending } : { ...entry });
      });
    },
    async takeReloadRequest() {
      if (released) return undefined;
      let taken: ReloadRequest | undefined;
      await sf.update((s) => {
        const cur = s.entries.find(mine);
        taken = cur?.reloadRequest;
        if (cur) delete cur.reloadRequest;
      });
      return taken;
    },
    async release() {
      if (released) return;
      released = true;
      await sf.update((s) => {
        s.entries = s.entries.filter((e) => !mine(e));
      });
    },
  };
}

/** One line of `amp status`. */
export interface CpuStatus extends CpuEntry {
  /** True when the owner is gone (or the pid was reused): the entry is left over. */
  stale: boolean;
}

/** Options for {@linkcode statusReport}. */
export interface StatusOptions extends StateFileOptions {
  /** Remove stale entries from the file (default false). */
  prune?: boolean;
}

/**
 * Every recorded cpu with a staleness verdict, sorted by machine then cpu.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusReport } from "./state_file.ts";
 * const dir = await Deno.makeTempDir();
 * assert((await statusReport({ dir })).length === 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function statusReport(options: StatusOptions = {}): Promise<CpuStatus[]> {
  const sf = new StateFile(options);
  let entries = (await sf.read()).entries;
  if (options.prune && entries.some(isStale)) {
    entries = (await sf.update((s) => {
      s.entries = s.entries.filter((e) => !isStale(e));
    })).entries;
  }
  return entries
    .map((e) => ({ ...e, stale: isStale(e) }))
    .sort((a, b) => a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : a.cpu - b.cpu);
}

/** Options for {@linkcode stopCpu}. */
export interface StopCpuOptions extends StateFileOptions {
  /** Longest wait for the owner to stop, ms (default 10000). */
  deadlineMs?: number;
  /** Only the entry of this machine (needed when several machines use the cpu number). */
  machine?: string;
}

/** What {@linkcode stopCpu} did. */
export interface StopCpuResult {
  /** Remote cpu number. */
  cpu: number;
  /** Machine profile name. */
  machine: string;
  /** Owner process that was signalled (or found gone). */
  pid: number;
  /**
   * `"stopped"`: the owner was signalled and let go of the cpu (or exited);
   * `"stale"`: the owner was already gone and the entry was removed.
   */
  outcome: "stopped" | "stale";
}

/**
 * Stop the amp process that owns `cpu`: send it SIGTERM and wait (up to
 * `deadlineMs`) until it removes its entry, records a stopped state, or
 * exits; a stale entry is just removed. Fails with `AmpError` `NOT_OWNED`
 * when no entry matches, `AMBIGUOUS_CPU` when several machines use the cpu
 * number, and `TimeoutError` when the owner does not stop in time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stopCpu } from "./state_file.ts";
 * const dir = await Deno.makeTempDir();
 * try {
 *   await stopCpu(1, { dir, deadlineMs: 100 });
 * } catch (e) {
 *   assert((e as { code?: string }).code === "NOT_OWNED");
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function stopCpu(cpu: number, options: StopCpuOptions = {}): Promise<StopCpuResult> {
  const sf = new StateFile(options);
  const deadlineMs = options.deadlineMs ?? 10_000;
  const matches = (e: CpuEntry) =>
    e.cpu === cpu && (options.machine === undefined || e.machine === options.machine);
  const found = (await sf.read()).entries.filter(matches);
  if (found.length === 0) {
    throw new AmpError(
      "NOT_OWNED",
      `No amp process owns remote cpu ${cpu}${
        options.machine ? ` of machine "${options.machine}"` : ""
      } (state file ${sf.path})`,
    );
  }
  if (found.length > 1) {
    throw new AmpError(
      "AMBIGUOUS_CPU",
      `Remote cpu ${cpu} is owned on several machines (${
        found.map((e) => e.machine).join(", ")
      }); name the machine`,
    );
  }
  const entry = found[0]!;
  const same = (e: CpuEntry) =>
    e.cpu === entry.cpu && e.machine === entry.machine && e.pid === entry.pid;
  const result = (outcome: StopCpuResult["outcome"]): StopCpuResult => ({
    cpu,
    machine: entry.machine,
    pid: entry.pid,
    outcome,
  });
  const removeEntry = () =>
    sf.update((s) => {
      s.entries = s.entries.filter((e) => !same(e));
    });

  if (isStale(entry)) {
    await removeEntry();
    return result("stale");
  }
  if (entry.pid === Deno.pid) {
    throw new AmpError(
      "STOP_SELF",
      `Remote cpu ${cpu} is owned by this process (${Deno.pid}); stop it directly`,
    );
  }
  try {
    Deno.kill(entry.pid, "SIGTERM");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      await removeEntry();
      return result("stale");
    }
    const errno = e instanceof Deno.errors.PermissionDenied ? 1 : 5;
    throw new OsError("kill", errno, `pid ${entry.pid}, SIGTERM`, { cause: e });
  }
  const deadline = Date.now() + deadlineMs;
  let wait = 2;
  for (;;) {
    const now = (await sf.read()).entries.find(same);
    if (!now || now.state === "stopped" || now.state === "offline") return result("stopped");
    if (isStale(now)) {
      // The owner exited without removing its entry.
      await removeEntry();
      return result("stopped");
    }
    if (Date.now() >= deadline) {
      throw new TimeoutError(
        `waiting for amp process ${entry.pid} to stop remote cpu ${cpu} after SIGTERM`,
        deadlineMs,
      );
    }
    await sleep(wait);
    wait = Math.min(wait * 2, 50);
  }
}

/** Options for {@linkcode requestReload}. */
export interface ReloadOptions extends StateFileOptions {
  /** Longest wait for the owner's answer, ms (default 30000). */
  deadlineMs?: number;
  /** Only the entry of this machine (needed when several machines use the cpu number). */
  machine?: string;
}

/** What {@linkcode requestReload} got back. */
export interface ReloadOutcome {
  /** Remote cpu number. */
  cpu: number;
  /** Machine profile name. */
  machine: string;
  /** The owner that handled the request (unchanged by a reload). */
  pid: number;
  /** The owner's answer. */
  result: "ok" | "error";
  /** The owner's one-line message. */
  message: string;
}

/**
 * Ask the live `amp load` that owns `cpu` to stop the core, load `firmware`
 * and start it again, in the same process with the same backend: write a
 * request into its state entry under the lock, send it SIGHUP and wait (up to
 * `deadlineMs`) for the answer with the same request id. `AmpError`
 * `NOT_OWNED` when no live process owns the cpu, `AMBIGUOUS_CPU`,
 * `RELOAD_SELF`, `RELOAD_UNSUPPORTED` when the owner does not take reloads
 * (yet), `RELOAD_BUSY` when another request is pending, `RELOAD_OWNER_GONE`
 * when the owner exits first; `TimeoutError` when no answer comes in time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestReload } from "./state_file.ts";
 * const dir = await Deno.makeTempDir();
 * const e = await requestReload(1, "/fw.elf", { dir, deadlineMs: 100 }).catch((e) => e);
 * assert(e.code === "NOT_OWNED");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function requestReload(
  cpu: number,
  firmware: string,
  options: ReloadOptions = {},
): Promise<ReloadOutcome> {
  const sf = new StateFile(options);
  const deadlineMs = options.deadlineMs ?? 30_000;
  const matches = (e: CpuEntry) =>
    e.cpu === cpu && (options.machine === undefined || e.machine === options.machine) &&
    !isStale(e);
  const found = (await sf.read()).entries.filter(matches);
  if (found.length === 0) {
    throw new AmpError(
      "NOT_OWNED",
      `Cannot reload remote cpu ${cpu}${
        options.machine ? ` of machine "${options.machine}"` : ""
      }: no running amp process owns it (state file ${sf.path}); start it with "amp load <fw.elf> ${cpu}"`,
    );
  }
  if (found.length > 1) {
    throw new AmpError(
      "AMBIGUOUS_CPU",
      `Remote cpu ${cpu} is owned on several machines (${
        found.map((e) => e.machine).join(", ")
      }); name the machine`,
    );
  }
  const target = found[0]!;
  const same = (e: CpuEntry) =>
    e.cpu === target.cpu && e.machine === target.machine && e.pid === target.pid;
  if (target.pid === Deno.pid) {
    throw new AmpError(
      "RELOAD_SELF",
      `Remote cpu ${cpu} is owned by this process (${Deno.pid}); reload it directly`,
    );
  }
  const requestId = `${Deno.pid}-${crypto.randomUUID()}`;
  await sf.update((s) => {
    const e = s.entries.find(same);
    if (!e || isStale(e)) {
      throw new AmpError(
        "RELOAD_OWNER_GONE",
        `Cannot reload remote cpu ${cpu}: its owner, amp process ${target.pid}, has exited`,
      );
    }
    if (!e.reloadable) {
      throw new AmpError(
        "RELOAD_UNSUPPORTED",
        `Cannot reload remote cpu ${cpu}: amp process ${e.pid} (state ${e.state}) does not accept ` +
          `reload requests now; wait until it runs, or run "amp stop ${cpu}" and "amp load" again`,
      );
    }
    if (e.reloadRequest && processInfo(e.reloadRequest.pid).alive) {
      throw new AmpError(
        "RELOAD_BUSY",
        `Cannot reload remote cpu ${cpu}: amp process ${e.reloadRequest.pid} already asked ` +
          `for ${e.reloadRequest.firmware}; try again when it is done`,
      );
    }
    e.reloadRequest = { firmware, requestId, pid: Deno.pid };
  });
  const withdraw = () =>
    sf.update((s) => {
      const e = s.entries.find(same);
      if (e?.reloadRequest?.requestId === requestId) delete e.reloadRequest;
    }).catch(() => {});
  try {
    Deno.kill(target.pid, "SIGHUP");
  } catch (e) {
    await withdraw();
    if (e instanceof Deno.errors.NotFound) {
      throw new AmpError(
        "RELOAD_OWNER_GONE",
        `Cannot reload remote cpu ${cpu}: its owner, amp process ${target.pid}, has exited`,
      );
    }
    const errno = e instanceof Deno.errors.PermissionDenied ? 1 : 5;
    throw new OsError("kill", errno, `pid ${target.pid}, SIGHUP`, { cause: e });
  }
  const deadline = Date.now() + deadlineMs;
  let wait = 2;
  for (;;) {
    const now = (await sf.read()).entries.find(same);
    if (!now || isStale(now)) {
      throw new AmpError(
        "RELOAD_OWNER_GONE",
        `Reload of remote cpu ${cpu}: its owner, amp process ${target.pid}, exited before answering`,
      );
    }
    const r = now.reloadResult;
    if (r?.requestId === requestId) {
      return { cpu, machine: now.machine, pid: now.pid, result: r.result, message: r.message };
    }
    if (Date.now() >= deadline) {
      await withdraw();
      throw new TimeoutError(
        `waiting for amp process ${target.pid} to reload remote cpu ${cpu} with ${firmware}`,
        deadlineMs,
      );
    }
    await sleep(wait);
    wait = Math.min(wait * 2, 50);
  }
}
