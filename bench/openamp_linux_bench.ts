/**
 * rpmsg performance over the openamp-linux layout (machines.md section 2)
 * between two processes: `amp remote echo` in a child process, amp's host
 * session here. Two notification modes over the same layout:
 *
 * - `socket`: kicks are single bytes over the UNIX stream socket (the
 *   machine's own notification, as upstream's Linux port);
 * - `poll`: kicks are counters in two words of the shm object, polled
 *   (spin, then yield, then sleep), no kernel wake-ups.
 *
 * Per payload size (16, 256, 496 B) it prints echo round trips/s with p50/p99
 * latency, and streaming throughput: messages sent back to back (up to
 * `--window` in flight) to the echo service, msgs/s and MB/s counted one way.
 *
 * Run: `deno run -A bench/openamp_linux_bench.ts [--rt N] [--stream N] [--window N] [--mode socket|poll]`.
 * Numbers depend heavily on how loaded the machine is.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  AmpError,
  type AmpErrorCode,
  RpmsgError,
  type RpmsgErrorCode,
  TimeoutError,
  UsageError,
} from "../lib/errors.ts";
import { ECHO_SERVICE } from "../lib/apps/echo.ts";
import { HostSession } from "../lib/host/session.ts";
import type { MachineProfile } from "../lib/machine/types.ts";
import { validateProfile } from "../lib/machine/validate.ts";
import { openampLinuxProfile } from "../lib/machine/profiles/openamp_linux.ts";

/** Payload sizes measured. */
export const SIZES = [16, 256, 496] as const;

/** Notification modes measured. */
export type BenchMode = "socket" | "poll";

/** Where the poll mode keeps its two counters (past the buffer pool, inside the shm object). */
const POLL_WORDS = { toRemote: 0x7_f000, toHost: 0x7_f040 };

/** The openamp-linux profile with private names, in the given notification mode. */
export function benchProfile(mode: BenchMode, tag: string): MachineProfile {
  const p = openampLinuxProfile({
    shmName: `amp-bench-${tag}-${Deno.pid}.shm`,
    socketPath: `/tmp/amp-bench-${tag}-${Deno.pid}.event`,
  });
  if (mode === "poll") {
    p.regions[0]!.roles = ["shm", "notify"];
    p.notify = {
      kind: "poll-word",
      pa: POLL_WORDS.toRemote,
      watchPa: POLL_WORDS.toHost,
      mode: "counter",
    };
  }
  return validateProfile(p, `bench profile (${mode})`);
}

/** One measured row. */
export interface BenchRow {
  mode: BenchMode;
  size: number;
  rtPerSec: number;
  p50Us: number;
  p99Us: number;
  msgsPerSec: number;
  mbPerSec: number;
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Start `amp remote echo` on `profile`; resolves once it serves. */
async function spawnRemote(profile: MachineProfile, file: string) {
  Deno.writeTextFileSync(file, JSON.stringify(profile));
  const cli = new URL("../cli.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", cli, "remote", "echo", "--machine", file],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const end = Date.now() + 60_000;
  while (!seen.includes("amp remote: serving")) {
    if (Date.now() > end) throw new TimeoutError("waiting for amp remote to serve", 60_000);
    const { value, done } = await reader.read();
    if (done) {
      throw new AmpError("BENCH_REMOTE" as AmpErrorCode, `amp remote exited early: ${seen}`);
    }
    seen += value;
  }
  // Keep draining its output.
  const drain = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return {
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drain;
    },
  };
}

/** Measure one mode at every size. */
export async function benchMode(
  mode: BenchMode,
  options: { rt: number; stream: number; window: number },
): Promise<BenchRow[]> {
  const profile = benchProfile(mode, mode);
  const file = await Deno.makeTempFile({ suffix: ".machine.json" });
  const remote = await spawnRemote(profile, file);
  const rows: BenchRow[] = [];
  try {
    const s = await HostSession.open(profile, { timeoutMs: 30_000 });
    try {
      const ch = await s.channel(ECHO_SERVICE);
      for (const size of SIZES) {
        const msg = new Uint8Array(size).fill(0x5a);
        // warm-up (JIT of both sides' hot paths)
        for (let i = 0; i < 500; i++) {
          await ch.send(msg);
          await ch.recv(30_000);
        }
        const lat = new Float64Array(options.rt);
        const t0 = performance.now();
        for (let i = 0; i < options.rt; i++) {
          const a = performance.now();
          await ch.send(msg);
          const r = await ch.recv(30_000);
          lat[i] = performance.now() - a;
          if (r.length !== size) {
            throw new RpmsgError(
              "BENCH_ECHO" as RpmsgErrorCode,
              `echo of ${r.length} B for a ${size}-byte message`,
            );
          }
        }
        const rtMs = performance.now() - t0;
        lat.sort();
        let inFlight = 0, received = 0;
        const s0 = performance.now();
        for (let sent = 0; sent < options.stream; sent++) {
          while (inFlight >= options.window || (ch.queued > 0 && inFlight > 0)) {
            await ch.recv(30_000);
            inFlight--;
            received++;
          }
          await ch.send(msg);
          inFlight++;
        }
        while (inFlight > 0) {
          await ch.recv(30_000);
          inFlight--;
          received++;
        }
        const stMs = performance.now() - s0;
        rows.push({
          mode,
          size,
          rtPerSec: (options.rt * 1000) / rtMs,
          p50Us: percentile(lat, 0.5) * 1000,
          p99Us: percentile(lat, 0.99) * 1000,
          msgsPerSec: (received * 1000) / stMs,
          mbPerSec: (received * size) / 1e6 / (stMs / 1000),
        });
      }
    } finally {
      await s.close();
    }
  } finally {
    await remote.stop();
    await Deno.remove(file);
  }
  return rows;
}

/** Format rows as a table. */
export function formatRows(rows: readonly BenchRow[]): string {
  const head = ["mode", "size B", "echo rt/s", "p50 us", "p99 us", "stream msg/s", "MB/s"];
  const body = rows.map((r) => [
    r.mode,
    String(r.size),
    r.rtPerSec.toFixed(0),
    r.p50Us.toFixed(1),
    r.p99Us.toFixed(1),
    r.msgsPerSec.toFixed(0),
    r.mbPerSec.toFixed(2),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(head), ...body.map(line)].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rt: { type: "string", default: "2000" },
      stream: { type: "string", default: "20000" },
      window: { type: "string", default: "64" },
      mode: { type: "string", multiple: true },
    },
    strict: true,
  });
  const modes = (values.mode?.length ? values.mode : ["socket", "poll"]) as BenchMode[];
  const opts = {
    rt: Number(values.rt),
    stream: Number(values.stream),
    window: Number(values.window),
  };
  const rows: BenchRow[] = [];
  for (const m of modes) {
    if (m !== "socket" && m !== "poll") throw new UsageError(`unknown --mode ${m} (socket, poll)`);
    rows.push(...await benchMode(m, opts));
  }
  console.log(
    `openamp-linux layout, amp remote (child process) <-> amp host; ${opts.rt} round trips, ${opts.stream} streamed messages (window ${opts.window}) per size`,
  );
  console.log(formatRows(rows));
}
