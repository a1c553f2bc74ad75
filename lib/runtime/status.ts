/**
 * What the registry says about the cores amp runs: the lines of
 * `amp status`, releasing what a dead owner left behind, the live entries,
 * and why a run ended (its owner's record).
 *
 * @module
 */

import { isStale } from "./process.ts";
import { type CpuEntry, releaseStale, StateFile, type StateFileOptions } from "./registry.ts";

/** One line of `amp status`. */
export interface CpuStatus extends CpuEntry {
  /** True when the owner is gone (or the pid was reused): the entry is left over. */
  stale: boolean;
}

/** Options for {@linkcode statusReport}. */
export interface StatusOptions extends StateFileOptions {
  /** Remove stale entries and release what they left behind (default false). */
  prune?: boolean;
  /** Hears one line per stale entry released by `prune`. */
  onStale?: (line: string) => void;
}

/**
 * Every recorded cpu with a staleness verdict, sorted by machine then cpu.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusReport } from "./status.ts";
 * const dir = await Deno.makeTempDir();
 * assert((await statusReport({ dir })).length === 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function statusReport(options: StatusOptions = {}): Promise<CpuStatus[]> {
  const sf = new StateFile(options);
  let entries = (await sf.read()).entries;
  if (options.prune && entries.some(isStale)) {
    const gone: CpuEntry[] = [];
    entries = (await sf.update((s) => {
      gone.push(...s.entries.filter(isStale));
      s.entries = s.entries.filter((e) => !isStale(e));
    })).entries;
    for (const e of gone) {
      const cleaned = await releaseStale(e);
      options.onStale?.(
        `Removed the entry of cpu ${e.cpu} (${e.machine}) left by amp process ${e.pid}${
          cleaned.length ? `: ${cleaned.join("; ")}` : ""
        }`,
      );
    }
  }
  return entries
    .map((e) => ({ ...e, stale: isStale(e) }))
    .sort((a, b) => a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : a.cpu - b.cpu);
}

/**
 * Live entries (owner running), optionally only those of `cpu` and `machine`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { liveEntries } from "./status.ts";
 * const dir = await Deno.makeTempDir();
 * assert.deepEqual(await liveEntries({ dir }), []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function liveEntries(
  options: StateFileOptions & { cpu?: number; machine?: string } = {},
): Promise<CpuEntry[]> {
  const sf = new StateFile(options);
  return (await sf.read()).entries.filter((e) =>
    !isStale(e) && (options.cpu === undefined || e.cpu === options.cpu) &&
    (options.machine === undefined || e.machine === options.machine)
  );
}

/**
 * Why the remote of `entry` no longer serves a host session, or `undefined`
 * while it runs: the owner's record (state `crashed`, `stopping` or
 * `reloading`, with its reason), the reason it recorded when it released the
 * cpu, or that the owner process is gone. Synchronous and cheap (one small
 * file read), for a check made while a host session waits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerRun } from "./registry.ts";
 * import { whyStopped } from "./status.ts";
 * const dir = await Deno.makeTempDir();
 * const run = await registerRun({ cpu: 1, machine: "sim", firmware: "fw", state: "running" }, { dir });
 * const entry = { ...run.entry };
 * assert(whyStopped(entry, { dir }) === undefined);
 * await run.update("crashed", { reason: "the simulated remote exited (code 137)" });
 * assert(whyStopped(entry, { dir })?.includes("exited (code 137)"));
 * await run.release("the simulated remote exited (code 137)");
 * assert(whyStopped(entry, { dir })?.includes("exited (code 137)"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function whyStopped(entry: CpuEntry, options: StateFileOptions = {}): string | undefined {
  const owner =
    `amp process ${entry.pid}, which ran cpu ${entry.cpu} of machine "${entry.machine}"`;
  const sf = new StateFile(options);
  let known: boolean; // the state file is there: an entry missing from it was released
  try {
    known = Deno.statSync(sf.path).isFile;
  } catch {
    known = false;
  }
  const state = sf.readSync();
  const same = (e: { cpu: number; machine: string; pid: number }) =>
    e.cpu === entry.cpu && e.machine === entry.machine && e.pid === entry.pid;
  const cur = state.entries.find(same);
  if (cur && !isStale(cur)) {
    const why = cur.reason ? `: ${cur.reason}` : "";
    const owner = `owner: amp process ${entry.pid}, cpu ${entry.cpu} of machine "${entry.machine}"`;
    if (cur.state === "crashed") return `The remote stopped${why || " (crashed)"} (${owner})`;
    if (cur.state === "stopping") return `The remote is being stopped${why} (${owner})`;
    if (cur.state === "reloading") {
      return `The remote is being given new firmware (amp load --reload; ${owner})`;
    }
    return undefined;
  }
  const rec = (state.ended ?? []).findLast(same);
  if (rec) {
    return `The remote stopped: ${rec.reason} (owner: amp process ${entry.pid}, cpu ${entry.cpu} ` +
      `of machine "${entry.machine}")`;
  }
  if (isStale(entry)) return `The remote stopped: ${owner}, is gone`;
  if (!cur && known) return `The remote stopped: ${owner}, released it`;
  return undefined;
}
