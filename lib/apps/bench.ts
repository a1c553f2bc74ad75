/**
 * rpmsg performance against a running remote, as `amp rpmsg bench` measures
 * it: echo round trips (one message out, its echo back, timed one by one)
 * and a stream (a window of messages in flight, each echo checked), with
 * latency statistics, a log-scale histogram, and the raw limit of two cores
 * exchanging one polled word, measured in the same run.
 *
 * @module
 */

import { AmpError, TimeoutError } from "../errors.ts";
import { yieldThread, yieldTurn } from "../util/wait.ts";

/** Latency summary in µs. */
export interface LatencyUs {
  /** Fastest sample. */
  min: number;
  /** Mean. */
  avg: number;
  /** Median. */
  p50: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p999: number;
  /** Slowest sample. */
  max: number;
}

/** One bucket of a latency histogram: samples in `[fromUs, toUs)`. */
export interface HistogramBucket {
  /** Lower bound, µs (inclusive). */
  fromUs: number;
  /** Upper bound, µs (exclusive). */
  toUs: number;
  /** Samples in the bucket. */
  count: number;
}

/**
 * A growable list of latency samples in ms, preallocated so that recording
 * one does not allocate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Samples } from "./bench.ts";
 * const s = new Samples(2);
 * for (const v of [0.003, 0.001, 0.002]) s.push(v);
 * assert.equal(s.length, 3);
 * assert.deepEqual([...s.sorted()], [0.001, 0.002, 0.003]);
 * ```
 */
export class Samples {
  #a: Float64Array;
  #n = 0;

  /** Room for `capacity` samples before the first growth. */
  constructor(capacity = 1 << 14) {
    this.#a = new Float64Array(Math.max(1, capacity));
  }

  /** Samples recorded. */
  get length(): number {
    return this.#n;
  }

  /** Record one sample (ms). */
  push(ms: number): void {
    if (this.#n === this.#a.length) {
      const b = new Float64Array(this.#a.length * 2);
      b.set(this.#a);
      this.#a = b;
    }
    this.#a[this.#n++] = ms;
  }

  /** The samples, sorted ascending (a copy). */
  sorted(): Float64Array {
    return this.#a.slice(0, this.#n).sort();
  }
}

function pick(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/**
 * min/avg/p50/p99/p99.9/max in µs of samples in ms, sorted ascending; all
 * zero for no samples.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latencyStats } from "./bench.ts";
 * const s = latencyStats(Float64Array.from([0.001, 0.002, 0.003, 0.010]));
 * assert.equal(s.min, 1);
 * assert.equal(s.max, 10);
 * assert.equal(s.p50, 3);
 * assert.equal(s.avg, 4);
 * ```
 */
export function latencyStats(sorted: Float64Array): LatencyUs {
  if (sorted.length === 0) return { min: 0, avg: 0, p50: 0, p99: 0, p999: 0, max: 0 };
  let sum = 0;
  for (const v of sorted) sum += v;
  const us = (ms: number) => Math.round(ms * 1e4) / 10;
  return {
    min: us(sorted[0]!),
    avg: us(sum / sorted.length),
    p50: us(pick(sorted, 0.5)),
    p99: us(pick(sorted, 0.99)),
    p999: us(pick(sorted, 0.999)),
    max: us(sorted[sorted.length - 1]!),
  };
}

/**
 * Log-scale histogram (buckets 0-0.5, 0.5-1, 1-2, 2-4 ... µs: powers of two)
 * of samples in ms, from the first to the last non-empty bucket. Labels of
 * {@linkcode formatHistogram} write 1024 µs as `1Ki`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latencyHistogram } from "./bench.ts";
 * const h = latencyHistogram(Float64Array.from([0.0015, 0.0016, 0.005]));
 * assert.deepEqual(h.map((b) => [b.fromUs, b.count]), [[1, 2], [2, 0], [4, 1]]);
 * ```
 */
export function latencyHistogram(samples: Float64Array): HistogramBucket[] {
  const counts = new Map<number, number>();
  let lo = Infinity, hi = -Infinity;
  for (const ms of samples) {
    const us = ms * 1000;
    const k = us < 0.5 ? -2 : Math.floor(Math.log2(us));
    counts.set(k, (counts.get(k) ?? 0) + 1);
    if (k < lo) lo = k;
    if (k > hi) hi = k;
  }
  const out: HistogramBucket[] = [];
  for (let k = lo; k <= hi; k++) {
    out.push({
      fromUs: k <= -2 ? 0 : 2 ** k,
      toUs: k <= -2 ? 0.5 : 2 ** (k + 1),
      count: counts.get(k) ?? 0,
    });
  }
  return out;
}

function usLabel(v: number): string {
  return v >= 1024 ? `${Math.round(v / 1024)}Ki` : String(v);
}

/**
 * The histogram as text lines: range, a bar scaled to the largest bucket,
 * the count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHistogram } from "./bench.ts";
 * const lines = formatHistogram([{ fromUs: 1, toUs: 2, count: 10 }, { fromUs: 2, toUs: 4, count: 5 }], 10);
 * assert.equal(lines.length, 2);
 * assert.match(lines[0]!, /1-2 µs \|#{10} 10$/);
 * assert.match(lines[1]!, /\|#{5} +5$/);
 * ```
 */
export function formatHistogram(buckets: readonly HistogramBucket[], width = 40): string[] {
  const most = Math.max(1, ...buckets.map((b) => b.count));
  const labels = buckets.map((b) => `${usLabel(b.fromUs)}-${usLabel(b.toUs)} µs`);
  const lw = Math.max(0, ...labels.map((l) => l.length));
  return buckets.map((b, i) => {
    const n = b.count === 0 ? 0 : Math.max(1, Math.round((b.count / most) * width));
    return `  ${labels[i]!.padStart(lw)} |${"#".repeat(n).padEnd(width)} ${b.count}`;
  });
}

/** What a bench runs over: an rpmsg endpoint's channel, or an in-memory pair in tests. */
export interface BenchChannel {
  /** Largest payload of one message. */
  readonly maxPayload: number;
  /** Messages received and not read yet. */
  readonly queued: number;
  /** Post one message now if a buffer is free; false when none is. */
  trySend(data: Uint8Array): boolean;
  /** Send one message, waiting for a buffer. */
  send(data: Uint8Array): Promise<void>;
  /** The next message, waiting up to `timeoutMs`. */
  recv(timeoutMs: number): Promise<Uint8Array>;
  /** Process what the peer posted (non-blocking). */
  poll(): void;
  /** Optional: the next received message if one is queued now, else null (no wait). */
  tryRecv?(): Uint8Array | null;
  /** Optional: the next message copied into `into` (its length), allocating nothing. */
  recvInto?(into: Uint8Array, timeoutMs: number): Promise<number>;
}

/** Options of {@linkcode runBench}. */
export interface BenchOptions {
  /** `"echo"`: one round trip at a time; `"stream"`: a window in flight. */
  mode: "echo" | "stream";
  /** Payload bytes. */
  size: number;
  /** Messages to exchange (ignored when `durationMs` is given). */
  count?: number;
  /** Run this long instead of a count, ms. */
  durationMs?: number;
  /** Messages in flight in stream mode (default 32). */
  window?: number;
  /** Longest wait for one echo, ms (default 5000). */
  timeoutMs?: number;
  /**
   * Echo round trips before the measured ones, not counted (default 0): a
   * fresh process runs its first tens of thousands of messages while V8 is
   * still compiling the path, with millisecond stalls.
   */
  warmup?: number;
  /** The warm-up ends after this long even if `warmup` round trips are not done, ms (default: no limit). */
  warmupMs?: number;
  /** Called now and then (about 4 times a second) with the fraction done, 0..1. */
  onProgress?: (fraction: number) => void;
}

/** The result of one size of a bench. */
export interface BenchResult {
  /** Payload bytes. */
  size: number;
  /** Echo or stream. */
  mode: "echo" | "stream";
  /** Messages sent and echoed. */
  count: number;
  /** Wall time, ms. */
  ms: number;
  /** Echo: round trips per second. */
  roundTripsPerS?: number;
  /** Stream: messages per second (one way). */
  msgsPerS?: number;
  /** Stream: payload MB/s (one way, 10^6 bytes). */
  mbPerS?: number;
  /**
   * Echo: round-trip latency; stream: send-to-echo latency (send times
   * interpolated across each burst that fills the window, echo times read
   * once per batch of echoes taken together).
   */
  latencyUs: LatencyUs;
  /** Log-scale latency histogram. */
  histogram: HistogramBucket[];
  /** Echoes that did not match what was sent (warm-up included). */
  errors: number;
  /** Warm-up round trips done before the measured ones (fewer than asked when `warmupMs` ended it). */
  warmup: number;
}

/** Sequence numbers stay below the echo service's shutdown word. */
const SEQ_MASK = 0x3fff_ffff;

function stamp(msg: Uint8Array, dv: DataView, seq: number): void {
  if (msg.length >= 4) dv.setUint32(0, seq & SEQ_MASK, true);
  else if (msg.length > 0) msg[0] = seq & 0xff;
}

function matches(echo: Uint8Array, len: number, size: number, seq: number): boolean {
  if (len !== size) return false;
  if (size >= 4) {
    const s = (echo[0]! | echo[1]! << 8 | echo[2]! << 16 | echo[3]! << 24) >>> 0;
    return s === (seq & SEQ_MASK);
  }
  return size === 0 || echo[0] === (seq & 0xff);
}

/**
 * Measure echo round trips or a stream of `size`-byte messages against an
 * echoing peer. Every echo is checked (length and sequence number); a
 * mismatch is counted in `errors`, a missing echo throws TimeoutError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelPair } from "./channel.ts";
 * import { serveEcho } from "./services.ts";
 * import { runBench } from "./bench.ts";
 * const [a, b] = channelPair(496);
 * const stop = serveEcho(b);
 * const ch = { maxPayload: 496, queued: 0, poll() {},
 *   trySend: (d: Uint8Array) => (void a.send(d), true), send: (d: Uint8Array) => a.send(d),
 *   recv: (t: number) => a.recv(t) };
 * const r = await runBench(ch, { mode: "echo", size: 16, count: 50 });
 * await stop();
 * assert.equal(r.count, 50);
 * assert.equal(r.errors, 0);
 * assert(r.roundTripsPerS! > 0 && r.latencyUs.max >= r.latencyUs.min);
 * ```
 */
export async function runBench(ch: BenchChannel, options: BenchOptions): Promise<BenchResult> {
  const { mode, size } = options;
  if (!(Number.isInteger(size) && size >= 0 && size <= ch.maxPayload)) {
    throw new AmpError(
      "BENCH_BAD_SIZE",
      `Cannot bench ${size}-byte messages: the channel carries 0..${ch.maxPayload} bytes`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  const durationMs = options.durationMs;
  const count = durationMs === undefined ? (options.count ?? 10_000) : Infinity;
  const window = mode === "echo" ? 1 : Math.max(1, options.window ?? 32);
  const samples = new Samples(Number.isFinite(count) ? count : 1 << 16);
  const msg = new Uint8Array(size).fill(0x5a);
  const dv = new DataView(msg.buffer);
  const sentAt = new Float64Array(window);
  // Echo mode receives into one buffer when the channel can (nothing
  // allocated per round trip); `rxLen` is the length of what `next` got.
  const rx = mode === "echo" && ch.recvInto ? new Uint8Array(ch.maxPayload) : null;
  let rxLen = 0;
  const next = async (): Promise<Uint8Array> => {
    if (rx !== null) {
      rxLen = await ch.recvInto!(rx, timeoutMs);
      return rx;
    }
    const m = await ch.recv(timeoutMs);
    rxLen = m.length;
    return m;
  };
  let errors = 0;
  const warmupEnd = performance.now() + (options.warmupMs ?? Infinity);
  let warmup = 0;
  for (const n = Math.max(0, Math.floor(options.warmup ?? 0)); warmup < n; warmup++) {
    if (performance.now() >= warmupEnd) break;
    stamp(msg, dv, warmup);
    await ch.send(msg);
    if (!matches(await next(), rxLen, size, warmup)) errors++;
  }
  let sent = 0, got = 0;
  const t0 = performance.now();
  const stopAt = durationMs === undefined ? Infinity : t0 + durationMs;
  let nextProgress = t0 + 250;
  let stopSending = false;
  const progress = (now: number) => {
    if (options.onProgress === undefined || now < nextProgress) return;
    nextProgress = now + 250;
    options.onProgress(
      durationMs === undefined ? got / count : Math.min(1, (now - t0) / durationMs),
    );
  };
  // The clock is read twice per burst that fills the window and once per
  // batch of echoes taken together, not per message. Each message of a
  // stream is published as it is sent (trySend): with echoes coming back
  // while the window fills, that pipelines better than publishing the
  // window at once (measured with `amp rpmsg bench --mode stream`).
  while (got < sent || !stopSending) {
    // Fill the window.
    if (mode === "echo") {
      if (!stopSending) {
        stamp(msg, dv, sent);
        sentAt[0] = performance.now();
        await ch.send(msg);
        if (++sent >= count) stopSending = true;
      }
    } else {
      const first = sent;
      const tFirst = performance.now();
      while (!stopSending && sent - got < window) {
        stamp(msg, dv, sent);
        if (ch.trySend(msg)) {
          // sent
        } else if (sent === got) {
          await ch.send(msg); // the window is empty: wait for a buffer
        } else break;
        if (++sent >= count) stopSending = true;
      }
      // Send times: spread evenly over the burst.
      const n = sent - first;
      const step = n > 1 ? (performance.now() - tFirst) / n : 0;
      for (let k = 0; k < n; k++) sentAt[(first + k) % window] = tFirst + k * step;
    }
    if (got === sent) break;
    // Take every echo that is there, waiting for the first.
    let echo: Uint8Array | null = await next();
    const now = performance.now();
    do {
      samples.push(now - sentAt[got % window]!);
      if (!matches(echo, rxLen, size, got)) errors++;
      got++;
      if (got >= sent) break;
      echo = ch.tryRecv !== undefined
        ? ch.tryRecv()
        : ch.queued > 0
        ? await ch.recv(timeoutMs)
        : null;
      rxLen = echo?.length ?? 0;
    } while (echo !== null);
    if (now >= stopAt) stopSending = true;
    progress(now);
  }
  const ms = performance.now() - t0;
  const sorted = samples.sorted();
  const perS = got / (ms / 1000);
  const base = {
    size,
    mode,
    count: got,
    ms: Math.round(ms * 10) / 10,
  };
  return {
    ...base,
    ...(mode === "echo"
      ? { roundTripsPerS: Math.round(perS) }
      : { msgsPerS: Math.round(perS), mbPerS: Math.round((perS * size) / 1e4) / 100 }),
    latencyUs: latencyStats(sorted),
    histogram: latencyHistogram(sorted),
    errors,
    warmup,
  };
}

/** The raw limit of a polled link: round trips of one shared word between two threads. */
export interface RawLimit {
  /** What was measured. */
  what: string;
  /** Round trips done. */
  count: number;
  /** Round trips per second. */
  roundTripsPerS: number;
  /** Round-trip latency. */
  latencyUs: LatencyUs;
}

/** The peer thread of {@linkcode rawPingPong}: answers each value in word 0 by writing it to word 1. */
const RAW_PEER = `
self.onmessage = (e) => {
  const w = new Int32Array(e.data);
  let last = 0, spins = 0;
  postMessage("ready");
  for (;;) {
    const v = Atomics.load(w, 0);
    if (v !== last) {
      last = v;
      spins = 0;
      if (v === -1) break;
      Atomics.store(w, 1, v);
      continue;
    }
    if (++spins > 200000) Atomics.wait(w, 0, last, 1);
  }
  close();
};
`;

/** Timed bursts of {@linkcode rawPingPong}; the fastest is reported. */
export const LIMIT_BURSTS = 4;

/** One side of a polled ping-pong, for {@linkcode pingPongBursts}. */
export interface PingPongLink {
  /** What the result measured (its `what`). */
  what: string;
  /** What a round trip that times out was waiting for (the TimeoutError's text). */
  waiting: string;
  /** Send the next ping. */
  post(): void;
  /** True once the answer to the last ping is there (cheap; called while spinning). */
  pong(): boolean;
}

/**
 * Time up to `n` round trips of `link` for at most `maxMs`: `warmup`
 * unmeasured ones, then {@linkcode LIMIT_BURSTS} bursts of which the fastest
 * is the result (a burst that a scheduling stall of a shared machine hit
 * says nothing of the link). Each round trip polls as amp's waits do (spin,
 * then `sched_yield`, then an event-loop turn) and allocates nothing;
 * TimeoutError when one takes longer than `timeoutMs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pingPongBursts } from "./bench.ts";
 * let sent = 0, seen = 0;
 * const link = { what: "self", waiting: "myself", post: () => void (seen = ++sent), pong: () => seen === sent };
 * const r = await pingPongBursts(link, { n: 100, maxMs: 1000, warmup: 10, timeoutMs: 1000 });
 * assert(r.count === 25 && r.what === "self");
 * ```
 */
export async function pingPongBursts(
  link: PingPongLink,
  options: { n: number; maxMs: number; warmup: number; timeoutMs: number },
): Promise<RawLimit> {
  const { n, maxMs, warmup, timeoutMs } = options;
  const { post, pong } = link;
  // Spin (then sched_yield) until the pong; false when an event-loop turn is due.
  const answered = (a: number): boolean => {
    let spins = 0;
    while (!pong()) {
      if ((++spins & 0xff) !== 0) continue;
      if ((spins & 0x3fff) !== 0 && yieldThread()) continue;
      if (performance.now() - a > timeoutMs) throw new TimeoutError(link.waiting, timeoutMs);
      return false;
    }
    return true;
  };
  const stopAt = performance.now() + maxMs;
  for (let i = warmup; i > 0 && performance.now() < stopAt; i--) {
    const a = performance.now();
    post();
    while (!answered(a)) await yieldTurn();
  }
  const per = Math.max(1, Math.ceil(n / LIMIT_BURSTS));
  let best: { count: number; ms: number; samples: Samples } | undefined;
  for (let b = 0; b < LIMIT_BURSTS && (best === undefined || performance.now() < stopAt); b++) {
    const samples = new Samples(per);
    const tb = performance.now();
    let done = 0;
    for (; done < per; done++) {
      const a = performance.now();
      if (a > stopAt && done > 0) break;
      post();
      while (!answered(a)) await yieldTurn();
      samples.push(performance.now() - a);
    }
    const ms = performance.now() - tb;
    if (best === undefined || done / ms > best.count / best.ms) best = { count: done, ms, samples };
  }
  const { count, ms, samples } = best!;
  return {
    what: link.what,
    count,
    roundTripsPerS: Math.round(count / (ms / 1000)),
    latencyUs: latencyStats(samples.sorted()),
  };
}

/**
 * The raw limit of two cores talking through memory: up to `n` round trips
 * of one 32-bit word between this thread and a worker thread that spins on
 * it, for at most `maxMs` (a loaded machine gets fewer round trips, not a
 * longer run), the host side polling as amp's waits do (spin, then
 * `sched_yield`, then an event-loop turn). What no protocol over the same
 * shared memory can beat: after an unmeasured warm-up, the fastest of
 * {@linkcode LIMIT_BURSTS} bursts of `n / LIMIT_BURSTS` round trips. TimeoutError when one round trip takes longer
 * than `timeoutMs` (the thread does not answer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rawPingPong } from "./bench.ts";
 * const r = await rawPingPong(200);
 * assert(r.count > 0 && r.count <= 200);
 * assert(r.roundTripsPerS > 0 && r.latencyUs.min <= r.latencyUs.max);
 * ```
 */
export async function rawPingPong(
  n: number,
  options: { maxMs?: number; timeoutMs?: number } = {},
): Promise<RawLimit> {
  const maxMs = options.maxMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const sab = new SharedArrayBuffer(8);
  const w = new Int32Array(sab);
  const url = URL.createObjectURL(new Blob([RAW_PEER], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    const ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new AmpError("BENCH_WORKER", `The raw ping-pong thread failed: ${e.message}`));
      };
    });
    worker.postMessage(sab);
    await ready;
    let seq = 0;
    return await pingPongBursts({
      what: "raw polled u32 ping-pong between two threads",
      waiting: "waiting for the raw ping-pong thread",
      post: () => Atomics.store(w, 0, ++seq),
      pong: () => Atomics.load(w, 1) === seq,
    }, { n, maxMs, warmup: Math.min(2000, n), timeoutMs });
  } finally {
    Atomics.store(w, 0, -1);
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}
