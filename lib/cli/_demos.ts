/**
 * Command-line glue shared by the demo verbs (`amp rpmsg ...`, `amp shmem
 * demo`, `amp demo`): their common options, output and verdict. The demos
 * themselves are in `lib/demos`.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { DemoResult } from "../apps/channel.ts";
import { type DemoIo, type RunDemoOptions, verdictLine } from "../demos/run.ts";
import type { CommandContext, OptionSpecs } from "./_command.ts";
import type { TargetOptions } from "./_target.ts";

/**
 * Demo output for a command context: details only with --verbose, progress
 * rewritten in place on a terminal's standard error (nothing otherwise), and
 * nothing but the final JSON with --json.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { demoIo } from "./_demos.ts";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * const ctx = { positionals: [], values: {}, verbose: false, json: false, io,
 *   out: (l = "") => io.stdout(l + "\n"), err: (l = "") => io.stderr(l + "\n") };
 * const d = demoIo(ctx);
 * d.out("shown");
 * d.detail("hidden without --verbose");
 * assert(io.out === "shown\n");
 * ```
 */
export function demoIo(ctx: CommandContext): DemoIo {
  const tty = Deno.stderr.isTerminal();
  let width = 0;
  return {
    verbose: ctx.verbose && !ctx.json,
    out: (l) => {
      if (!ctx.json) ctx.out(l);
    },
    detail: (l) => {
      if (ctx.verbose && !ctx.json) ctx.out(l);
    },
    progress: (text, final) => {
      if (!tty || ctx.verbose) return;
      const pad = " ".repeat(Math.max(0, width - text.length));
      width = text.length;
      ctx.io.stderr(`\r${text}${pad}${final ? "\n" : ""}`);
      if (final) width = 0;
    },
  };
}

/** Common demo options. */
export const DEMO_OPTIONS: OptionSpecs = {
  machine: {
    type: "string",
    short: "m",
    valueName: "NAME|FILE",
    description: "Talk to this machine (default: the running remote in the state file)",
  },
  cpu: {
    type: "string",
    valueName: "N",
    description: "The running remote cpu to use (default: the only one running)",
  },
  timeout: {
    type: "string",
    valueName: "MS",
    description: "Wait per reply and for the remote's services, ms (default 5000)",
  },
  json: { type: "boolean", description: "Print the result as JSON" },
  "shm-name": {
    type: "string",
    valueName: "NAME",
    description: "The machine's shm object under another name (openamp-linux; default openamp.shm)",
  },
  socket: {
    type: "string",
    valueName: "PATH",
    description: "The notification socket (openamp-linux; default /tmp/openamp.event.0)",
  },
  start: {
    type: "string",
    valueName: "CMD",
    description: "Type CMD on the remote's console first and wait until its application " +
      "waits for a host (default: the demo's own command, when the firmware's shell offers it)",
  },
  "no-start": {
    type: "boolean",
    description: "Never type a command on the remote's console",
  },
};

/**
 * `--start` / `--no-start` as demo options (UsageError when both are given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startOptions } from "./_demos.ts";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * const ctx = { positionals: [], values: { start: "rpmsg_echo" }, verbose: false, json: false, io,
 *   out: () => {}, err: () => {} };
 * assert(startOptions(ctx).start === "rpmsg_echo");
 * ```
 */
export function startOptions(ctx: CommandContext): Pick<RunDemoOptions, "start" | "noStart"> {
  const start = ctx.values.start;
  const noStart = ctx.values["no-start"] === true;
  if (typeof start === "string" && noStart) {
    throw new UsageError("--start and --no-start contradict each other");
  }
  if (typeof start === "string") {
    if (!/^[\x20-\x7e]{1,200}$/.test(start) || start.trim() === "") {
      throw new UsageError(`--start needs a printable command, got ${JSON.stringify(start)}`);
    }
    return { start };
  }
  return noStart ? { noStart: true } : {};
}

/**
 * An integer option value in `min..max` (UsageError otherwise), or undefined when absent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intOption } from "./_demos.ts";
 * assert(intOption("20", "count") === 20 && intOption(undefined, "count") === undefined);
 * ```
 */
export function intOption(v: unknown, name: string, min = 1, max = 1e9): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  const n = /^[0-9]{1,10}$/.test(s) ? Number(s) : NaN;
  if (!(n >= min && n <= max)) {
    throw new UsageError(`--${name} must be an integer in ${min}..${max}, got "${s}"`);
  }
  return n;
}

/**
 * Target selection options (`--machine`, `--cpu`, `--shm-name`, `--socket`) from a context.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { targetOptions } from "./_demos.ts";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * const ctx = { positionals: [], values: { cpu: "1" }, verbose: false, json: false, io,
 *   out: () => {}, err: () => {} };
 * assert(targetOptions(ctx).cpu === "1" && targetOptions(ctx).machine === undefined);
 * ```
 */
export function targetOptions(ctx: CommandContext): TargetOptions {
  const o: TargetOptions = {};
  if (typeof ctx.values.machine === "string") o.machine = ctx.values.machine;
  if (typeof ctx.values.cpu === "string") o.cpu = ctx.values.cpu;
  if (typeof ctx.values["shm-name"] === "string") o.shmName = ctx.values["shm-name"];
  if (typeof ctx.values.socket === "string") o.socketPath = ctx.values.socket;
  return o;
}

/**
 * Print the verdict (or the JSON result) and return the exit code: 0 passed, 1 failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { finishDemo } from "./_demos.ts";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * const ctx = { positionals: [], values: {}, verbose: false, json: false, io,
 *   out: (l = "") => io.stdout(l + "\n"), err: () => {} };
 * const r = { demo: "x", passed: false, errors: 1, sent: 1, received: 0, ms: 5, failures: ["lost"] };
 * assert(finishDemo(ctx, r) === 1 && io.out.endsWith("FAIL x: 1 sent, 0 received, 1 error in 5 ms (lost)\n"));
 * ```
 */
export function finishDemo(ctx: CommandContext, r: DemoResult, setupError?: unknown): number {
  if (setupError !== undefined) {
    // The demo could not run: the reason as amp's one error line, the verdict as usual.
    ctx.err(`amp: ${setupError instanceof Error ? setupError.message : String(setupError)}`);
  }
  if (ctx.json) ctx.out(JSON.stringify(r));
  else {
    if (setupError === undefined) { for (const f of r.failures) ctx.out(`error: ${f}`); }
    ctx.out(verdictLine(r));
  }
  return r.passed ? 0 : 1;
}
