/**
 * The seed's demos against a running remote: what `amp rpmsg ping|test|matrix`,
 * `amp shmem demo` and `amp demo` run. Each demo is one host session
 * ({@linkcode HostSession}); when no application waits on the remote and its
 * console offers the demo's command (or `--start CMD` names one), the
 * command is typed there first and the session waits for the application by
 * protocol (its resource table copied again), as a user at the remote's
 * shell would start it.
 *
 * @module
 */

import { AmpError, ConfigError, isAmpError, TimeoutError, UsageError } from "../errors.ts";
import type { DemoResult } from "../apps/channel.ts";
import { MATRIX_SERVICE, runMatrix } from "../apps/matrix.ts";
import { ECHO_SERVICE, maxPingSize, runMsgTest } from "../apps/echo.ts";
import { runSample, SAMPLE_SERVICE } from "../apps/sample.ts";
import { runShmemDemo, SHM_CONTROL, SHM_DEMO_SIZE } from "../apps/shmem.ts";
import { type AppStarter, HostSession, type HostSessionOptions } from "../host/session.ts";
import { mapExistingMemory } from "../link/memory.ts";
import type { DemoApp, MachineProfile } from "../machine/types.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { hex } from "../mem/region.ts";
import { lastLines, readConsoleLog, typeLine } from "../runtime/console.ts";
import { sessionLock } from "../runtime/locks.ts";
import type { CpuEntry } from "../runtime/registry.ts";
import { whyStopped } from "../runtime/status.ts";
import { waitUntil } from "../util/wait.ts";

/** The demos by name. */
export type DemoName = "ping" | "test" | "matrix" | "shmem";

/** Every demo, in the order `amp demo` runs them. */
export const DEMO_NAMES: readonly DemoName[] = ["ping", "test", "matrix", "shmem"];

/** The application each demo talks to (the key of a profile's `demos.commands`). */
export const DEMO_APP: Readonly<Record<DemoName, DemoApp>> = {
  ping: "sample",
  test: "echo",
  matrix: "matrix",
  shmem: "shmem",
};

/** The name each demo's result carries (its PASS/FAIL line). */
export const DEMO_RESULT_NAME: Readonly<Record<DemoName, string>> = {
  ping: "sample",
  test: "msg-test",
  matrix: "matrix",
  shmem: "shmem",
};

/**
 * The result of a demo that could not run (no remote, busy, the remote
 * gone...): failed, with the reason, so it still ends with its FAIL line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { failedDemo } from "./run.ts";
 * const r = failedDemo("matrix", new Error("Busy: host session of pid 7 holds it"));
 * assert(!r.passed && r.demo === "matrix" && r.failures[0]?.startsWith("Busy"));
 * ```
 */
export function failedDemo(name: DemoName, e: unknown): DemoResult {
  return {
    demo: DEMO_RESULT_NAME[name],
    passed: false,
    errors: 1,
    sent: 0,
    received: 0,
    ms: 0,
    failures: [e instanceof Error ? e.message : String(e)],
  };
}

/** Where demo output goes. */
export interface DemoIo {
  /** A report line. */
  out(line: string): void;
  /** A per-message line (shown with --verbose). */
  detail(line: string): void;
  /**
   * False when `detail` lines are dropped: the demos then do not even format
   * their per-message lines (no work per message for output nobody sees).
   * Default true.
   */
  verbose?: boolean;
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
  /** The running remote's registry entry: its console, firmware facts and owner. */
  entry?: CpuEntry;
  /** Type this command on the remote's console first (`--start CMD`). */
  start?: string;
  /** Never type a command, even when the console offers the demo's (`--no-start`). */
  noStart?: boolean;
  /**
   * The state directory: where the host-session lock lives and where the
   * owner's record of a stop is read (default: `$AMP_STATE_DIR`, see `defaultStateDir`).
   */
  lockDir?: string;
}

/** How a remote is started, by control kind, when it is not `amp load` (machine facts as data). */
const START_HINTS: Partial<Record<MachineProfile["control"]["kind"], string>> = {
  "openamp-linux": 'start the remote first ("amp remote echo sample --machine {m}", or an ' +
    "upstream OpenAMP device app)",
};

/**
 * What to tell a user whose machine has no running remote: how to start one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remoteStartHint } from "./run.ts";
 * import { OPENAMP_LINUX, SIM } from "../machine/mod.ts";
 * assert(remoteStartHint(OPENAMP_LINUX).includes("amp remote"));
 * assert(remoteStartHint(SIM).includes("amp load"));
 * ```
 */
export function remoteStartHint(profile: MachineProfile): string {
  const hint = START_HINTS[profile.control.kind] ??
    'start one with "amp load <fw.elf> <cpu> --machine {m}"';
  return hint.replaceAll("{m}", profile.name);
}

/** The per-message `log` option of a demo: only when its lines are shown. */
function perMessageLog(io: DemoIo): { log?: (line: string) => void } {
  return io.verbose === false ? {} : { log: (l) => io.detail(l) };
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
 * The starter for demo `name`: `--start CMD` when given, else the demo's own
 * command when the running firmware's console offers it (and `--no-start`
 * is not given), else none. `AmpError` `NO_CONSOLE` for `--start` on a
 * machine without a console amp can reach.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { demoStarter } from "./run.ts";
 * import { SIM } from "../machine/profiles/sim.ts";
 * const entry = { cpu: 1, machine: "sim", pid: 1, firmware: "fw.elf", state: "running",
 *   startedAt: "", updatedAt: "", control: "/x.ctl", consoleLog: "/x.log", shell: ["rpmsg_echo"] };
 * assert(demoStarter("ping", SIM, { entry })?.what === '"rpmsg_echo" typed on the console of cpu 1');
 * assert(demoStarter("test", SIM, { entry }) === undefined); // the console does not offer rpmsg_update
 * assert(demoStarter("ping", SIM, { entry, noStart: true }) === undefined);
 * ```
 */
export function demoStarter(
  name: DemoName | undefined,
  profile: MachineProfile,
  options: Pick<RunDemoOptions, "entry" | "start" | "noStart">,
): AppStarter | undefined {
  const entry = options.entry;
  if (options.start !== undefined) {
    if (!entry?.control || !entry.consoleLog) {
      throw new AmpError(
        "NO_CONSOLE",
        `Cannot type "${options.start}": machine "${profile.name}" has no console amp can reach${
          entry ? "" : " (no running remote of it is recorded)"
        }; start the remote's application yourself`,
      );
    }
    return consoleStarter(entry, options.start, true);
  }
  if (name === undefined || options.noStart || !entry?.control || !entry.consoleLog) {
    return undefined;
  }
  const cmd = profile.demos?.commands?.[DEMO_APP[name]];
  if (cmd === undefined || !entry.shell?.includes(cmd)) return undefined;
  return consoleStarter(entry, cmd, false);
}

function consoleStarter(entry: CpuEntry, command: string, explicit: boolean): AppStarter {
  return {
    what: `"${command}" typed on the console of cpu ${entry.cpu}`,
    explicit,
    start: () => typeLine(entry, command),
    tail: async () => lastLines(await readConsoleLog(entry), 4),
  };
}

/**
 * A check that throws once the remote of `entry` stopped (looked at every
 * 250 ms at most): the owner's record of why (the simulated remote's or
 * QEMU's exit, `amp stop`, a reload) or that the owner is gone, so waits end
 * with the reason instead of a timeout.
 */
function ownerCheck(
  entry: CpuEntry | undefined,
  stateDir?: string,
): ((force?: boolean) => void) | undefined {
  if (!entry) return undefined;
  let next = 0;
  return (force = false) => {
    const now = performance.now();
    if (now < next && !force) return;
    next = now + 250;
    const why = whyStopped(entry, stateDir === undefined ? {} : { dir: stateDir });
    if (why !== undefined) throw new AmpError("REMOTE_GONE", why);
  };
}

function hexBytes(s: string | undefined): Uint8Array | undefined {
  if (s === undefined || s.length % 2 !== 0) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * {@linkcode HostSession.open} for a verb: a machine whose shared memory does
 * not exist yet fails with AmpError `NO_REMOTE` and a hint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openRemoteSession } from "./run.ts";
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
    return await HostSession.open(profile, options);
  } catch (e) {
    throw noRemote(profile, e);
  }
}

async function mapRunning(profile: MachineProfile): Promise<MemoryMap> {
  try {
    return await mapExistingMemory(profile);
  } catch (e) {
    throw noRemote(profile, e);
  }
}

/**
 * A host session with the running remote for demo `name` (or, with
 * `undefined`, for any service: only `--start` then types a command): the
 * starter, the firmware's own table and the owner check come from
 * `options.entry`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openDemoSession } from "./run.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * const profile = simProfile({ prefix: `amp-doc-none-${Deno.pid}` });
 * const e = await openDemoSession(undefined, profile, { timeoutMs: 100 }).catch((e) => e);
 * assert(e.code === "NO_REMOTE");
 * ```
 */
export async function openDemoSession(
  name: DemoName | undefined,
  profile: MachineProfile,
  options: Pick<RunDemoOptions, "entry" | "start" | "noStart" | "timeoutMs" | "lockDir"> & {
    log?: (line: string) => void;
    signal?: AbortSignal;
    what?: string;
  },
): Promise<HostSession> {
  const starter = demoStarter(name, profile, options);
  const fwTable = hexBytes(options.entry?.rscTable);
  const owner = ownerCheck(options.entry, options.lockDir);
  let session: HostSession | undefined;
  // The owner's record first (it names the cause), then the vdev status in shared memory.
  const check = (force = false) => {
    owner?.(force);
    const reset = session?.remoteReset();
    if (reset !== undefined) throw new AmpError("REMOTE_RESET", `The remote ${reset}`);
  };
  // One host session per remote: a second one is refused at once, naming the first.
  const lock = await sessionLock(
    profile,
    `host session (${options.what ?? "amp"})`,
    options.lockDir,
  );
  try {
    session = await openRemoteSession(profile, {
      timeoutMs: options.timeoutMs ?? 5000,
      ...(options.log ? { log: options.log } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(starter ? { starter } : {}),
      ...(fwTable ? { firmwareTable: fwTable } : {}),
      check,
      onClose: () => lock.release(),
    });
    return session;
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function withSession<T>(
  name: DemoName,
  profile: MachineProfile,
  io: DemoIo,
  options: RunDemoOptions,
  fn: (s: HostSession) => Promise<T>,
): Promise<T> {
  const s = await openDemoSession(name, profile, {
    ...options,
    log: (l) => io.detail(l),
    what: `amp ${name === "shmem" ? "shmem demo" : `rpmsg ${name}`}`,
  });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** A value the shared-memory demo's control word never holds: replaced by the remote's clear. */
const SHMEM_NOT_STARTED = 0xa5a5_a5a5;

/**
 * Run one demo against the remote of `profile` and print the seed's lines.
 * Never throws for a failed exchange: that is counted in the result. Throws
 * for setup failures (no remote, no such service, no application started).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runDemo } from "./run.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * const io = { out: () => {}, detail: () => {}, progress: () => {} };
 * const profile = simProfile({ prefix: `amp-doc-none-${Deno.pid}` });
 * const e = await runDemo("ping", profile, io).catch((e) => e);
 * assert(e.code === "NO_REMOTE");
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
      return await withSession(name, profile, io, options, async (s) => {
        const service = options.service ?? SAMPLE_SERVICE;
        const ch = await s.channel(service);
        io.out(`rpmsg sample test: "${service}" bound (remote address ${ch.endpoint.dst})`);
        const count = options.count ?? 100;
        return runSample(ch, {
          count,
          timeoutMs,
          ...perMessageLog(io),
          onProgress: progressFn(io, "rpmsg sample test"),
        });
      });
    case "test":
      return await withSession(name, profile, io, options, async (s) => {
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
          ...perMessageLog(io),
          onProgress: progressFn(io, "echo test"),
        });
        io.out("**********************************");
        io.out(` Test Results: Error count = ${r.errors}`);
        io.out("**********************************");
        return r;
      });
    case "matrix":
      return await withSession(name, profile, io, options, async (s) => {
        // amp's remotes announce the matrix service under its own name next to
        // the echo; upstream's matrix daemon uses the demo channel's name.
        const service = options.service ??
          await s.pickService([MATRIX_SERVICE, ECHO_SERVICE], { timeoutMs });
        const ch = await s.channel(service);
        io.out(`Matrix multiply: "${service}" bound (remote address ${ch.endpoint.dst})`);
        return runMatrix(ch, {
          count: options.count ?? 200,
          timeoutMs,
          ...perMessageLog(io),
          onProgress: progressFn(io, "matrix multiply"),
        });
      });
    case "shmem": {
      const base = profile.demos?.shmemPa;
      if (base === undefined) {
        throw new ConfigError(
          "SHMEM_DEMO_UNKNOWN",
          `Machine "${profile.name}": its profile names no shared-memory demo block (demos.shmemPa)`,
        );
      }
      const starter = demoStarter(name, profile, options);
      const lock = await sessionLock(profile, "host session (amp shmem demo)", options.lockDir);
      let mem: MemoryMap;
      try {
        mem = await mapRunning(profile);
      } catch (e) {
        lock.release();
        throw e;
      }
      try {
        const region = mem.get(base, SHM_DEMO_SIZE);
        io.detail(`Shared memory demo block at ${hex(base)} in region ${region.name}`);
        if (starter) {
          // libmetal's demo clears its control word when it starts: wait for that.
          region.atomicStoreU32(base + SHM_CONTROL, SHMEM_NOT_STARTED);
          io.detail(`starting ${starter.what}`);
          await starter.start();
          const check = ownerCheck(options.entry, options.lockDir);
          const ok = await waitUntil(() => {
            check?.();
            return region.atomicLoadU32(base + SHM_CONTROL) === 0;
          }, { deadlineMs: timeoutMs, spinUs: 0, yieldUs: 200, maxSleepMs: 4 });
          if (!ok) {
            const tail = await starter.tail?.().catch(() => "");
            throw new TimeoutError(
              `waiting for the shared-memory demo started by ${starter.what} to clear its control word at ${
                hex(base)
              }${tail ? `; the remote printed: ${tail}` : ""}`,
              timeoutMs,
            );
          }
        }
        return await runShmemDemo(region, base, {
          count: options.count ?? 1,
          timeoutMs,
          log: (l) => (/^(Sending|Message Received)/.test(l) ? io.detail(l) : io.out(l)),
          onProgress: progressFn(io, "shared memory demo"),
        });
      } finally {
        mem.close();
        lock.release();
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
 * import { verdictLine } from "./run.ts";
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
