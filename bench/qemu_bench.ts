/**
 * rpmsg against a real RISC-V remote: the demo firmware on hart 1 of the
 * `qemu-rv64` machine (QEMU launched by the project's Remoteproc backend).
 * Measures echo round trips/s with p50/p99 through lib/rpmsg, next to a raw
 * polled ping-pong with the same remote (the firmware copies its diagnostics
 * PING word to PONG: the limit of a shared-memory round trip), and reports
 * their ratio.
 *
 * Run: `deno run -A bench/qemu_bench.ts [--rt N] [--ping N] [--size B]`.
 * Skips (exit 0) when qemu-system-riscv64 is missing. The host polls with
 * spin-then-yield; numbers depend on how loaded the machine is (QEMU's vCPU
 * thread and this process share the cores).
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { MemoryRegion } from "../lib/mem/region.ts";
import { qemuRv64Profile } from "../lib/machine/profiles/qemu_rv64.ts";
import { qemuAvailable } from "../lib/machine/qemu/qemu_rv64.ts";
import { DIAG_PING, DIAG_PONG } from "../lib/machine/qemu/_testing.ts";
import { attachHost, clearDiag } from "../lib/machine/qemu/_rpmsg_host.ts";
import { yieldThread, yieldTurn } from "../lib/util/wait.ts";
import { registerQemuRv64Backend } from "../lib/remoteproc/backends/qemu_rv64_register.ts";
import { Remoteproc } from "../lib/remoteproc/remoteproc.ts";

/** Echo service of the demo firmware. */
export const SERVICE = "rpmsg-openamp-demo-channel";
const FW = new URL("../examples/firmware/rv64-virt/amp-demo.elf", import.meta.url);

/** After a burst of spins give the CPU away: sched_yield mostly, an event-loop turn now and then. */
function pause(spins: number): Promise<void> | null {
  if ((spins & 0x3f) !== 0) return null;
  if ((spins & 0x3fff) !== 0 && yieldThread()) return null;
  return yieldTurn();
}

/** Latency statistics of a run. */
export interface Stats {
  /** Round trips. */
  n: number;
  /** Round trips per second over the whole run. */
  perSec: number;
  /** Median latency, µs. */
  p50: number;
  /** 99th percentile latency, µs. */
  p99: number;
}

/**
 * Stats of per-trip latencies (ms) over a run of `totalMs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stats } from "./qemu_bench.ts";
 * const s = stats(Float64Array.of(0.001, 0.002, 0.003), 0.006);
 * assert(s.n === 3 && s.p50 === 2 && Math.round(s.perSec) === 500000);
 * ```
 */
export function stats(lat: Float64Array, totalMs: number): Stats {
  const s = lat.slice().sort();
  const at = (q: number) => (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN) * 1000;
  return { n: lat.length, perSec: lat.length / (totalMs / 1000), p50: at(0.5), p99: at(0.99) };
}

/** Raw ping-pong: write PING, spin until the firmware copied it to PONG. */
export async function rawPingPong(diag: MemoryRegion, n: number): Promise<Stats> {
  const lat = new Float64Array(n);
  let v = diag.atomicLoadU32(DIAG_PONG);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    v = (v + 1) >>> 0 || 1;
    const t = performance.now();
    diag.atomicStoreU32(DIAG_PING, v);
    let spins = 0;
    while (diag.atomicLoadU32(DIAG_PONG) !== v) {
      const p = pause(++spins);
      if (p) await p;
      if (spins > 50_000_000) throw new Error(`no pong for ping ${v}`);
    }
    lat[i] = performance.now() - t;
  }
  return stats(lat, performance.now() - t0);
}

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rt: { type: "string", default: "5000" },
      ping: { type: "string", default: "20000" },
      size: { type: "string", default: "16" },
    },
  });
  const rtN = Number(values.rt), pingN = Number(values.ping), size = Number(values.size);
  if (![rtN, pingN, size].every((x) => Number.isSafeInteger(x) && x > 0) || size > 496) {
    console.error("usage: qemu_bench.ts [--rt N] [--ping N] [--size 1..496]");
    return 2;
  }
  if (!qemuAvailable()) {
    console.log(
      "qemu-system-riscv64 not found: QEMU bench skipped (apt-get install qemu-system-misc)",
    );
    return 0;
  }
  registerQemuRv64Backend();
  const profile = qemuRv64Profile({ name: `amp-bench-${Deno.pid}` });
  const rp = await Remoteproc.open(profile);
  try {
    await rp.load(FW.pathname, { name: "amp-demo.elf" });
    await clearDiag(rp);
    await rp.start();
    const host = await attachHost(rp);
    try {
      let got = 0;
      const ep = host.dev.createEndpoint({ name: SERVICE, onMessage: () => got++ });
      let spins = 0;
      while (!ep.ready) {
        host.dev.poll();
        const p = pause(++spins);
        if (p) await p;
      }
      const msg = new Uint8Array(size);
      const roundTrips = async (n: number) => {
        const lat = new Float64Array(n);
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          const target = got + 1;
          const t = performance.now();
          while (!ep.trySend(msg)) host.dev.poll();
          let s = 0;
          while (got < target) {
            host.dev.poll();
            const p = pause(++s);
            if (p) await p;
          }
          lat[i] = performance.now() - t;
        }
        return stats(lat, performance.now() - t0);
      };
      await roundTrips(Math.min(500, rtN)); // warm-up: QEMU translates the hot paths
      const rpmsg = await roundTrips(rtN);
      await rawPingPong(host.notifyRegion, Math.min(2000, pingN));
      const raw = await rawPingPong(host.notifyRegion, pingN);
      const rows = [
        ["test", "n", "round trips/s", "p50 us", "p99 us"],
        [
          `rpmsg echo ${size} B`,
          String(rpmsg.n),
          fmt(rpmsg.perSec, 0),
          fmt(rpmsg.p50),
          fmt(rpmsg.p99),
        ],
        ["raw ping-pong (limit)", String(raw.n), fmt(raw.perSec, 0), fmt(raw.p50), fmt(raw.p99)],
      ];
      const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) {
        console.log(r.map((c, i) => i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)).join("  "));
      }
      console.log(
        `rpmsg / raw: ${fmt((rpmsg.perSec / raw.perSec) * 100)}% of the raw round-trip rate ` +
          `(${fmt(raw.perSec / rpmsg.perSec, 2)}x slower; p50 ${fmt(rpmsg.p50 / raw.p50, 2)}x)`,
      );
    } finally {
      host.close();
    }
    await rp.stop();
  } finally {
    await rp.close();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
