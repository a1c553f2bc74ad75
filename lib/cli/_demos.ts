/**
 * The seed's demos run from the command line against a running remote:
 * shared by `amp rpmsg ...`, `amp shmem demo` and `amp demo`.
 *
 * @module
 */

import { AmpError, ConfigError, isAmpError, UsageError } from "../errors.ts";
import type { CommandContext, OptionSpecs } from "./_command.ts";
import type { DemoResult } from "../apps/channel.ts";
import { runMatrix } from "../apps/matrix.ts";
import { maxPingSize, runMsgTest } from "../apps/msg_test.ts";
import { ECHO_SERVICE } from "../apps/msg_test.ts";
import { MATRIX_SERVICE } from "../apps/matrix.ts";
import { runSample, SAMPLE_SERVICE } from "../apps/sample.ts";
import { runShmemDemo, SHM_DEMO_SIZE } from "../apps/shmem.ts";
import { remoteConventions } from "../host/conventions.ts";
import {
  type HostSession,
  type HostSessionOptions,
  mapRemoteMemory,
  openHostSession,
} from "../host/session.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { hex } from "../mem/region.ts";
import type { MachineProfile } from "../machine/profile.ts";
import { remoteStartHint } from "./_target.ts";

/** The demos by name. */
export type DemoName = "ping" | "test" | "matrix" | "shmem";

/** Every demo, in the order `amp demo` runs them. */
export const DEMO_NAMES: readonly DemoName[] = ["ping", "test", "matrix", "shmem"];

/** Where demo output goes. */
export interface DemoIo {
  /** A report line. */
  out(line: string): void;
  /** A per-message line (shown with --verbose). */
  detail(line: string): void;
  /** A progress update; `final` on the last one. */
  progress(text: string, final: boolean): void;
}

/** Options of {@linkcode runDemo}. */
export interface RunDemoOptions {
  /** Messages / iterations / rounds (demo-specific default). */
  count?: number;
  /** msg-test: largest data size (default: what the buffers hold, 480). */
  size?: number;
  /** Wait per reply, ms (default 5000). */
  timeoutMs?: number;
  /** Service name to bind instead of the demo's usual one. */
  service?: string;
}

function progressFn(io: DemoIo, what: string): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    const pct = Math.floor((done * 100) / total);
    if (pct === last && done !== total) return;
    last = pct;
    io.progress(`${what}: ${done}/${total}`, done === total);
  };
}

/** A missing shared-memory object (ENOENT) means no remote runs on `profile`. */
function noRemote(profile: MachineProfile, e: unknown): unknown {
  if (isAmpError(e) && e.code === "ENOENT") {
    return new AmpError(
      "NO_REMOTE",
      `Machine "${profile.name}" has no shared memory yet (${e.message}): no remote is running (${
        remoteStartHint(profile)
      })`,
      { cause: e },
    );
  }
  return e;
}

/**
 * {@linkcode openHostSession} for a verb: a machine whose shared memory does
 * not exist yet fails with AmpError `NO_REMOTE` and a hint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openRemoteSession } from "./_demos.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * const profile = simProfile({ prefix: `amp-doc-none-${Deno.pid}` });
 * const e = await openRemoteSession(profile).catch((e) => e);
 * assert(e.code === "NO_REMOTE");
 * ```
 */
export async function openRemoteSession(
  profile: MachineProfile,
  options: HostSessionOptions = {},
): Promise<HostSession> {
  try {
    return await openHostSession(profile, options);
  } catch (e) {
    throw noRemote(profile, e);
  }
}

async function mapRunning(profile: MachineProfile): Promise<MemoryMap> {
  try {
    return await mapRemoteMemory(profile);
  } catch (e) {
    throw noRemote(profile, e);
  }
}

async function withSession<T>(
  profile: MachineProfile,
  timeoutMs: number,
  io: DemoIo,
  fn: (s: HostSession) => Promise<T>,
): Promise<T> {
  const s = await openRemoteSession(profile, { timeoutMs, log: (l) => io.detail(l) });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/**
 * Run one demo against the remote of `profile` and print the seed's lines.
 * Never throws for a failed exchange: that is counted in the result. Throws
 * for setup failures (no remote, no such service).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runDemo } from "./_demos.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * const io = { out: () => {}, detail: () => {}, progress: () => {} };
 * const profile = simProfile({ prefix: `amp-doc-none-${Deno.pid}` });
 * const e = await runDemo("ping", profile, io).catch((e) => e);
 * assert(e.code === "NO_REMOTE"); // nothing runs on that machine
 * ```
 */
export async function runDemo(
  name: DemoName,
  profile: MachineProfile,
  io: DemoIo,
  options: RunDemoOptions = {},
): Promise<DemoResult> {
  const timeoutMs = options.timeoutMs ?? 5000;
  switch (name) {
    case "ping":
      return await withSession(profile, timeoutMs, io, async (s) => {
        const service = options.service ?? SAMPLE_SERVICE;
        const ch = await s.channel(service);
        io.out(`rpmsg sample test: "${service}" bound (remote address ${ch.endpoint.dst})`);
        const count = options.count ?? 100;
        return runSample(ch, {
          count,
          timeoutMs,
          log: (l) => io.detail(l),
          onProgress: progressFn(io, "rpmsg sample test"),
        });
      });
    case "test":
      return await withSession(profile, timeoutMs, io, async (s) => {
        const service = options.service ?? ECHO_SERVICE;
        const ch = await s.channel(service);
        io.out(
          `Echo test: "${service}" bound (remote address ${ch.endpoint.dst}), header fields of ${profile.wordSize} bytes`,
        );
        const limit = maxPingSize(ch.maxPayload, profile.wordSize);
        if (options.size !== undefined && options.size > limit) {
          throw new UsageError(
            `--size ${options.size} does not fit: at most ${limit} data bytes fit one ${ch.maxPayload}-byte payload`,
          );
        }
        const r = await runMsgTest(ch, {
          wordSize: profile.wordSize,
          ...(options.size !== undefined ? { maxSize: options.size } : {}),
          rounds: options.count ?? 1,
          timeoutMs,
          log: (l) => io.detail(l),
          onProgress: progressFn(io, "echo test"),
        });
        io.out("**********************************");
        io.out(` Test Results: Error count = ${r.errors}`);
        io.out("**********************************");
        return r;
      });
    case "matrix":
      return await withSession(profile, timeoutMs, io, async (s) => {
        // amp's remotes announce the matrix service under its own name next to
        // the echo; upstream's matrix daemon uses the demo channel's name.
        const service = options.service ??
          await s.pickService([MATRIX_SERVICE, ECHO_SERVICE], { timeoutMs });
        const ch = await s.channel(service);
        io.out(`Matrix multiply: "${service}" bound (remote address ${ch.endpoint.dst})`);
        return runMatrix(ch, {
          count: options.count ?? 200,
          timeoutMs,
          log: (l) => io.detail(l),
          onProgress: progressFn(io, "matrix multiply"),
        });
      });
    case "shmem": {
      const base = remoteConventions(profile).shmemDemoPa;
      if (base === undefined) {
        throw new ConfigError(
          "SHMEM_DEMO_UNKNOWN",
          `Machine "${profile.name}": no shared-memory demo block is known for its firmware`,
        );
      }
      const mem = await mapRunning(profile);
      try {
        const region = mem.get(base, SHM_DEMO_SIZE);
        io.detail(`Shared memory demo block at ${hex(base)} in region ${region.name}`);
        return await runShmemDemo(region, base, {
          count: options.count ?? 1,
          timeoutMs,
          log: (l) => (/^(Sending|Message Received)/.test(l) ? io.detail(l) : io.out(l)),
          onProgress: progressFn(io, "shared memory demo"),
        });
      } finally {
        mem.close();
      }
    }
  }
}

/**
 * amp's own final line: `PASS <demo>: ...` or `FAIL <demo>: ...`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { verdictLine } from "./_demos.ts";
 * const r = { demo: "matrix", passed: true, errors: 0, sent: 2, received: 2, ms: 3.2, failures: [] };
 * assert(verdictLine(r) === "PASS matrix: 2 sent, 2 received, 0 errors in 3 ms");
 * ```
 */
export function verdictLine(r: DemoResult): string {
  const base = `${r.demo}: ${r.sent} sent, ${r.received} received, ${r.errors} error${
    r.errors === 1 ? "" : "s"
  } in ${Math.round(r.ms)} ms`;
  return r.passed ? `PASS ${base}` : `FAIL ${base}${r.failures[0] ? ` (${r.failures[0]})` : ""}`;
}

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
};

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
 * Target selection options (`--machine`, `--cpu`) from a context.
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
export function targetOptions(ctx: CommandContext): { machine?: string; cpu?: string } {
  const o: { machine?: string; cpu?: string } = {};
  if (typeof ctx.values.machine === "string") o.machine = ctx.values.machine;
  if (typeof ctx.values.cpu === "string") o.cpu = ctx.values.cpu;
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
export function finishDemo(ctx: CommandContext, r: DemoResult): number {
  if (ctx.json) ctx.out(JSON.stringify(r));
  else {
    for (const f of r.failures) ctx.out(`error: ${f}`);
    ctx.out(verdictLine(r));
  }
  return r.passed ? 0 : 1;
}
