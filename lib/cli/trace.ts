/**
 * `amp trace <cpu> [--follow]`: print the remote's trace buffer (the
 * `RSC_TRACE` entry of the live resource table), oldest to newest; with
 * `--follow` keep printing new text until Ctrl+C.
 *
 * @module
 */

import { isAmpError, UsageError } from "../errors.ts";
import { readConsoleLog } from "../runtime/console.ts";
import { hex } from "../mem/region.ts";
import { checkCpu } from "../machine/validate.ts";
import { followTrace, locateTrace, readLiveTrace } from "../diag/trace.ts";
import { type Command, defineCommand } from "./_command.ts";
import { mapLiveMachine } from "./_live.ts";
import { cpuArgument, findTarget } from "./_target.ts";

/** Poll interval of `--follow`, ms. */
export const FOLLOW_INTERVAL_MS = 100;

/** The `amp trace` verb. */
export const traceCommand: Command = defineCommand({
  name: "trace",
  summary: "Print the remote's trace buffer (--follow: keep printing)",
  usage: "trace [<cpu>|--cpu N] [--follow] [--machine NAME|FILE] [--entry N]",
  description: [
    "Finds the trace entry (RSC_TRACE) in the live resource table of the running",
    "remote, maps its buffer (read-only, except on UIO boards where the map is shared)",
    "and prints the ring of text oldest to newest; nothing is written to it.",
    "Control characters from the remote are shown escaped (\\x1b). With --follow the",
    `buffer is polled every ${FOLLOW_INTERVAL_MS} ms and new text printed until Ctrl+C; a`,
    "restart of the remote or an overrun ring is marked on standard error.",
    "When the firmware has no trace buffer, the console log of the core (what `amp console`",
    "shows) is printed instead, saying so on standard error.",
  ].join("\n"),
  options: {
    follow: { type: "boolean", short: "f", description: "Keep printing new text until Ctrl+C" },
    cpu: {
      type: "string",
      valueName: "N",
      description: "The remote cpu, as the other verbs take it (same as the <cpu> argument)",
    },
    machine: {
      type: "string",
      short: "m",
      valueName: "NAME|FILE",
      description: "The machine (default: the running remote's, from the state file)",
    },
    entry: {
      type: "string",
      valueName: "N",
      description: "Which trace entry of the table (default 0, the first)",
    },
  },
  args: { min: 0, max: 1, names: "[<cpu>]" },
  async run(ctx) {
    const cpuArg = cpuArgument("trace", ctx.positionals, ctx.values.cpu);
    const machine = ctx.values.machine;
    if (machine !== undefined && (typeof machine !== "string" || machine === "")) {
      throw new UsageError("trace: --machine needs a profile name or file");
    }
    const entryArg = ctx.values.entry;
    let which = 0;
    if (entryArg !== undefined) {
      if (typeof entryArg !== "string" || !/^[0-9]{1,3}$/.test(entryArg)) {
        throw new UsageError(`trace: --entry must be a number, got "${String(entryArg)}"`);
      }
      which = Number(entryArg);
    }
    const { profile, entry: run } = await findTarget({
      ...(machine !== undefined ? { machine } : {}),
      ...(cpuArg !== undefined ? { cpu: cpuArg } : {}),
    });
    const cpu = cpuArg !== undefined ? Number(cpuArg) : run?.cpu ?? profile.cpus[0]!;
    checkCpu(profile, cpu);
    const map = await mapLiveMachine(profile);
    try {
      let located;
      try {
        located = locateTrace(map, profile, which);
      } catch (e) {
        // No trace buffer: the console log is the remote's text, when there is one.
        if (!isAmpError(e) || e.code !== "TRACE_NONE" || !run?.consoleLog) throw e;
        ctx.err(`The firmware has no trace buffer (${e.message}); showing its console log instead`);
        ctx.io.stdout(await readConsoleLog(run));
        return 0;
      }
      if (!ctx.values.follow) {
        const r = readLiveTrace(map, profile, which);
        if (r.text === "" && profile.control.kind === "sim") {
          ctx.err(
            `The trace buffer "${r.entry.name}" is empty: the simulated core does not run the firmware's code` +
              (run?.consoleLog ? ` (its console: amp console ${cpu})` : ""),
          );
        }
        if (ctx.verbose) {
          ctx.err(`trace "${r.entry.name}" at ${hex(r.entry.da)}, ${r.entry.len} bytes`);
        }
        ctx.io.stdout(r.text);
        return 0;
      }
      const { entry, region } = located;
      if (ctx.verbose) ctx.err(`following trace "${entry.name}" at ${hex(entry.da)} (Ctrl+C ends)`);
      const ac = new AbortController();
      const onSig = () => ac.abort();
      Deno.addSignalListener("SIGINT", onSig);
      Deno.addSignalListener("SIGTERM", onSig);
      try {
        await followTrace(region, entry, {
          signal: ac.signal,
          intervalMs: FOLLOW_INTERVAL_MS,
          write: (t) => ctx.io.stdout(t),
          onGap: () => ctx.err("--- trace restarted or overran the ring; showing it whole ---"),
        });
      } finally {
        Deno.removeSignalListener("SIGINT", onSig);
        Deno.removeSignalListener("SIGTERM", onSig);
      }
      return 0;
    } finally {
      map.close();
    }
  },
});
