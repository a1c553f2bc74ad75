/**
 * `amp load <fw.elf> <cpu>`: validate and load firmware, handle its resource
 * table, start the core, record it in the runtime state file, then stay up
 * until Ctrl+C / SIGTERM (or `amp stop <cpu>`), which stops the core and
 * releases every mapping, file and child process.
 *
 * On the `sim` machine the start hook launches the simulated remote as a
 * separate process (`amp __sim-remote`).
 *
 * @module
 */

import { AmpError, ConfigError, UsageError } from "../errors.ts";
import { parseElf } from "../elf/reader.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import { heapRegion, hex } from "../mem/region.ts";
import { checkCpu, type MachineProfile } from "../machine/profile.ts";
import {
  type FirmwareCheck,
  planFirmware,
  readFirmware,
  Remoteproc,
} from "../remoteproc/remoteproc.ts";
import {
  defaultStateDir,
  registerRun,
  type ReloadRequest,
  type ReloadResult,
  requestReload,
  type RunRecord,
} from "../remoteproc/state_file.ts";
import type { BackendOptions } from "../remoteproc/backends/mod.ts";
import { selfSimCommand, type SimProcess, spawnSimRemote } from "../sim/process.ts";
import { type Command, type CommandContext, defineCommand } from "./_command.ts";
import { findTarget, parseCpu, resolveMachine, runProfilePath } from "./_target.ts";
import { intOption } from "./_demos.ts";
import { sleep } from "../util/poll.ts";

/** Images at least this big get a progress display. */
const PROGRESS_MIN_BYTES = 1 << 20;

/** What {@linkcode loadAndRun} needs besides the command line. */
export interface LoadRunOptions {
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
  /** Resolves when the run should end (signal, stop request). */
  until: Promise<string>;
  /** Command for the simulated remote (default {@linkcode selfSimCommand}). */
  simCommand?: string[];
  /** State directory (default from the environment). */
  stateDir?: string;
  /** Called once the core runs and is recorded as running. */
  onRunning?: () => void;
  /** Print how to stop it (default true). */
  stopHint?: boolean;
  /**
   * Accept `amp load --reload` requests (SIGHUP plus a request in the state
   * entry): stop the core, load the requested firmware, start it (default false).
   */
  acceptReload?: boolean;
}

/**
 * Load, start, wait for `until` or a crash, stop and release. Returns the exit
 * code: 0 when stopped on request, 1 when the remote crashed. A failure before
 * the core runs throws, after releasing everything.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadAndRun } from "./load.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * const dir = await Deno.makeTempDir();
 * const e = await loadAndRun({
 *   profile: simProfile({ prefix: `amp-doc-load-${Deno.pid}` }), firmware: `${dir}/missing.elf`,
 *   cpu: 1, out: () => {}, detail: () => {}, progress: () => {}, until: new Promise(() => {}),
 *   stateDir: dir,
 * }).catch((e) => e);
 * assert(e.code === "LOAD_READ");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadAndRun(o: LoadRunOptions): Promise<number> {
  const { profile, cpu, out, detail } = o;
  checkCpu(profile, cpu);
  const dir = o.stateDir ?? defaultStateDir();
  // Listen before the entry exists: a SIGHUP must never hit the default action.
  const hup = o.acceptReload ? reloadWakeups() : undefined;
  let run: RunRecord;
  try {
    run = await registerRun(
      { cpu, machine: profile.name, firmware: o.firmware },
      { dir },
    );
  } catch (e) {
    hup?.dispose();
    throw e;
  }
  const savedProfile = runProfilePath(dir, Deno.pid, cpu);
  let sim: SimProcess | undefined;
  let simExit: Promise<string> | undefined;
  let rscAddr: number | undefined;
  let rscSize: number | undefined;
  const backendOptions: BackendOptions = {
    onStart: async () => {
      if (rscAddr === undefined) {
        throw new ConfigError(
          "SIM_NO_RSC",
          `The sim machine needs firmware with a resource table; "${o.firmware}" has none`,
        );
      }
      sim = await spawnSimRemote({
        command: o.simCommand ?? selfSimCommand(),
        profile,
        rscAddr,
        ...(rscSize !== undefined ? { rscSize } : {}),
        log: detail,
      });
      detail(`Simulated remote core: process ${sim.pid}`);
      simExit = sim.exited.then((code) => `the simulated remote exited (code ${code})`);
    },
    onStop: async () => {
      const s = sim;
      sim = undefined;
      simExit = undefined;
      if (s) await s.stop();
    },
  };
  let rp: Remoteproc | undefined;
  let code = 0;
  let started = false;
  try {
    await Deno.writeTextFile(savedProfile, JSON.stringify(profile, null, 2) + "\n", {
      mode: 0o600,
    });
    rp = await Remoteproc.open(profile, { cpu, backendOptions });
    detail(`Machine "${profile.name}": ${profile.description}`);
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
    const rsc = rp.resourceTable;
    for (const w of summary.warnings) out(`warning: ${w.message}`);
    detail(
      `Loaded ${summary.bytesCopied} bytes, zero-filled ${summary.bytesZeroed} bytes in ${
        (performance.now() - t0).toFixed(1)
      } ms; entry ${hex(summary.entry)}`,
    );
    if (rsc) {
      rscAddr = rsc.imageAddr;
      rscSize = rsc.bytes.length;
      detail(
        `Resource table: section at ${
          hex(rsc.imageAddr)
        } (${rsc.bytes.length} bytes), live copy at ${hex(rsc.pa)}`,
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
    } else {
      detail("Resource table: none");
    }
    await run.update("loaded");
    await rp.start();
    started = true;
    await run.update("running", o.acceptReload ? { reloadable: true } : {});
    out(
      `Remote cpu ${cpu} running ${o.firmware} on machine "${profile.name}" (entry ${
        hex(summary.entry)
      })${
        profile.control.kind === "sim" ? "; simulated: the firmware's code is not executed" : ""
      }`,
    );
    if (o.stopHint ?? true) out(`Press Ctrl+C or run "amp stop ${cpu}" to stop it.`);
    o.onRunning?.();
    let firmware = o.firmware;
    const core = rp;
    /** Stop, load and start `req.firmware`; the answer for the requester. */
    const reload = async (req: ReloadRequest): Promise<ReloadResult> => {
      const answer = (result: ReloadResult["result"], message: string): ReloadResult => {
        out(message);
        return { requestId: req.requestId, result, message };
      };
      out(`Reload of remote cpu ${cpu} requested by amp process ${req.pid}: ${req.firmware}`);
      let checked: FirmwareCheck;
      try {
        checked = await core.check(req.firmware, { name: req.firmware });
        if (profile.control.kind === "sim" && !checked.hasResourceTable) {
          throw new ConfigError(
            "SIM_NO_RSC",
            `The sim machine needs firmware with a resource table; "${req.firmware}" has none`,
          );
        }
      } catch (e) {
        const refused = answer(
          "error",
          `Reload refused, remote cpu ${cpu} still ${core.state} with ${firmware}: ${
            (e as Error).message
          }`,
        );
        await run.update(run.entry.state, { reloadResult: refused });
        return refused;
      }
      await run.update("reloading");
      try {
        if (core.state === "running" || core.state === "crashed") await core.stop();
        const s = await core.load(checked.bytes, { name: req.firmware });
        for (const w of s.warnings) out(`warning: ${w.message}`);
        rscAddr = core.resourceTable?.imageAddr;
        rscSize = core.resourceTable?.bytes.length;
        await core.start();
        firmware = req.firmware;
        const ok = answer(
          "ok",
          `Remote cpu ${cpu} running ${firmware} on machine "${profile.name}" (entry ${
            hex(s.entry)
          }), reloaded by amp process ${Deno.pid}`,
        );
        await run.update("running", { firmware, reloadResult: ok });
        return ok;
      } catch (e) {
        const state = core.state === "running"
          ? "running"
          : core.state === "offline"
          ? "offline"
          : "stopped";
        const failed = answer(
          "error",
          `Reload of ${req.firmware} failed after remote cpu ${cpu} was stopped; it is ${state} now: ${
            (e as Error).message
          }`,
        );
        await run.update(state, { reloadResult: failed });
        return failed;
      }
    };
    let why: string;
    for (;;) {
      const crashWatch = new AbortController();
      const running = rp.state === "running";
      why = await Promise.race([
        o.until,
        ...(hup ? [hup.next()] : []),
        ...(running && simExit ? [simExit.then((m) => `crash:${m}`)] : []),
        ...(running ? [watchCore(rp, crashWatch.signal)] : []),
      ]);
      crashWatch.abort();
      if (why !== RELOAD) break;
      for (let req = await run.takeReloadRequest(); req; req = await run.takeReloadRequest()) {
        await reload(req);
      }
    }
    if (why.startsWith("crash:")) {
      out(`Remote cpu ${cpu} stopped unexpectedly: ${why.slice(6)}`);
      await run.update("crashed");
      code = 1;
    } else {
      detail(`Stopping remote cpu ${cpu} (${why})`);
      await run.update("stopping");
    }
  } finally {
    hup?.dispose();
    try {
      await rp?.close();
      if (code === 0 && started) out(`Remote cpu ${cpu} stopped; everything released.`);
    } finally {
      await Deno.remove(savedProfile).catch(() => {});
      await run.release();
    }
  }
  return code;
}

/** Poll the backend every second; resolves `crash:...` when the core is no longer running. */
async function watchCore(rp: Remoteproc, signal: AbortSignal): Promise<string> {
  while (!signal.aborted) {
    await sleep(1000);
    if (signal.aborted) break;
    try {
      await rp.poll();
    } catch (e) {
      return `crash:${(e as Error).message}`;
    }
    if (rp.state === "crashed") return "crash:the platform reports the core as not running";
  }
  return "watch ended";
}

/** What {@linkcode reloadWakeups}' `next()` resolves with. */
const RELOAD = "reload";

/** SIGHUP as a stream of wake-ups: `next()` resolves at the next (or a missed) signal. */
function reloadWakeups(): { next: () => Promise<string>; dispose: () => void } {
  let pending = false;
  let wake: (() => void) | undefined;
  const handler = () => {
    pending = true;
    wake?.();
  };
  Deno.addSignalListener("SIGHUP", handler);
  return {
    next: () =>
      new Promise<string>((resolve) => {
        wake = () => {
          pending = false;
          wake = undefined;
          resolve(RELOAD);
        };
        if (pending) wake();
      }),
    dispose: () => Deno.removeSignalListener("SIGHUP", handler),
  };
}

/** Resolves with the signal's name at the first SIGINT or SIGTERM. */
function untilSignal(): { promise: Promise<string>; dispose: () => void } {
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let resolve!: (s: string) => void;
  const promise = new Promise<string>((r) => (resolve = r));
  const handlers = signals.map((s) => {
    const h = () => resolve(s);
    Deno.addSignalListener(s, h);
    return [s, h] as const;
  });
  return {
    promise,
    dispose: () => {
      for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    },
  };
}

/** `amp load`. */
export const loadCommand: Command = defineCommand({
  name: "load",
  summary: "Load firmware into a remote core, start it and keep it running",
  usage: "load [--reload [--timeout MS]] <fw.elf> <cpu> [--machine NAME|path.json]",
  description:
    "Validates the ELF, loads its segments, processes its resource table for the machine\n" +
    "layout and starts the core, then stays up. Ctrl+C, SIGTERM or `amp stop <cpu>` stops\n" +
    "the core and releases everything. Without --machine the rv64-virt board is used when\n" +
    "its UIO devices are present, else the simulated machine `sim` (a separate process that\n" +
    "runs amp's demo services; the firmware's code is not executed).\n" +
    'On a kernel-remoteproc machine (a profile with control kind "remoteproc") the core\n' +
    "is loaded, started and stopped through /sys/class/remoteproc; messaging to it through\n" +
    "rpmsg_char (/dev/rpmsg_ctrlN) is a later step: the rpmsg verbs do not reach it yet.\n" +
    "Exit code: 0 stopped on request, 1 failure or crash, 2 usage.\n" +
    "\n" +
    "With --reload the cpu must already be owned by a running `amp load`: the new firmware\n" +
    "is checked here, then handed to that process, which stops the core, loads it through\n" +
    "the same backend (the same QEMU process, the same mappings) and starts it again. This\n" +
    "command prints the owner's answer and exits 0 once the new firmware runs, or 1 with the\n" +
    "reason: a bad image is refused before the core is stopped (the old firmware keeps\n" +
    "running); a failure after the stop leaves the core stopped (see `amp status`) and the\n" +
    "owner up, ready for another --reload or `amp stop`. Without --reload a busy cpu is refused.",
  options: {
    machine: {
      type: "string",
      valueName: "NAME|FILE",
      description: "Machine profile: built-in name or JSON file",
    },
    reload: {
      type: "boolean",
      description: "Give new firmware to the `amp load` that owns the cpu (stop, load, start)",
    },
    timeout: {
      type: "string",
      valueName: "MS",
      description: "With --reload: longest wait for the owner's answer (default 30000)",
    },
  },
  args: { min: 2, max: 2, names: "<fw.elf> <cpu>" },
  async run(ctx: CommandContext): Promise<number> {
    const [firmware, cpuArg] = ctx.positionals as [string, string];
    const cpu = parseCpu(cpuArg);
    const timeout = intOption(ctx.values.timeout, "timeout");
    if (ctx.values.reload === true) return await reloadRemote(ctx, firmware, cpuArg, timeout);
    if (timeout !== undefined) throw new UsageError("--timeout is only for --reload");
    const profile = await resolveMachine(ctx.values.machine as string | undefined);
    const sig = untilSignal();
    const tty = Deno.stderr.isTerminal();
    try {
      return await loadAndRun({
        profile,
        firmware,
        cpu,
        out: (l) => ctx.out(l),
        detail: (l) => {
          if (ctx.verbose) ctx.out(l);
        },
        progress: (text, final) => {
          if (tty) ctx.io.stderr(`\r${text}${final ? "\n" : ""}`);
          else if (final || /: (25|50|75)%/.test(text)) ctx.err(text);
        },
        until: sig.promise,
        acceptReload: true,
      });
    } finally {
      sig.dispose();
    }
  },
});

/**
 * `amp load --reload`: check the image against the owner's machine here (so
 * most mistakes never touch the running core), then hand it to the owner and
 * report its answer.
 */
async function reloadRemote(
  ctx: CommandContext,
  firmware: string,
  cpuArg: string,
  timeout: number | undefined,
): Promise<number> {
  const machine = ctx.values.machine as string | undefined;
  const target = await findTarget({ ...(machine !== undefined ? { machine } : {}), cpu: cpuArg });
  const profile = target.profile;
  const cpu = checkCpu(profile, parseCpu(cpuArg));
  const path = firmware.startsWith("/") ? firmware : `${Deno.cwd()}/${firmware}`;
  const img = parseElf(await readFirmware(firmware), { name: firmware });
  if (profile.control.kind !== "remoteproc") {
    const map = new MemoryMap(
      profile.regions.map((r) => heapRegion(r.pa, r.size, { name: r.name })),
    );
    try {
      planFirmware(img, profile, map, firmware);
    } finally {
      map.close();
    }
  }
  if (ctx.verbose) ctx.out(`Checked ${firmware} against machine "${profile.name}"`);
  const r = await requestReload(cpu, path, {
    machine: target.entry?.machine ?? profile.name,
    ...(timeout !== undefined ? { deadlineMs: timeout } : {}),
  });
  if (r.result !== "ok") throw new AmpError("RELOAD_FAILED", r.message);
  ctx.out(r.message);
  return 0;
}
