/**
 * The owner of a remote core: what `amp load` runs. It records the core in
 * the registry, creates the machine's backend, loads the firmware, starts
 * the core, and then stays up, answering other amp processes on its control
 * socket (stop, reload, status, console), until it is told to stop, its
 * signal comes, or the core (or what runs it) ends on its own. Then it stops
 * the core and releases everything: backend, mappings, children, files,
 * socket, registry entry.
 *
 * @module
 */

import { AmpError, ConfigError } from "../errors.ts";
import { hex } from "../mem/region.ts";
import type { MachineProfile } from "../machine/types.ts";
import { checkCpu } from "../machine/validate.ts";
import { type FirmwareCheck, Remoteproc } from "../remoteproc/remoteproc.ts";
import { sleep } from "../util/wait.ts";
import { type BackendOptions, createBackend } from "./backends.ts";
import { ConsoleHub } from "./console.ts";
import { ControlServer } from "./control.ts";
import { processInfo } from "./process.ts";
import { defaultStateDir, registerRun, type RunChanges, type RunRecord } from "./registry.ts";

/** Images at least this big get a progress display. */
const PROGRESS_MIN_BYTES = 1 << 20;

/** What {@linkcode runOwner} needs. */
export interface OwnerOptions {
  /** The machine. */
  profile: MachineProfile;
  /** Firmware path. */
  firmware: string;
  /** Remote cpu. */
  cpu: number;
  /** Report lines. */
  out: (line: string) => void;
  /** Detail lines (with --verbose). */
  detail: (line: string) => void;
  /** Progress text (rewritten in place on a terminal). */
  progress: (text: string, final: boolean) => void;
  /** Resolves (with a reason) when the run should end (a signal). */
  until: Promise<string>;
  /** Command for the simulated core (sim machine). */
  simCommand?: string[];
  /** State directory (default from the environment). */
  stateDir?: string;
  /** Extra backend options (tests). */
  backendOptions?: BackendOptions;
  /** Called once the core runs and is recorded as running. */
  onRunning?: () => void;
  /** Print how to stop it (default true). */
  stopHint?: boolean;
}

/**
 * Where `amp load` (pid `pid`) saves the resolved profile of its cpu (other
 * processes map the machine from it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runProfilePath } from "./owner.ts";
 * assert(runProfilePath("/d", 7, 1) === "/d/run-7-cpu1.machine.json");
 * ```
 */
export function runProfilePath(dir: string, pid: number, cpu: number): string {
  return `${dir}/run-${pid}-cpu${cpu}.machine.json`;
}

/**
 * The control socket of a run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { controlPath } from "./owner.ts";
 * assert(controlPath("/d", 7, 1) === "/d/run-7-cpu1.ctl");
 * ```
 */
export function controlPath(dir: string, pid: number, cpu: number): string {
  return `${dir}/run-${pid}-cpu${cpu}.ctl`;
}

/**
 * The console log of a cpu (kept after the run, replaced by the next load).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { consoleLogPath } from "./owner.ts";
 * assert(consoleLogPath("/d", "qemu-rv64", 1) === "/d/qemu-rv64-cpu1.console.log");
 * ```
 */
export function consoleLogPath(dir: string, machine: string, cpu: number): string {
  return `${dir}/${machine.replace(/[^A-Za-z0-9._-]/g, "_")}-cpu${cpu}.console.log`;
}

function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/**
 * Load, start, serve requests, stop and release. Returns the exit code: 0
 * when stopped on request, 1 when the core ended on its own. A failure before
 * the core runs throws, after releasing everything.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runOwner } from "./owner.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * const dir = await Deno.makeTempDir();
 * const e = await runOwner({
 *   profile: simProfile({ prefix: `amp-doc-owner-${Deno.pid}` }), firmware: `${dir}/missing.elf`,
 *   cpu: 1, out: () => {}, detail: () => {}, progress: () => {}, until: new Promise(() => {}),
 *   stateDir: dir,
 * }).catch((e) => e);
 * assert(e.code === "LOAD_READ");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runOwner(o: OwnerOptions): Promise<number> {
  const { profile, cpu, out, detail } = o;
  checkCpu(profile, cpu);
  const dir = o.stateDir ?? defaultStateDir();
  const ctlPath = controlPath(dir, Deno.pid, cpu);
  const logPath = consoleLogPath(dir, profile.name, cpu);
  const run: RunRecord = await registerRun(
    { cpu, machine: profile.name, firmware: o.firmware, control: ctlPath },
    { dir, onStale: out },
  );
  const savedProfile = runProfilePath(dir, Deno.pid, cpu);
  let rp: Remoteproc | undefined;
  let control: ControlServer | undefined;
  let hub: ConsoleHub | undefined;
  type Reload = {
    path: string;
    from: number;
    answer: (r: { ok: boolean; message: string }) => void;
  };
  const reloads: Reload[] = [];
  let code = 0;
  let endReason: string | undefined; // recorded for host sessions when the cpu is released
  let started = false;
  try {
    await Deno.writeTextFile(savedProfile, JSON.stringify(profile, null, 2) + "\n", {
      mode: 0o600,
    });
    // A fresh console log per run: "since it was started" means this run.
    await Deno.writeTextFile(logPath, "", { mode: 0o600 });
    const backend = createBackend(profile, {
      ...o.backendOptions,
      consoleLog: logPath,
      simCommand: o.simCommand ?? o.backendOptions?.simCommand ?? [],
      log: detail,
    });
    rp = new Remoteproc(profile, backend, { cpu });
    const core = rp;
    detail(`Machine "${profile.name}": ${profile.description}`);

    /** Record what the registry should know about the loaded firmware and the backend. */
    const facts = (): RunChanges => {
      const fw = core.loaded;
      const shell = backend.shellCommands?.(cpu) ?? fw?.shell;
      const con = backend.console?.(cpu);
      const children = (backend.children?.() ?? []).map((c) => {
        const start = processInfo(c.pid).start;
        return start === undefined ? c : { ...c, pidStart: start };
      });
      return {
        shell: shell && shell.length > 0 ? shell : undefined,
        rscTable: fw?.resourceTable ? toHex(fw.resourceTable.bytes) : undefined,
        consoleLog: con?.logPath,
        children: children.length > 0 ? children : undefined,
        files: [...(backend.files?.() ?? []), savedProfile],
      };
    };

    let shown = -1;
    const t0 = performance.now();
    const summary = await rp.load(o.firmware, {
      name: o.firmware,
      onProgress: (done, total) => {
        if (total < PROGRESS_MIN_BYTES) return;
        const pct = Math.floor((done / total) * 100);
        if (pct === shown) return;
        shown = pct;
        o.progress(`Loading ${o.firmware}: ${pct}% (${done}/${total} bytes)`, done >= total);
      },
    });
    for (const w of summary.warnings) out(`warning: ${w.message}`);
    detail(
      `Loaded ${summary.bytesCopied} bytes, zero-filled ${summary.bytesZeroed} bytes in ${
        (performance.now() - t0).toFixed(1)
      } ms; entry ${hex(summary.entry)}`,
    );
    describeTable(rp, detail);
    await run.update("loaded", facts());
    await rp.start();
    started = true;
    const con = backend.console?.(cpu);
    if (con) hub = new ConsoleHub(con);

    // Requests from other amp processes. Reloads are queued and run by the
    // wait loop below, which re-arms its watchers after each one.
    let stopAsked: ((why: string) => void) | undefined;
    const stopRequest = new Promise<string>((r) => (stopAsked = r));
    let firmware = o.firmware;
    let reloadQueued: (() => void) | undefined;
    const nextReload = () =>
      new Promise<string>((r) => {
        if (reloads.length > 0) r(RELOAD);
        else reloadQueued = () => r(RELOAD);
      });
    const reload = async (
      path: string,
      from: number,
    ): Promise<{ ok: boolean; message: string }> => {
      out(`Reload of remote cpu ${cpu} requested by amp process ${from}: ${path}`);
      let checked: FirmwareCheck;
      try {
        checked = await core.check(path, { name: path });
        if (profile.control.kind === "sim" && !checked.hasResourceTable) {
          throw new ConfigError(
            "SIM_NO_RSC",
            `The sim machine needs firmware with a resource table; "${path}" has none`,
          );
        }
      } catch (e) {
        const message = `Reload refused, remote cpu ${cpu} still ${core.state} with ${firmware}: ${
          (e as Error).message
        }`;
        out(message);
        return { ok: false, message };
      }
      await run.update("reloading");
      try {
        if (core.state === "running" || core.state === "crashed") await core.stop();
        await Deno.writeTextFile(logPath, "", { mode: 0o600 });
        const s = await core.load(checked.bytes, { name: path });
        for (const w of s.warnings) out(`warning: ${w.message}`);
        await core.start();
        firmware = path;
        const message =
          `Remote cpu ${cpu} running ${firmware} on machine "${profile.name}" (entry ${
            hex(s.entry)
          }), reloaded by amp process ${Deno.pid}`;
        out(message);
        await run.update("running", { firmware, ...facts() });
        return { ok: true, message };
      } catch (e) {
        const state = core.state === "running"
          ? "running"
          : core.state === "offline"
          ? "offline"
          : "stopped";
        const message =
          `Reload of ${path} failed after remote cpu ${cpu} was stopped; it is ${state} now: ${
            (e as Error).message
          }`;
        out(message);
        await run.update(state);
        return { ok: false, message };
      }
    };
    control = ControlServer.listen(ctlPath, {
      status: async () => ({
        cpu,
        machine: profile.name,
        firmware,
        state: core.state,
        platform: await backend.state(cpu).catch((e) => `unknown (${(e as Error).message})`),
      }),
      stop: (from) => stopAsked?.(`stopped by amp process ${from} (amp stop)`),
      reload: (path, from) =>
        new Promise((answer) => {
          reloads.push({ path, from, answer });
          reloadQueued?.();
          reloadQueued = undefined;
        }),
      console: async (conn) => {
        if (!hub) {
          conn.close();
          throw new AmpError("NO_CONSOLE", `Machine "${profile.name}" has no console`);
        }
        await hub.attach(conn);
      },
    });
    await run.update("running", facts());
    out(
      `Remote cpu ${cpu} running ${o.firmware} on machine "${profile.name}" (entry ${
        hex(summary.entry)
      })${
        profile.control.kind === "sim" ? "; simulated: the firmware's code is not executed" : ""
      }`,
    );
    if (o.stopHint ?? true) out(`Press Ctrl+C or run "amp stop ${cpu}" to stop it.`);
    o.onRunning?.();

    let why: string;
    let ended: Promise<string> | undefined;
    for (;;) {
      const watch = new AbortController();
      ended = core.state === "running" ? backend.ended?.(cpu) : undefined;
      why = await Promise.race([
        o.until,
        stopRequest,
        ...(ended ? [ended.then((m) => `crash:${m}`)] : []),
        ...(core.state === "running" ? [watchCore(core, watch.signal)] : []),
        nextReload(),
      ]);
      watch.abort();
      reloadQueued = undefined;
      if (why !== RELOAD) break;
      for (let r = reloads.shift(); r; r = reloads.shift()) r.answer(await reload(r.path, r.from));
    }
    if (why.startsWith("crash:") && ended) {
      // The platform's poll may see a dead process first: its exit status says more.
      const exit = await Promise.race([ended, sleep(300).then(() => undefined)]);
      if (exit !== undefined) why = `crash:${exit}`;
    }
    if (why.startsWith("crash:")) {
      endReason = why.slice(6);
      out(`Remote cpu ${cpu} stopped unexpectedly: ${endReason}`);
      await run.update("crashed", { reason: endReason });
      code = 1;
    } else {
      endReason = /^SIG[A-Z]+$/.test(why) ? `amp load got ${why}` : why;
      detail(`Stopping remote cpu ${cpu} (${why})`);
      await run.update("stopping", { reason: endReason });
    }
  } finally {
    for (const r of reloads.splice(0)) {
      r.answer({
        ok: false,
        message: `Reload not done: the owner of remote cpu ${cpu} is stopping`,
      });
    }
    await control?.close();
    await hub?.close();
    try {
      await rp?.close();
      if (code === 0 && started) out(`Remote cpu ${cpu} stopped; everything released.`);
    } finally {
      await Deno.remove(savedProfile).catch(() => {});
      await run.release(endReason);
    }
  }
  return code;
}

/** What the wait loop's reload wake-up resolves with. */
const RELOAD = "\u0000reload";

function describeTable(rp: Remoteproc, detail: (line: string) => void): void {
  const rsc = rp.resourceTable;
  if (!rsc) {
    detail("Resource table: none");
    return;
  }
  detail(
    `Resource table: section at ${hex(rsc.imageAddr)} (${rsc.bytes.length} bytes), live copy at ${
      hex(rsc.pa)
    }`,
  );
  for (const v of rsc.vdevs) {
    for (const r of v.vrings) {
      detail(
        `  vdev id ${v.id} vring${r.index}: ${hex(r.pa)}${
          r.assigned ? " (assigned)" : ""
        }, ${r.num} entries, align ${hex(r.align)}, notifyid ${r.notifyid}`,
      );
    }
  }
  for (const t of rsc.traces) detail(`  trace "${t.name}" at ${hex(t.da)}, ${t.len} bytes`);
  const shell = rp.loaded?.shell ?? [];
  if (shell.length > 0) detail(`Console commands offered: ${shell.join(", ")}`);
}

/** Poll the backend every second; resolves `crash:...` when the core is no longer running. */
async function watchCore(rp: Remoteproc, signal: AbortSignal): Promise<string> {
  while (!signal.aborted) {
    await sleep(1000, signal);
    if (signal.aborted) break;
    let word: string;
    try {
      word = await rp.poll();
    } catch (e) {
      return `crash:${(e as Error).message}`;
    }
    if (rp.state === "crashed") return `crash:the platform reports the core as ${word}`;
  }
  return "watch ended";
}
