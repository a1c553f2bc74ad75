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

import { ConfigError } from "../errors.ts";
import { hex } from "../mem/region.ts";
import { checkCpu, type MachineProfile } from "../machine/profile.ts";
import { Remoteproc } from "../remoteproc/remoteproc.ts";
import { defaultStateDir, registerRun, type RunRecord } from "../remoteproc/state_file.ts";
import type { BackendOptions } from "../remoteproc/backends/mod.ts";
import { selfSimCommand, type SimProcess, spawnSimRemote } from "../sim/process.ts";
import { type Command, type CommandContext, defineCommand } from "./_command.ts";
import { parseCpu, resolveMachine, runProfilePath } from "./_target.ts";
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
  const run: RunRecord = await registerRun(
    { cpu, machine: profile.name, firmware: o.firmware },
    { dir },
  );
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
    await run.update("running");
    out(
      `Remote cpu ${cpu} running ${o.firmware} on machine "${profile.name}" (entry ${
        hex(summary.entry)
      })${
        profile.control.kind === "sim" ? "; simulated: the firmware's code is not executed" : ""
      }`,
    );
    if (o.stopHint ?? true) out(`Press Ctrl+C or run "amp stop ${cpu}" to stop it.`);
    o.onRunning?.();
    const crashWatch = new AbortController();
    const why = await Promise.race([
      o.until,
      ...(simExit ? [simExit.then((m) => `crash:${m}`)] : []),
      watchCore(rp, crashWatch.signal),
    ]);
    crashWatch.abort();
    if (why.startsWith("crash:")) {
      out(`Remote cpu ${cpu} stopped unexpectedly: ${why.slice(6)}`);
      await run.update("crashed");
      code = 1;
    } else {
      detail(`Stopping remote cpu ${cpu} (${why})`);
      await run.update("stopping");
    }
  } finally {
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
  usage: "load <fw.elf> <cpu> [--machine NAME|path.json]",
  description:
    "Validates the ELF, loads its segments, processes its resource table for the machine\n" +
    "layout and starts the core, then stays up. Ctrl+C, SIGTERM or `amp stop <cpu>` stops\n" +
    "the core and releases everything. Without --machine the rv64-virt board is used when\n" +
    "its UIO devices are present, else the simulated machine `sim` (a separate process that\n" +
    "runs amp's demo services; the firmware's code is not executed).\n" +
    'On a kernel-remoteproc machine (a profile with control kind "remoteproc") the core\n' +
    "is loaded, started and stopped through /sys/class/remoteproc; messaging to it through\n" +
    "rpmsg_char (/dev/rpmsg_ctrlN) is a later step: the rpmsg verbs do not reach it yet.\n" +
    "Exit code: 0 stopped on request, 1 failure or crash, 2 usage.",
  options: {
    machine: {
      type: "string",
      valueName: "NAME|FILE",
      description: "Machine profile: built-in name or JSON file",
    },
  },
  args: { min: 2, max: 2, names: "<fw.elf> <cpu>" },
  async run(ctx: CommandContext): Promise<number> {
    const [firmware, cpuArg] = ctx.positionals as [string, string];
    const cpu = parseCpu(cpuArg);
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
      });
    } finally {
      sig.dispose();
    }
  },
});
