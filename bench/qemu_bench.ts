/**
 * A real RISC-V remote: the `qemu-rv64` machine booted through OpenSBI and
 * amp's SBI agent, the demo firmware entered in S-mode on hart 1 through SBI
 * HSM and driven at its shell prompt. Measures, on one machine:
 *
 * - the machine: agent boot (QEMU spawn to the agent's magic), hart start
 *   latency (request to SBI HSM STARTED) and stop + reboot (`system_reset`
 *   to the agent back with hart 1 STOPPED), over `--cycles` start/stop rounds;
 * - the firmware: boot to its `msh />` prompt, a raw PING/PONG at the prompt,
 *   QEMU's CPU use with the firmware idle at the prompt (`--idle` seconds);
 * - rpmsg: echo round trips/s with p50/p99 through lib/rpmsg inside
 *   `rpmsg_update`, next to a raw polled ping-pong with the same remote (the
 *   limit of a shared-memory round trip), and their ratio; and one echo split
 *   in three (median of each): the host's send up to its return, the
 *   firmware's turnaround (from there until vring0's used index moves, seen by
 *   a spin on that word alone) and the host's receive (from there until the
 *   echo is delivered).
 *
 * Run: `deno run -A bench/qemu_bench.ts [--rt N] [--ping N] [--size B]
 * [--cycles N] [--idle S] [--fw amp-demo.elf]` (`--fw`: another build of the
 * demo firmware, e.g. an older one to compare). Skips (exit 0) when qemu-system-riscv64 is
 * missing. The host polls with spin-then-yield; numbers depend on how loaded
 * the machine is (QEMU's vCPU threads and this process share the cores).
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { MemoryRegion } from "../lib/mem/region.ts";
import { qemuRv64Profile } from "../lib/machine/profiles/qemu_rv64.ts";
import { qemuAvailable, QemuRv64 } from "../lib/qemu/qemu.ts";
import { QemuConsole } from "../lib/qemu/console.ts";
import {
  DIAG_PING,
  DIAG_PONG,
  DIAG_SLEEPS,
  tagProgram,
  typeDemoCommand,
  waitDemoEnd,
  waitPrompt,
} from "../lib/qemu/_testing.ts";
import { attachHost, clearDiag } from "../lib/qemu/_testing_rpmsg.ts";
import { sleep, yieldThread, yieldTurn } from "../lib/util/wait.ts";
import { QemuRv64Backend } from "../lib/qemu/backend.ts";
import { Remoteproc } from "../lib/remoteproc/remoteproc.ts";
import { vringLayout } from "../lib/virtio/virtqueue.ts";

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

/** Medians (µs) of the three parts of an echo round trip. */
export interface EchoSplit {
  /** Round trips. */
  n: number;
  /** Host: from the send call to its return (the message posted and kicked). */
  sendUs: number;
  /** Firmware: from there until the reply's used index is visible. */
  firmwareUs: number;
  /** Host: from there until the echo was delivered to the endpoint. */
  recvUs: number;
  /** The whole round trip. */
  totalUs: number;
}

function median(a: Float64Array): number {
  return (a.slice().sort()[Math.floor(a.length / 2)] ?? NaN) * 1000;
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

/** Summary of a set of durations (ms). */
export interface Durations {
  n: number;
  /** Median and worst, ms. */
  p50: number;
  max: number;
}

/**
 * Median and maximum of `ms`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { durations } from "./qemu_bench.ts";
 * assert.deepEqual(durations([3, 1, 2]), { n: 3, p50: 2, max: 3 });
 * ```
 */
export function durations(ms: number[]): Durations {
  const s = ms.slice().sort((a, b) => a - b);
  return { n: s.length, p50: s[Math.floor(s.length / 2)] ?? NaN, max: s[s.length - 1] ?? NaN };
}

/**
 * CPU time (user + system) of process `pid` so far, in ms (Linux /proc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cpuMs } from "./qemu_bench.ts";
 * assert(cpuMs(Deno.pid) >= 0);
 * ```
 */
export function cpuMs(pid: number, ticksPerSecond = 100): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

function clockTicks(): number {
  try {
    const out = new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).outputSync();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

function table(rows: string[][]): void {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) {
    console.log(r.map((c, i) => i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)).join("  "));
  }
}

/** The machine alone: agent boot, hart start latency, stop + reboot. */
async function machineBench(cycles: number): Promise<void> {
  const t0 = performance.now();
  const q = await QemuRv64.launch();
  const boot = performance.now() - t0;
  const starts: number[] = [], stops: number[] = [];
  try {
    for (let i = 0; i < cycles; i++) {
      q.ram.write(0x9020_0000, tagProgram(0x100 + i));
      let t = performance.now();
      await q.startHart(1, 0x9020_0000, { start: 0x9020_0000, len: 20 });
      starts.push(performance.now() - t);
      t = performance.now();
      await q.stop();
      stops.push(performance.now() - t);
    }
  } finally {
    await q.close();
  }
  const st = durations(starts), sp = durations(stops);
  console.log(`QEMU machine (boot "sbi": OpenSBI ${"+"} amp's SBI agent), ${cycles} cycles`);
  table([
    ["what", "n", "p50 ms", "max ms"],
    ["agent boot: QEMU spawn to the agent's magic", "1", fmt(boot), fmt(boot)],
    ["hart start: request to SBI HSM STARTED", String(st.n), fmt(st.p50, 2), fmt(st.max, 2)],
    ["stop: system_reset to agent back, hart 1 STOPPED", String(sp.n), fmt(sp.p50), fmt(sp.max)],
  ]);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rt: { type: "string", default: "5000" },
      ping: { type: "string", default: "20000" },
      size: { type: "string", default: "16" },
      cycles: { type: "string", default: "10" },
      idle: { type: "string", default: "5" },
      fw: { type: "string", default: FW.pathname },
    },
  });
  const rtN = Number(values.rt), pingN = Number(values.ping), size = Number(values.size);
  const cycles = Number(values.cycles), idleS = Number(values.idle);
  if (
    ![rtN, pingN, size, cycles, idleS].every((x) => Number.isSafeInteger(x) && x > 0) || size > 496
  ) {
    console.error(
      "usage: qemu_bench.ts [--rt N] [--ping N] [--size 1..496] [--cycles N] [--idle S] [--fw ELF]",
    );
    return 2;
  }
  if (!qemuAvailable()) {
    console.log(
      "qemu-system-riscv64 not found: QEMU bench skipped (apt-get install qemu-system-misc)",
    );
    return 0;
  }
  const load0 = Deno.loadavg()[0]!;
  await machineBench(cycles);
  console.log("");

  const profile = qemuRv64Profile({ name: `amp-bench-${Deno.pid}` });
  const rp = new Remoteproc(profile, new QemuRv64Backend(profile));
  try {
    await rp.load(values.fw, { name: "amp-demo.elf" });
    const backend = rp.backend as QemuRv64Backend;
    const con = await QemuConsole.connect(backend.consolePath!);
    try {
      await clearDiag(rp);
      const t0 = performance.now();
      await rp.start();
      await waitPrompt(con);
      const toPrompt = performance.now() - t0;
      const map = await rp.memory();
      const diag = map.get(DIAG_PING, 0x40);
      await rawPingPong(diag, Math.min(2000, pingN)); // warm-up
      const rawPrompt = await rawPingPong(diag, pingN);

      // Idle at the prompt: wait until the firmware sleeps 1 ms at a time, then measure.
      await sleep(1500);
      const tck = clockTicks(), qpid = backend.qemu!.pid;
      const c0 = cpuMs(qpid, tck), s0 = diag.atomicLoadU32(DIAG_SLEEPS), w0 = performance.now();
      await sleep(idleS * 1000);
      const wall = performance.now() - w0;
      const idleCpu = ((cpuMs(qpid, tck) - c0) / wall) * 100;
      const sleepsPerS = ((diag.atomicLoadU32(DIAG_SLEEPS) - s0) * 1000) / wall;

      await typeDemoCommand(con, map.get(0x9010_0000, 0x8_0000), "rpmsg_update");
      const host = await attachHost(rp);
      let rpmsg: Stats, raw: Stats, split: EchoSplit;
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
        // The split: the same echo, with a spin on vring0's used index between send and receive.
        const v0 = rp.resourceTable!.vdevs[0]!.vrings[0]!;
        const usedIdxPa = v0.pa + vringLayout(v0.num, v0.align, v0.pa).used + 2;
        const usedWordPa = usedIdxPa - (usedIdxPa % 4), usedShift = (usedIdxPa % 4) * 8;
        const usedWord = map.get(usedWordPa, 4);
        const usedIdx = () => (usedWord.atomicLoadU32(usedWordPa) >>> usedShift) & 0xffff;
        const splitTrips = async (n: number): Promise<EchoSplit> => {
          const snd = new Float64Array(n), fw = new Float64Array(n), rcv = new Float64Array(n);
          const tot = new Float64Array(n);
          for (let i = 0; i < n; i++) {
            const target = got + 1, u0 = usedIdx();
            const t0 = performance.now();
            while (!ep.trySend(msg)) host.dev.poll();
            const t1 = performance.now();
            // A pure spin first (a yield inside the turnaround would be counted as the firmware's).
            let s = 0;
            while (usedIdx() === u0) {
              if (++s < 4096) continue;
              const p = pause(s);
              if (p) await p;
            }
            const t2 = performance.now();
            while (got < target) host.dev.poll();
            const t3 = performance.now();
            snd[i] = t1 - t0;
            fw[i] = t2 - t1;
            rcv[i] = t3 - t2;
            tot[i] = t3 - t0;
          }
          return {
            n,
            sendUs: median(snd),
            firmwareUs: median(fw),
            recvUs: median(rcv),
            totalUs: median(tot),
          };
        };
        await roundTrips(Math.min(500, rtN)); // warm-up: QEMU translates the hot paths
        rpmsg = await roundTrips(rtN);
        split = await splitTrips(rtN);
        await rawPingPong(host.notifyRegion, Math.min(2000, pingN));
        raw = await rawPingPong(host.notifyRegion, pingN);
      } finally {
        host.close(); // resets the vdev: the app ends
      }
      await waitDemoEnd(con);

      console.log("Demo firmware (S-mode, entered through SBI HSM) on hart 1");
      table([
        ["what", "value"],
        ["boot: hart start to the msh /> prompt on the console", `${fmt(toPrompt)} ms`],
        [
          `QEMU CPU, firmware idle at the prompt (${idleS} s)`,
          `${fmt(idleCpu)}% of one core (${fmt(sleepsPerS, 0)} firmware WFI sleeps/s)`,
        ],
      ]);
      console.log("");
      table([
        ["test", "n", "round trips/s", "p50 us", "p99 us"],
        [
          "raw ping-pong at the prompt",
          String(rawPrompt.n),
          fmt(rawPrompt.perSec, 0),
          fmt(rawPrompt.p50),
          fmt(rawPrompt.p99),
        ],
        [
          `rpmsg echo ${size} B (rpmsg_update)`,
          String(rpmsg.n),
          fmt(rpmsg.perSec, 0),
          fmt(rpmsg.p50),
          fmt(rpmsg.p99),
        ],
        [
          "raw ping-pong inside rpmsg_update (limit)",
          String(raw.n),
          fmt(raw.perSec, 0),
          fmt(raw.p50),
          fmt(raw.p99),
        ],
      ]);
      console.log(
        `rpmsg / raw: ${fmt((rpmsg.perSec / raw.perSec) * 100)}% of the raw round-trip rate ` +
          `(${fmt(raw.perSec / rpmsg.perSec, 2)}x slower; p50 ${fmt(rpmsg.p50 / raw.p50, 2)}x)`,
      );
      console.log(
        `echo split (${split.n}, medians): host send ${fmt(split.sendUs, 2)} us, firmware ` +
          `turnaround ${fmt(split.firmwareUs, 2)} us (${
            fmt(split.firmwareUs / raw.p50, 2)
          }x the raw p50), host receive ${fmt(split.recvUs, 2)} us; total ${
            fmt(split.totalUs, 2)
          } us`,
      );
    } finally {
      con.close();
    }
    await rp.stop();
  } finally {
    await rp.close();
  }
  console.log(
    `load average: ${fmt(load0, 2)} before, ${
      fmt(Deno.loadavg()[0]!, 2)
    } after (${navigator.hardwareConcurrency} CPUs)`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main());
