/**
 * `amp shmem demo`: the libmetal shared-memory demo against the running
 * remote (no rpmsg): the host writes a message into the demo block, the
 * remote copies it back, the host compares.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type Command, defineCommand } from "./_command.ts";
import { failedDemo, runDemo } from "../demos/run.ts";
import {
  DEMO_OPTIONS,
  demoIo,
  finishDemo,
  intOption,
  startOptions,
  targetOptions,
} from "./_demos.ts";
import { findTarget } from "./_target.ts";

/** `amp shmem`. */
export const shmemCommand: Command = defineCommand({
  name: "shmem",
  summary: "The libmetal shared-memory demo: amp shmem demo",
  usage:
    "shmem demo [--count N] [--timeout MS] [--json] [--machine NAME] [--cpu N] [--start CMD|--no-start]",
  description:
    'Writes "Hello World - libmetal shared memory demo" into the firmware\'s demo block,\n' +
    "waits for the remote's copy and compares it; --count messages (default 1).\n" +
    "When the firmware's console offers shmem_demod (or with --start CMD) the command is\n" +
    "typed first and the demo waits until it clears its control word.\n" +
    "Prints a final PASS/FAIL line and exits 1 on any error.",
  options: {
    ...DEMO_OPTIONS,
    count: { type: "string", valueName: "N", description: "Messages to exchange (1)" },
  },
  args: { min: 1, max: 1, names: "demo" },
  async run(ctx) {
    if (ctx.positionals[0] !== "demo") {
      throw new UsageError(`Unknown shmem subcommand "${ctx.positionals[0]}" (demo)`);
    }
    const opts = {
      ...(ctx.values.count !== undefined ? { count: intOption(ctx.values.count, "count")! } : {}),
      timeoutMs: intOption(ctx.values.timeout, "timeout") ?? 5000,
    };
    const start = startOptions(ctx);
    const { profile, entry } = await findTarget(targetOptions(ctx));
    let r;
    let setupError: unknown;
    try {
      r = await runDemo("shmem", profile, demoIo(ctx), {
        ...opts,
        ...start,
        ...(entry ? { entry } : {}),
      });
    } catch (e) {
      if (e instanceof UsageError) throw e;
      setupError = e;
      r = failedDemo("shmem", e); // whatever happens, the demo ends with its FAIL line
    }
    return finishDemo(ctx, r, setupError);
  },
});
