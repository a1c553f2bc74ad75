/**
 * What other amp processes ask of a core's owner: stop it, reload it, report
 * its live state, and find "the running remote" a verb talks to. Requests go
 * over the owner's control socket (`control.ts`); the registry says where.
 *
 * @module
 */

import { AmpError, type AmpErrorCode, isAmpError, OsError, TimeoutError } from "../errors.ts";
import { sleep } from "../util/wait.ts";
import { controlRequest } from "./control.ts";
import { isStale } from "./process.ts";
import { type CpuEntry, releaseStale, StateFile, type StateFileOptions } from "./registry.ts";

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
  /** Owner process that was asked (or found gone). */
  pid: number;
  /**
   * `"stopped"`: the owner stopped the core and let go of it (or exited);
   * `"stale"`: the owner was already gone; its entry and leftovers were removed.
   */
  outcome: "stopped" | "stale";
  /** What was released after a dead owner (children killed, files removed). */
  cleaned: string[];
}

function findOne(
  entries: CpuEntry[],
  cpu: number,
  machine: string | undefined,
  sf: StateFile,
): CpuEntry {
  const found = entries.filter((e) =>
    e.cpu === cpu && (machine === undefined || e.machine === machine)
  );
  if (found.length === 0) {
    throw new AmpError(
      "NOT_OWNED",
      `No amp process owns remote cpu ${cpu}${
        machine ? ` of machine "${machine}"` : ""
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
  return found[0]!;
}

/**
 * Stop the amp process that owns `cpu`: ask it over its control socket (or,
 * when that does not answer, send it SIGTERM) and wait (up to `deadlineMs`)
 * until it removes its entry or exits. A stale entry is removed with what
 * its owner left behind. `AmpError` `NOT_OWNED`, `AMBIGUOUS_CPU`,
 * `STOP_SELF`; `TimeoutError` when the owner does not stop in time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stopCpu } from "./client.ts";
 * const dir = await Deno.makeTempDir();
 * const e = await stopCpu(1, { dir, deadlineMs: 100 }).catch((e) => e);
 * assert(e.code === "NOT_OWNED");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function stopCpu(cpu: number, options: StopCpuOptions = {}): Promise<StopCpuResult> {
  const sf = new StateFile(options);
  const deadlineMs = options.deadlineMs ?? 10_000;
  const entry = findOne((await sf.read()).entries, cpu, options.machine, sf);
  const same = (e: CpuEntry) =>
    e.cpu === entry.cpu && e.machine === entry.machine && e.pid === entry.pid;
  const result = (outcome: StopCpuResult["outcome"], cleaned: string[] = []): StopCpuResult => ({
    cpu,
    machine: entry.machine,
    pid: entry.pid,
    outcome,
    cleaned,
  });
  const removeStale = async (outcome: StopCpuResult["outcome"]) => {
    let gone: CpuEntry | undefined;
    await sf.update((s) => {
      gone = s.entries.find(same);
      s.entries = s.entries.filter((e) => !same(e));
    });
    return result(outcome, gone ? await releaseStale(gone) : []);
  };
  if (isStale(entry)) return await removeStale("stale");
  if (entry.pid === Deno.pid) {
    throw new AmpError(
      "STOP_SELF",
      `Remote cpu ${cpu} is owned by this process (${Deno.pid}); stop it directly`,
    );
  }
  let asked = false;
  if (entry.control) {
    try {
      const r = await controlRequest(entry.control, { op: "stop", pid: Deno.pid }, {
        timeoutMs: Math.min(deadlineMs, 2000),
      });
      asked = r.ok;
    } catch (e) {
      if (!isAmpError(e)) throw e;
    }
  }
  if (!asked) {
    // No control socket answered (an old owner, or one that is stuck): SIGTERM.
    try {
      Deno.kill(entry.pid, "SIGTERM");
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return await removeStale("stopped");
      const errno = e instanceof Deno.errors.PermissionDenied ? 1 : 5;
      throw new OsError("kill", errno, `pid ${entry.pid}, SIGTERM`, { cause: e });
    }
  }
  const deadline = Date.now() + deadlineMs;
  let wait = 2;
  for (;;) {
    const now = (await sf.read()).entries.find(same);
    if (!now || now.state === "stopped" || now.state === "offline") return result("stopped");
    if (isStale(now)) return await removeStale("stopped"); // exited without removing its entry
    if (Date.now() >= deadline) {
      throw new TimeoutError(
        `waiting for amp process ${entry.pid} to stop remote cpu ${cpu}`,
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
 * and start it again, in the same process with the same backend, and wait
 * for its answer. `AmpError` `NOT_OWNED` (no live owner), `AMBIGUOUS_CPU`,
 * `RELOAD_SELF`, `RELOAD_UNSUPPORTED` (the owner has no control socket),
 * `RELOAD_OWNER_GONE` (it exits first); `TimeoutError` when no answer comes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestReload } from "./client.ts";
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
  const live = (await sf.read()).entries.filter((e) => !isStale(e));
  let target: CpuEntry;
  try {
    target = findOne(live, cpu, options.machine, sf);
  } catch (e) {
    if (isAmpError(e) && e.code === "NOT_OWNED") {
      throw new AmpError(
        "NOT_OWNED",
        `Cannot reload remote cpu ${cpu}${
          options.machine ? ` of machine "${options.machine}"` : ""
        }: no running amp process owns it (state file ${sf.path}); start it with "amp load <fw.elf> ${cpu}"`,
      );
    }
    throw e;
  }
  if (target.pid === Deno.pid) {
    throw new AmpError(
      "RELOAD_SELF",
      `Remote cpu ${cpu} is owned by this process (${Deno.pid}); reload it directly`,
    );
  }
  if (!target.control || target.state === "loaded" || target.state === "stopping") {
    throw new AmpError(
      "RELOAD_UNSUPPORTED",
      `Cannot reload remote cpu ${cpu}: amp process ${target.pid} (state ${target.state}) does not accept ` +
        `reload requests now; wait until it runs, or run "amp stop ${cpu}" and "amp load" again`,
    );
  }
  let r;
  try {
    r = await controlRequest(target.control, { op: "reload", firmware, pid: Deno.pid }, {
      timeoutMs: deadlineMs,
    });
  } catch (e) {
    if (isAmpError(e) && (e.code === "CONTROL_UNREACHABLE" || e.code === "CONTROL_CLOSED")) {
      throw new AmpError(
        "RELOAD_OWNER_GONE",
        `Reload of remote cpu ${cpu}: its owner, amp process ${target.pid}, ${
          isStale(target) ? "exited before answering" : "does not answer on its control socket"
        }`,
        { cause: e },
      );
    }
    if (e instanceof TimeoutError) {
      throw new TimeoutError(
        `waiting for amp process ${target.pid} to reload remote cpu ${cpu} with ${firmware}`,
        deadlineMs,
      );
    }
    throw e;
  }
  if (!r.ok) throw new AmpError(r.code as AmpErrorCode, r.error);
  return {
    cpu,
    machine: target.machine,
    pid: target.pid,
    result: r.result === "ok" ? "ok" : "error",
    message: typeof r.message === "string" ? r.message : "(no message)",
  };
}

/**
 * The owner's live report on its core (`amp status`): its platform state
 * (what the SBI, the kernel or the simulated core says) and lifecycle state,
 * or undefined when the owner does not answer within `timeoutMs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { liveStatus } from "./client.ts";
 * assert(await liveStatus({ cpu: 1, machine: "x", pid: 1, firmware: "", state: "", startedAt: "",
 *   updatedAt: "", control: "/nonexistent.sock" }) === undefined);
 * ```
 */
export async function liveStatus(
  entry: CpuEntry,
  timeoutMs = 1000,
): Promise<Record<string, unknown> | undefined> {
  if (!entry.control || isStale(entry)) return undefined;
  try {
    const r = await controlRequest(entry.control, { op: "status" }, { timeoutMs });
    return r.ok ? r : undefined;
  } catch {
    return undefined;
  }
}
