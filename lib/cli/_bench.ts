/**
 * `amp rpmsg bench`: echo round trips or a stream against the running
 * remote's echo service, per size: rate, latency statistics, a log-scale
 * histogram, and the raw limit of the link measured in the same run.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import {
  type BenchChannel,
  type BenchResult,
  formatHistogram,
  type RawLimit,
  rawPingPong,
  runBench,
} from "../apps/bench.ts";
import { DemoRun } from "../apps/channel.ts";
import { ECHO_SERVICE } from "../apps/echo.ts";
import { openDemoSession } from "../demos/run.ts";
import type { MachineProfile } from "../machine/types.ts";
import { RPMSG_HDR_SIZE } from "../rpmsg/mod.ts";
import type { CommandContext } from "./_command.ts";
import { demoIo, finishDemo, intOption, startOptions, targetOptions } from "./_demos.ts";
import { verdictLine } from "../demos/run.ts";
import { findTarget } from "./_target.ts";
import { KERNEL_RPMSG_MAX_PAYLOAD, RpmsgCharEndpoint } from "../kernel/rpmsg_char.ts";
import { firmwareDiag, firmwarePingPong } from "../qemu/diag_ping.ts";

/** Unmeasured echo round trips before each size (`--warmup`). */
export const DEFAULT_WARMUP = 20_000;
/** The warm-up of one size ends after this long, whatever `--warmup` says (a slow link), ms. */
export const WARMUP_MAX_MS = 2000;

/** Round trips of the raw limit measured before the sizes (at most 1 s of them). */
const LIMIT_ROUND_TRIPS = 20_000;

/** Machines whose link is two processes on this host polling shared memory. */
const HOST_LINK_KINDS = new Set(["sim", "openamp-linux"]);
/**
 * Machines whose remote hart may run amp's demo firmware, whose diag word
 * ping-pong (measured once the echo demo runs) is the link's raw limit.
 */
const FIRMWARE_PING_KINDS = new Set(["qemu-rv64"]);

/** The JSON `amp rpmsg bench --json` prints. */
export interface BenchReport {
  /** The machine benched. */
  machine: string;
  /** The service bound. */
  service: string;
  /** Echo or stream. */
  mode: "echo" | "stream";
  /** One entry per size. */
  results: (BenchResult & { vsLimit?: number })[];
  /** The raw limit of the link, when the machine allows measuring it. */
  limit?: RawLimit;
  /** True when every echo came back and matched. */
  passed: boolean;
  /** Echoes that did not match plus failures. */
  errors: number;
  /** Why it failed, if it did. */
  failures: string[];
}

/**
 * Parse `--sizes 16,256,496` (or one `--size N`); empty for neither.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSizes } from "./_bench.ts";
 * assert.deepEqual(parseSizes(undefined, "16,256, 496"), [16, 256, 496]);
 * assert.deepEqual(parseSizes("8", undefined), [8]);
 * assert.throws(() => parseSizes("8", "16"));
 * ```
 */
export function parseSizes(size: unknown, sizes: unknown): number[] {
  if (size !== undefined && sizes !== undefined) {
    throw new UsageError("--size and --sizes contradict each other: give one");
  }
  if (size !== undefined) return [intOption(size, "size", 0, 0xffff)!];
  if (sizes === undefined) return [];
  const parts = String(sizes).split(",").map((p) => p.trim());
  if (parts.length === 0 || parts.length > 64 || parts.some((p) => p === "")) {
    throw new UsageError(`--sizes wants a comma-separated list of sizes, got "${String(sizes)}"`);
  }
  return parts.map((p) => intOption(p, "sizes", 0, 0xffff)!);
}

function fmtRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${n}`;
}

function resultLines(r: BenchResult): string[] {
  const l = r.latencyUs;
  const head = r.mode === "echo"
    ? `echo ${r.size} B: ${r.count} round trips in ${r.ms} ms: ${
      fmtRate(r.roundTripsPerS ?? 0)
    } round trips/s`
    : `stream ${r.size} B: ${r.count} messages in ${r.ms} ms: ${
      fmtRate(r.msgsPerS ?? 0)
    } msgs/s, ${r.mbPerS} MB/s`;
  return [
    head + (r.errors > 0 ? `, ${r.errors} bad echoes` : ""),
    `  latency µs: min ${l.min}  avg ${l.avg}  p50 ${l.p50}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}`,
    ...formatHistogram(r.histogram),
  ];
}

/** An open link to the remote's echo service, as the bench drives it. */
interface BenchLink {
  /** The channel the bench sends on and receives from. */
  bc: BenchChannel;
  /** "bound (remote address N)" or "over /dev/rpmsgN (remote address N)". */
  where: string;
  /** The raw limit of this link measured over it (amp's firmware on QEMU), when there is one. */
  limit?: (n: number) => Promise<RawLimit>;
  close(): Promise<void>;
}

/** What the verb runs against: a machine amp reaches, or the kernel's rpmsg_char. */
interface BenchTarget {
  /** Machine name in the report. */
  machine: string;
  /** Largest payload of one message. */
  payload: number;
  /** Measure the raw limit of the link (two threads) before the link opens (false: not so). */
  limit: boolean;
  open(service: string, timeoutMs: number, log: (l: string) => void): Promise<BenchLink>;
}

async function machineTarget(ctx: CommandContext): Promise<BenchTarget> {
  const start = startOptions(ctx);
  const { profile, entry } = await findTarget(targetOptions(ctx));
  return {
    machine: profile.name,
    payload: profile.layout.bufSize.tx - RPMSG_HDR_SIZE,
    limit: hasHostLink(profile),
    async open(service, timeoutMs, log) {
      // The echo application is the msg-test demo's: when the firmware's shell
      // offers its command (and no --start/--no-start says otherwise), it is typed.
      const s = await openDemoSession("test", profile, {
        ...start,
        ...(entry ? { entry } : {}),
        timeoutMs,
        log,
        what: "amp rpmsg bench",
      });
      try {
        const ch = await s.channel(service);
        const bc: BenchChannel = {
          get maxPayload() {
            return ch.maxPayload;
          },
          get queued() {
            return ch.queued;
          },
          trySend: (d: Uint8Array) => ch.endpoint.trySend(d),
          send: (d: Uint8Array) => ch.send(d),
          recv: (t: number) => ch.recv(t),
          poll: () => void s.poll(),
          tryRecv: () => ch.tryRecv(),
          recvInto: (b: Uint8Array, t: number) => ch.recvInto(b, t),
        };
        const diag = FIRMWARE_PING_KINDS.has(profile.control.kind)
          ? firmwareDiag(s.memory)
          : undefined;
        return {
          bc,
          where: `bound (remote address ${ch.endpoint.dst})`,
          ...(diag ? { limit: (n: number) => firmwarePingPong(diag, n, { timeoutMs }) } : {}),
          close: () => s.close(),
        };
      } catch (e) {
        await s.close();
        throw e;
      }
    },
  };
}

/** The kernel's rpmsg_char (`--machine kernel`): an endpoint device on the echo channel. */
function kernelTarget(ctx: CommandContext): BenchTarget {
  if (ctx.values.cpu !== undefined) {
    throw new UsageError("--cpu does not apply with --machine kernel (the kernel owns the remote)");
  }
  return {
    machine: "kernel",
    payload: KERNEL_RPMSG_MAX_PAYLOAD,
    limit: false,
    async open(service, timeoutMs) {
      const ep = await RpmsgCharEndpoint.open(service, { timeoutMs });
      const bc: BenchChannel = {
        maxPayload: ep.maxPayload,
        queued: 0,
        trySend: (d: Uint8Array) => ep.trySend(d),
        send: (d: Uint8Array) => ep.send(d),
        recv: (t: number) => ep.recv(t),
        poll: () => {},
      };
      return {
        bc,
        where: `over ${ep.path} (remote address ${ep.dst})`,
        close: () => Promise.resolve(ep.close()),
      };
    },
  };
}

/**
 * Run `amp rpmsg bench` for a parsed command line; with `kernel` over the
 * kernel's rpmsg_char devices instead of a machine amp reaches.
 */
export async function runBenchVerb(ctx: CommandContext, kernel = false): Promise<number> {
  const v = ctx.values;
  const mode = v.mode ?? "echo";
  if (mode !== "echo" && mode !== "stream") {
    throw new UsageError(`--mode must be echo or stream, got "${String(mode)}"`);
  }
  if (v.count !== undefined && v.duration !== undefined) {
    throw new UsageError("--count and --duration contradict each other: give one");
  }
  const count = intOption(v.count, "count") ?? 10_000;
  const durationS = v.duration === undefined ? undefined : Number(v.duration);
  if (durationS !== undefined && !(durationS > 0 && durationS <= 3600)) {
    throw new UsageError(`--duration must be seconds in (0, 3600], got "${String(v.duration)}"`);
  }
  const warmup = intOption(v.warmup, "warmup", 0, 10_000_000) ?? DEFAULT_WARMUP;
  let sizes = parseSizes(v.size, v.sizes);
  const timeoutMs = intOption(v.timeout, "timeout") ?? 5000;
  const service = typeof v.service === "string" ? v.service : ECHO_SERVICE;
  const target = kernel ? kernelTarget(ctx) : await machineTarget(ctx);
  const payload = target.payload;
  if (sizes.length === 0) sizes = [16, 256, payload].filter((n, i, a) => a.indexOf(n) === i);
  const tooBig = sizes.find((n) => n > payload);
  if (tooBig !== undefined) {
    throw new UsageError(
      `--size ${tooBig} does not fit: one message of machine "${target.machine}" carries at most ${payload} bytes`,
    );
  }
  const io = demoIo(ctx);
  const run = new DemoRun("bench");
  const report: BenchReport = {
    machine: target.machine,
    service,
    mode,
    results: [],
    passed: false,
    errors: 0,
    failures: [],
  };
  const expected = durationS === undefined ? count * sizes.length : undefined;
  try {
    if (v["no-limit"] !== true && target.limit) {
      report.limit = await rawPingPong(LIMIT_ROUND_TRIPS);
    }
    const link = await target.open(service, timeoutMs, (l) => io.detail(l));
    try {
      if (v["no-limit"] !== true && link.limit) {
        // The remote's own raw round trip, now that its echo demo runs.
        report.limit = await link.limit(LIMIT_ROUND_TRIPS);
      }
      const bc = link.bc;
      io.out(
        `rpmsg bench: "${service}" ${link.where} on machine "${target.machine}", ${mode}, ${
          durationS === undefined ? `${count} messages` : `${durationS} s`
        } per size${
          warmup > 0
            ? ` after up to ${warmup} warm-up round trips (at most ${WARMUP_MAX_MS / 1000} s)`
            : ""
        }`,
      );
      for (const size of sizes) {
        const r = await runBench(bc, {
          mode,
          size,
          count,
          ...(durationS !== undefined ? { durationMs: durationS * 1000 } : {}),
          timeoutMs,
          warmup,
          warmupMs: WARMUP_MAX_MS,
          onProgress: (f) => io.progress(`${mode} ${size} B: ${Math.floor(f * 100)}%`, false),
        });
        io.progress(`${mode} ${size} B: done`, true);
        run.result.sent += r.count;
        run.result.received += r.count;
        for (let i = 0; i < r.errors; i++) run.fail(`echo of ${size} B differs from what was sent`);
        const limit = report.limit;
        const row: BenchReport["results"][number] = { ...r };
        if (limit && mode === "echo" && r.roundTripsPerS) {
          row.vsLimit = Math.round((limit.roundTripsPerS / r.roundTripsPerS) * 10) / 10;
        }
        report.results.push(row);
        for (const l of resultLines(r)) io.out(l);
      }
    } finally {
      await link.close();
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const r = run.finish(expected ?? run.result.received + 1);
    report.errors = r.errors + 1;
    report.failures = [...r.failures, e instanceof Error ? e.message : String(e)];
    if (ctx.json) {
      ctx.out(JSON.stringify(report));
      return 1;
    }
    return finishDemo(ctx, r, e);
  }
  const limit = report.limit;
  if (limit) {
    io.out(
      `limit: ${limit.what}, same run: ${
        fmtRate(limit.roundTripsPerS)
      } round trips/s, p50 ${limit.latencyUs.p50} µs`,
    );
    for (const r of report.results) {
      if (r.vsLimit !== undefined) {
        io.out(
          `echo ${r.size} B: ${r.vsLimit}x the limit's time per round trip (p50 ${
            Math.round((r.latencyUs.p50 / Math.max(0.1, limit.latencyUs.p50)) * 10) / 10
          }x)`,
        );
      }
    }
  }
  const r = run.finish(expected ?? run.result.received);
  report.passed = r.passed;
  report.errors = r.errors;
  report.failures = r.failures;
  if (ctx.json) ctx.out(JSON.stringify(report));
  else {
    for (const f of r.failures) ctx.out(`error: ${f}`);
    ctx.out(verdictLine(r));
  }
  return r.passed ? 0 : 1;
}

function hasHostLink(profile: MachineProfile): boolean {
  return HOST_LINK_KINDS.has(profile.control.kind);
}
