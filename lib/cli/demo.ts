/**
 * `amp demo [fw.elf]`: the whole story in one command: load the firmware and
 * start the core (on this machine without a board: the simulated remote),
 * run every demo, stop, and print a summary.
 *
 * @module
 */

import type { DemoResult } from "../apps/channel.ts";
import { UsageError } from "../errors.ts";
import { type Command, defineCommand } from "./_command.ts";
import { DEMO_NAMES, runDemo, verdictLine } from "../demos/run.ts";
import { runOwner } from "../runtime/owner.ts";
import { liveEntries } from "../runtime/status.ts";
import { selfSimCommand } from "../sim/process.ts";
import { demoIo, intOption } from "./_demos.ts";
import { resolveMachine } from "./_target.ts";

/** Firmware used when none is given (relative to the current directory). */
export const DEFAULT_DEMO_FIRMWARE = "examples/firmware/rv64-virt/amp-demo.elf";

/** `amp demo`. */
export const demoCommand: Command = defineCommand({
  name: "demo",
  summary: "Load the example firmware, run every demo, stop: the whole story",
  usage: "demo [fw.elf] [--machine NAME|FILE] [--timeout MS] [--json]",
  description: `Loads the firmware (default ${DEFAULT_DEMO_FIRMWARE}) on the machine's first\n` +
    "remote cpu and starts it, runs rpmsg ping, rpmsg test, rpmsg matrix and shmem demo,\n" +
    "then stops the core and releases everything. Each demo's application is started on the\n" +
    "remote's console when its firmware's shell offers it (as `amp rpmsg ping` does).\n" +
    "Exit code 0 only if every step passed.",
  options: {
    machine: {
      type: "string",
      short: "m",
      valueName: "NAME|FILE",
      description: "Machine profile (default: the detected board, else sim)",
    },
    timeout: {
      type: "string",
      valueName: "MS",
      description: "Wait per reply, and for the core to come up (default 5000)",
    },
    json: { type: "boolean", description: "Print the results as JSON" },
  },
  args: { min: 0, max: 1, names: "[fw.elf]" },
  async run(ctx) {
    const firmware = ctx.positionals[0] ?? DEFAULT_DEMO_FIRMWARE;
    const timeoutMs = intOption(ctx.values.timeout, "timeout") ?? 5000;
    const profile = await resolveMachine(ctx.values.machine as string | undefined);
    const cpu = profile.cpus[0];
    if (cpu === undefined) throw new UsageError(`Machine "${profile.name}" has no remote cpu`);
    const say = (l: string) => {
      if (!ctx.json) ctx.out(l);
    };
    const t0 = performance.now();
    say(`== 1. load ${firmware} on remote cpu ${cpu} of machine "${profile.name}"`);
    let finish!: (why: string) => void;
    const until = new Promise<string>((r) => (finish = r));
    const onSig = () => finish("signal");
    Deno.addSignalListener("SIGINT", onSig);
    Deno.addSignalListener("SIGTERM", onSig);
    const results: DemoResult[] = [];
    let loadError: unknown;
    let onRunning!: () => void;
    const runningSignal = new Promise<true>((r) => (onRunning = () => r(true)));
    const running = runOwner({
      onRunning,
      simCommand: selfSimCommand(),
      stopHint: false,
      profile,
      firmware,
      cpu,
      out: say,
      detail: (l) => ctx.verbose && say(l),
      progress: () => {},
      until,
    }).catch((e) => {
      loadError = e;
      return 1;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const started = await Promise.race([
      runningSignal,
      running.then(() => false),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.max(timeoutMs, 30_000)))),
    ]);
    clearTimeout(timer);
    try {
      if (started) {
        // This process owns the core: its registry entry says what the console offers.
        const entry = (await liveEntries({ cpu, machine: profile.name })).find((e) =>
          e.pid === Deno.pid
        );
        let step = 2;
        for (const name of DEMO_NAMES) {
          say(`== ${step++}. ${name === "shmem" ? "shmem demo" : `rpmsg ${name}`}`);
          let r: DemoResult;
          try {
            r = await runDemo(name, profile, demoIo(ctx), {
              timeoutMs,
              ...(entry ? { entry } : {}),
            });
          } catch (e) {
            r = {
              demo: name,
              passed: false,
              errors: 1,
              sent: 0,
              received: 0,
              ms: 0,
              failures: [(e as Error).message],
            };
          }
          results.push(r);
          say(verdictLine(r));
        }
        say(`== ${step}. stop remote cpu ${cpu}`);
      }
      finish("demos done");
      const code = await running;
      const all = results.length === DEMO_NAMES.length && results.every((r) => r.passed) &&
        code === 0 && loadError === undefined;
      const ms = performance.now() - t0;
      if (ctx.json) {
        ctx.out(JSON.stringify({
          passed: all,
          machine: profile.name,
          firmware,
          ms,
          ...(loadError !== undefined ? { error: (loadError as Error).message } : {}),
          results,
        }));
      } else {
        if (loadError !== undefined) ctx.out(`error: ${(loadError as Error).message}`);
        ctx.out(
          `== summary: ${results.filter((r) => r.passed).length}/${DEMO_NAMES.length} demos passed${
            code === 0 ? "" : `, load/stop exit code ${code}`
          } in ${(ms / 1000).toFixed(1)} s`,
        );
        ctx.out(all ? "PASS demo" : "FAIL demo");
      }
      return all ? 0 : 1;
    } finally {
      finish("done");
      Deno.removeSignalListener("SIGINT", onSig);
      Deno.removeSignalListener("SIGTERM", onSig);
      await running;
    }
  },
});
