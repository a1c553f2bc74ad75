/**
 * `amp load <fw.elf> <cpu>`: the command line of the owner process
 * (`lib/runtime/owner.ts`): validate and load firmware, start the core, stay
 * up until Ctrl+C / SIGTERM (or `amp stop <cpu>`), then stop the core and
 * release everything. `amp load --reload` hands new firmware to the owner.
 *
 * @module
 */

import { AmpError, UsageError } from "../errors.ts";
import { parseElf } from "../elf/reader.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import { heapRegion } from "../mem/region.ts";
import { checkCpu } from "../machine/validate.ts";
import { firmwareCap, planFirmware, readFirmware } from "../remoteproc/remoteproc.ts";
import { requestReload } from "../runtime/client.ts";
import { runOwner } from "../runtime/owner.ts";
import { parseChaos, selfSimCommand } from "../sim/process.ts";
import { type Command, type CommandContext, defineCommand } from "./_command.ts";
import { findTarget, parseCpu, resolveMachine } from "./_target.ts";
import { intOption } from "./_demos.ts";

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
    "is loaded, started and stopped through /sys/class/remoteproc;\n" +
    "the rpmsg verbs reach it through rpmsg_char (amp rpmsg ... --machine kernel).\n" +
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
      short: "m",
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
    chaos: {
      type: "string",
      valueName: "SEED[:MS]",
      description: "sim only: a hostile remote on purpose, corrupting rings, headers, name " +
        "service, table and status in some sessions (about every MS ms, default 30)",
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
    const chaos = typeof ctx.values.chaos === "string" ? ctx.values.chaos : undefined;
    if (chaos !== undefined) {
      if (profile.control.kind !== "sim") {
        throw new UsageError(`--chaos is for the sim machine, not "${profile.name}"`);
      }
      if (parseChaos(chaos) === null) {
        throw new UsageError(`--chaos needs SEED or SEED:MEAN_MS, got "${chaos}"`);
      }
    }
    const sig = untilSignal();
    const tty = Deno.stderr.isTerminal();
    try {
      return await runOwner({
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
        simCommand: selfSimCommand(),
        ...(chaos !== undefined ? { backendOptions: { chaos } } : {}),
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
  const img = parseElf(await readFirmware(firmware, firmwareCap(profile)), { name: firmware });
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
