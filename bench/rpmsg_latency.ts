/**
 * rpmsg performance between two Deno processes over /dev/shm, printed as a
 * table. The rows:
 *
 * - `raw u32 ping-pong`: the limit of (b), one polled word bounced between
 *   the same two processes.
 * - `(b) echo round trip`: `trySend` of one message, wait for the echo;
 *   round trips/s, p50/p99 latency.
 * - `(c) one-way stream`: the copying API, `trySend` of each message (copied
 *   into a TX buffer, published and kicked one by one) to a sink; msgs/s and
 *   MB/s until the sink has answered a sync message sent after the last one.
 * - `(c) one-way stream zero-copy`: `getTxBuffer`, the payload written in
 *   place (a set from a prepared array, then a sequence number in its first
 *   4 bytes), `queueNoCopy`, a `flush` at the end: buffers are published in
 *   batches (one avail.idx store and at most one kick per batch). Same
 *   columns as the copying row.
 * - `(d) memcpy same bytes`: the limit of (c), a copy of the same bytes in
 *   the same process.
 *
 * The sink checks every message's sequence number (first u32); a run with a
 * lost, repeated or reordered message fails instead of printing a rate.
 *
 * Run: `deno run -A bench/rpmsg_latency.ts [--rt N] [--stream N] [--spin-us N]
 * [--stream-warmup N]`. Each stream path has a sink process of its own and,
 * before its (c) rows, runs unmeasured `--stream-warmup` messages (default
 * 200 000) at 16 and at 496 B, twice.
 * Both sides poll with spin-then-yield (no kernel wake-ups); numbers depend
 * heavily on how loaded the machine is.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { mapShm, removeShm } from "../lib/mem/shm.ts";
import type { MemoryRegion } from "../lib/mem/region.ts";
import { yieldThread, yieldTurn } from "../lib/util/wait.ts";
import type { RpmsgDevice, RpmsgEndpoint } from "../lib/rpmsg/mod.ts";
import {
  type HostEnd,
  SERVICE,
  SHM_SIZE,
  SHUTDOWN,
  spawnPeer,
  startHost,
  SYNC,
  WORD_TO_DEVICE,
  WORD_TO_DRIVER,
} from "../tests/_rpmsg_peer.ts";

/** Payload sizes measured. */
export const SIZES = [16, 256, 496] as const;

/** A running peer with the host end attached. */
export interface BenchLink {
  h: HostEnd;
  ep: RpmsgEndpoint;
  /** Replies received so far. */
  replies(): number;
  /** Last reply's first u32 (sink counters). */
  lastWord(): number;
  /** Last reply's second u32 (a sink's sequence errors). */
  lastErrors(): number;
  /** Sequence number of the next streamed message (the sink checks it). */
  seq: number;
  stop(): Promise<void>;
  /** Synchronous emergency stop (kill the peer, remove the shm object). */
  kill(): void;
}

let uniq = 0;

/** After a burst of spins give the CPU away: sched_yield mostly, an event-loop turn now and then. */
function pause(spins: number): Promise<void> | null {
  if ((spins & 0xff) !== 0) return null;
  if ((spins & 0x3fff) !== 0 && yieldThread()) return null;
  return yieldTurn();
}

/** Spawn a peer in `mode` ("echo" | "sink") and bind the demo service. */
export async function openLink(mode: "echo" | "sink", spinUs: number): Promise<BenchLink> {
  const name = `amp-bench-${Deno.pid}-${uniq++}`;
  const peer = await spawnPeer([
    "--shm",
    name,
    "--mode",
    mode,
    "--spin-us",
    String(spinUs),
    "--timeout-ms",
    "600000",
  ]);
  const h = await startHost(name, "shm", "", spinUs);
  let replies = 0, last = 0, errors = 0;
  const ep = h.host.createEndpoint({
    name: SERVICE,
    onMessage: (d) => {
      replies++;
      const dv = new DataView(d.buffer, d.byteOffset, d.length);
      if (d.length >= 4) last = dv.getUint32(0, true);
      if (d.length >= 8) errors = dv.getUint32(4, true);
    },
  });
  await ep.waitReady({ deadlineMs: 60_000 });
  return {
    h,
    ep,
    replies: () => replies,
    lastWord: () => last,
    lastErrors: () => errors,
    seq: 0,
    async stop() {
      const m = new Uint8Array(4);
      new DataView(m.buffer).setUint32(0, SHUTDOWN, true);
      await ep.send(m, { deadlineMs: 60_000 });
      const code = await peer.status();
      h.close();
      removeShm(name);
      if (code !== 0) throw new Error(`peer exited with ${code}`);
    },
    kill() {
      try {
        peer.child.kill();
      } catch { /* gone */ }
      removeShm(name);
    },
  };
}

/** Poll the host until `cond()`; spin, yielding to the event loop now and then. */
async function spinUntil(host: RpmsgDevice, cond: () => boolean): Promise<void> {
  let spins = 0;
  while (!cond()) {
    host.poll();
    const p = pause(++spins);
    if (p) await p;
  }
}

/** Do `n` echo round trips of `size` bytes; returns per-trip latencies in ms. */
export async function echoRoundTrips(
  link: BenchLink,
  size: number,
  n: number,
): Promise<Float64Array> {
  const { ep, h } = link;
  const msg = new Uint8Array(size);
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const target = link.replies() + 1;
    const t0 = performance.now();
    while (!ep.trySend(msg)) h.host.poll();
    let spins = 0;
    while (link.replies() < target) {
      h.host.poll();
      const p = pause(++spins);
      if (p) await p;
    }
    lat[i] = performance.now() - t0;
  }
  return lat;
}

/**
 * Copy and send up to `n` messages numbered from `seq` with `trySend`;
 * returns how many went (it stops at the first that finds no free buffer).
 * The per-message loops are small synchronous functions so that V8 optimises
 * them as a whole, not only by on-stack replacement of a long loop.
 */
function sendCopies(ep: RpmsgEndpoint, msg: Uint8Array, seq: number, n: number): number {
  let i = 0;
  for (; i < n; i++) {
    const s = seq + i;
    msg[0] = s;
    msg[1] = s >>> 8;
    msg[2] = s >>> 16;
    msg[3] = s >>> 24;
    if (!ep.trySend(msg)) break;
  }
  return i;
}

/**
 * Take up to `n` TX buffers, write each payload in place (`pattern`, then
 * the sequence number from `seq` in its first 4 bytes) and queue it; returns
 * how many went (it stops when no buffer is free).
 */
function queueInPlace(
  bus: RpmsgDevice,
  ep: RpmsgEndpoint,
  pattern: Uint8Array,
  seq: number,
  n: number,
): number {
  const size = pattern.length;
  let i = 0;
  for (; i < n; i++) {
    const b = bus.getTxBuffer();
    if (b === null) break;
    const d = b.payload;
    d.set(pattern);
    const s = seq + i;
    d[0] = s;
    d[1] = s >>> 8;
    d[2] = s >>> 16;
    d[3] = s >>> 24;
    bus.queueNoCopy(ep, b, size);
  }
  return i;
}

/**
 * Stream `n` messages of `size` bytes (at least 4) one way with the copying
 * `trySend` and wait until the sink has them all; each carries the next
 * sequence number in its first 4 bytes.
 */
export async function stream(link: BenchLink, size: number, n: number): Promise<number> {
  const { ep, h } = link;
  const msg = new Uint8Array(size);
  const t0 = performance.now();
  let sent = 0, spins = 0;
  while (sent < n) {
    const k = sendCopies(ep, msg, link.seq + sent, n - sent);
    sent += k;
    if (k > 0) continue;
    h.host.poll();
    const p = pause(++spins);
    if (p) await p;
  }
  link.seq += n;
  await syncSink(link);
  return performance.now() - t0;
}

/**
 * Stream `n` messages of `size` bytes (at least 4) one way without copying:
 * take a TX buffer, write the payload in place (a set from a prepared array,
 * then the sequence number in its first 4 bytes), queue it; the bus publishes
 * in batches (and the rest with a last `flush`). Waits until the sink has
 * them all.
 */
export async function streamZeroCopy(link: BenchLink, size: number, n: number): Promise<number> {
  const { ep, h } = link;
  const bus = h.host;
  const pattern = new Uint8Array(size).map((_, i) => i * 7 + 1);
  const t0 = performance.now();
  let sent = 0, spins = 0;
  while (sent < n) {
    const k = queueInPlace(bus, ep, pattern, link.seq + sent, n - sent);
    sent += k;
    if (k > 0) continue;
    bus.poll();
    const p = pause(++spins);
    if (p) await p;
  }
  bus.flush();
  link.seq += n;
  await syncSink(link);
  return performance.now() - t0;
}

/** Ask the sink for its counters; throw if it saw a sequence error or a wrong count. */
async function syncSink(link: BenchLink): Promise<void> {
  const { ep, h } = link;
  const sync = new Uint8Array(4);
  new DataView(sync.buffer).setUint32(0, SYNC, true);
  const target = link.replies() + 1;
  while (!ep.trySend(sync)) h.host.poll();
  await spinUntil(h.host, () => link.replies() >= target);
  if (link.lastErrors() !== 0 || link.lastWord() !== (link.seq >>> 0)) {
    throw new Error(
      `sink saw ${link.lastWord()} messages with ${link.lastErrors()} sequence errors; ${link.seq} were sent`,
    );
  }
}

/** Raw ping-pong on two polled words with an `rawpp` peer; returns latencies in ms. */
export async function rawPingPong(
  shm: MemoryRegion,
  n: number,
  first: number,
): Promise<Float64Array> {
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = first + i;
    const t0 = performance.now();
    shm.atomicStoreU32(WORD_TO_DEVICE, v);
    let spins = 0;
    while (shm.atomicLoadU32(WORD_TO_DRIVER) !== v) {
      const p = pause(++spins);
      if (p) await p;
    }
    lat[i] = performance.now() - t0;
  }
  return lat;
}

/** Open a raw ping-pong peer; returns the region and a stop function. */
export async function openRaw(spinUs: number) {
  const name = `amp-bench-raw-${Deno.pid}-${uniq++}`;
  const peer = await spawnPeer([
    "--shm",
    name,
    "--mode",
    "rawpp",
    "--spin-us",
    String(spinUs),
    "--timeout-ms",
    "600000",
  ]);
  const shm = mapShm(name, SHM_SIZE, { create: false });
  return {
    shm,
    async stop() {
      shm.atomicStoreU32(WORD_TO_DEVICE, 0xffff_ffff);
      await peer.status();
      shm.close();
      removeShm(name);
    },
    kill() {
      shm.atomicStoreU32(WORD_TO_DEVICE, 0xffff_ffff);
      removeShm(name);
    },
  };
}

/** Copy `size` bytes `n` times between two places in `shm`; returns ms. */
export function memcpy(shm: MemoryRegion, size: number, n: number): number {
  const src = shm.bytes(0x10000, 0x20000);
  const dst = shm.bytes(0x30000, 0x20000);
  const slots = 0x20000 / 512;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const o = (i % slots) * 512;
    dst.set(src.subarray(o, o + size), o);
  }
  return performance.now() - t0;
}

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function us(ms: number): string {
  return (ms * 1000).toFixed(1);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rt: { type: "string", default: "50000" },
      stream: { type: "string", default: "500000" },
      "spin-us": { type: "string", default: "5000" },
      "stream-warmup": { type: "string", default: "200000" },
    },
  });
  const nRt = Number(values.rt),
    nStream = Number(values.stream),
    spinUs = Number(values["spin-us"]),
    nWarm = Number(values["stream-warmup"]);
  const load = Deno.loadavg();
  console.log(
    `rpmsg between two Deno processes over /dev/shm, polled-word notifier, spin ${spinUs} us; ` +
      `load average ${
        load.map((x) => x.toFixed(2)).join(" ")
      }, ${navigator.hardwareConcurrency} CPUs`,
  );

  const rows: string[][] = [];
  const raw = await openRaw(spinUs);
  await rawPingPong(raw.shm, 2000, 1);
  const rlat = await rawPingPong(raw.shm, nRt, 10_000);
  const rawTotal = rlat.reduce((a, b) => a + b, 0);
  rlat.sort();
  const rawRate = nRt / (rawTotal / 1000);
  rows.push([
    "raw u32 ping-pong",
    "4",
    (rawRate / 1000).toFixed(0) + "k rt/s",
    us(pct(rlat, 0.5)),
    us(pct(rlat, 0.99)),
    "",
  ]);
  await raw.stop();

  const echo = await openLink("echo", spinUs);
  await echoRoundTrips(echo, 16, 20_000);
  for (const size of SIZES) {
    const lat = await echoRoundTrips(echo, size, nRt);
    const total = lat.reduce((a, b) => a + b, 0);
    lat.sort();
    const rate = nRt / (total / 1000);
    rows.push([
      "(b) echo round trip",
      String(size),
      (rate / 1000).toFixed(0) + "k rt/s",
      us(pct(lat, 0.5)),
      us(pct(lat, 0.99)),
      `${(rawRate / rate).toFixed(1)}x raw`,
    ]);
  }
  await echo.stop();

  let sink: BenchLink | undefined;
  for (const [what, run] of [["", stream], [" zero-copy", streamZeroCopy]] as const) {
    // Each path streams to a sink of its own (a fresh peer process): a
    // receiver that served the other path first runs measurably slower.
    await sink?.stop();
    sink = await openLink("sink", spinUs);
    // Unmeasured warm-up of the path before its rows, in both processes:
    // with both cores spinning, V8's optimising compiler threads get little
    // CPU, and the first few hundred thousand messages run on slower code.
    for (let i = 0; i < 2; i++) {
      for (const size of [16, 496]) await run(sink, size, nWarm);
    }
    for (const size of SIZES) {
      const ms = await run(sink, size, nStream);
      const rate = nStream / (ms / 1000);
      rows.push([
        "(c) one-way stream" + what,
        String(size),
        (rate / 1e6).toFixed(2) + "M msg/s",
        "",
        "",
        ((rate * size) / 1e6).toFixed(0) + " MB/s",
      ]);
    }
  }
  if (sink === undefined) throw new Error("no sink");
  const shm = sink.h.shm;
  for (const size of SIZES) {
    const n = 2_000_000;
    memcpy(shm, size, 10_000);
    const ms = memcpy(shm, size, n);
    rows.push([
      "(d) memcpy same bytes",
      String(size),
      (n / (ms / 1000) / 1e6).toFixed(1) + "M copies/s",
      "",
      "",
      ((n * size) / (ms / 1000) / 1e6).toFixed(0) + " MB/s",
    ]);
  }
  await sink.stop();

  const head = ["what", "bytes", "rate", "p50 us", "p99 us", "note"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join("  ");
  console.log(line(head));
  console.log(w.map((n) => "-".repeat(n)).join("  "));
  for (const r of rows) console.log(line(r));
}

if (import.meta.main) {
  await main();
}
