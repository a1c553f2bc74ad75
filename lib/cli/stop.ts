/**
 * `amp stop <cpu>`: ask the amp process that owns a remote cpu to stop it
 * (SIGTERM) and wait until it has released it.
 *
 * @module
 */

import { stopCpu, type StopCpuOptions } from "../runtime/client.ts";
import { type Command, defineCommand } from "./_command.ts";
import { intOption } from "./_demos.ts";
import { parseCpu } from "./_target.ts";

/** `amp stop`. */
export const stopCommand: Command = defineCommand({
  name: "stop",
  summary: "Stop a remote core started by `amp load` in another terminal",
  usage: "stop <cpu> [--machine NAME] [--timeout MS] [--json]",
  description:
    "Asks the owning `amp load` (over its control socket; SIGTERM when that does not answer)\n" +
    "to stop the core, and waits until it has released everything. A left-over entry whose\n" +
    "owner is gone is removed, with what it left behind (QEMU or the simulated core, files).",
  options: {
    machine: {
      type: "string",
      short: "m",
      valueName: "NAME",
      description: "Machine name, when several machines use the cpu number",
    },
    timeout: {
      type: "string",
      valueName: "MS",
      description: "Longest wait for the owner to stop (default 10000)",
    },
    json: { type: "boolean", description: "Print the result as JSON" },
  },
  args: { min: 1, max: 1, names: "<cpu>" },
  async run(ctx) {
    const cpu = parseCpu(ctx.positionals[0]!);
    const o: StopCpuOptions = {};
    if (typeof ctx.values.machine === "string") o.machine = ctx.values.machine;
    const timeout = intOption(ctx.values.timeout, "timeout");
    if (timeout !== undefined) o.deadlineMs = timeout;
    const r = await stopCpu(cpu, o);
    if (ctx.json) ctx.out(JSON.stringify(r));
    else if (r.outcome === "stale") {
      ctx.out(
        `Remote cpu ${cpu} (${r.machine}): owner ${r.pid} was already gone; entry removed${
          r.cleaned.length ? ` (${r.cleaned.join("; ")})` : ""
        }`,
      );
    } else ctx.out(`Remote cpu ${cpu} (${r.machine}) stopped (owner ${r.pid})`);
    return 0;
  },
});
