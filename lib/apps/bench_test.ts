import assert from "node:assert/strict";
import { type BenchChannel, latencyHistogram, latencyStats, runBench } from "./bench.ts";
import { channelPair } from "./channel.ts";
import { echoService, serve, type Service } from "./services.ts";

/** A bench channel over an in-memory pair (no trySend back-pressure). */
function benchPair(): [BenchChannel, ReturnType<typeof channelPair>[1]] {
  const [a, b] = channelPair(496);
  return [{
    maxPayload: 496,
    queued: 0,
    poll() {},
    trySend: (d) => (void a.send(d), true),
    send: (d) => a.send(d),
    recv: (t) => a.recv(t),
  }, b];
}

Deno.test("bench: stream mode checks every echo and reports msgs/s and MB/s", async () => {
  const [ch, remote] = benchPair();
  const stop = serve(remote, echoService());
  const r = await runBench(ch, { mode: "stream", size: 100, count: 200, window: 8 });
  await stop();
  assert.equal(r.count, 200);
  assert.equal(r.errors, 0);
  assert.equal(r.roundTripsPerS, undefined);
  assert.ok(r.msgsPerS! > 0 && r.mbPerS! >= 0);
  assert.equal(r.histogram.reduce((a, b) => a + b.count, 0), 200);
});

Deno.test("bench: an echo that differs (length or sequence) is counted", async () => {
  const [ch, remote] = benchPair();
  let n = 0;
  const flaky: Service = {
    ...echoService(),
    get stopped() {
      return false;
    },
    handle(msg) {
      n++;
      if (n === 3) return [msg.slice(1)]; // short
      if (n === 5) {
        const c = msg.slice();
        c[0]! ^= 1; // wrong sequence number
        return [c];
      }
      return [msg.slice()];
    },
  };
  const stop = serve(remote, flaky);
  const r = await runBench(ch, { mode: "echo", size: 16, count: 10 });
  await stop();
  assert.equal(r.count, 10);
  assert.equal(r.errors, 2);
});

Deno.test("bench: a size beyond the channel is refused before anything is sent", async () => {
  const [ch] = benchPair();
  await assert.rejects(
    runBench(ch, { mode: "echo", size: 497, count: 1 }),
    (e: Error & { code?: string }) => e.code === "BENCH_BAD_SIZE",
  );
});

Deno.test("bench: a missing echo ends the run with a timeout", async () => {
  const [ch] = benchPair(); // nobody answers
  await assert.rejects(
    runBench(ch, { mode: "echo", size: 8, count: 1, timeoutMs: 20 }),
    (e: Error & { code?: string }) => e.code === "TIMEOUT",
  );
});

Deno.test("bench: statistics and histogram of known samples", () => {
  const ms = Float64Array.from([0.0004, 0.0009, 0.003, 0.003, 0.1, 2]).sort();
  const s = latencyStats(ms);
  assert.deepEqual(s, { min: 0.4, avg: 351.2, p50: 3, p99: 2000, p999: 2000, max: 2000 });
  const h = latencyHistogram(ms);
  assert.deepEqual(h[0], { fromUs: 0, toUs: 0.5, count: 1 });
  assert.deepEqual(h[1], { fromUs: 0.5, toUs: 1, count: 1 });
  assert.deepEqual(h.find((b) => b.fromUs === 2), { fromUs: 2, toUs: 4, count: 2 });
  assert.deepEqual(h.at(-1), { fromUs: 1024, toUs: 2048, count: 1 });
  assert.equal(h.reduce((a, b) => a + b.count, 0), 6);
  assert.deepEqual(latencyHistogram(new Float64Array(0)), []);
});

Deno.test("bench: warm-up round trips are checked, not counted, and end at warmupMs", async () => {
  const [ch, remote] = benchPair();
  const stop = serve(remote, echoService());
  const r = await runBench(ch, { mode: "echo", size: 16, count: 50, warmup: 30 });
  assert.equal(r.warmup, 30);
  assert.equal(r.count, 50);
  assert.equal(r.histogram.reduce((a, b) => a + b.count, 0), 50);
  const capped = await runBench(ch, {
    mode: "echo",
    size: 16,
    count: 5,
    warmup: 10_000_000,
    warmupMs: 30,
  });
  await stop();
  assert.ok(capped.warmup > 0 && capped.warmup < 10_000_000, `warmup ${capped.warmup}`);
  assert.equal(capped.count, 5);
  assert.equal(r.errors + capped.errors, 0);
});

/**
 * A channel whose peer echoes each message when the bench has sent a whole
 * window of `w` (so echoes come back in batches); `corrupt` alters one echo.
 */
function windowEcho(w: number, corrupt = -1) {
  const inbox: Uint8Array[] = [];
  const held: Uint8Array[] = [];
  const calls = { recv: 0, tryRecv: 0, clockReads: 0 };
  let n = 0;
  const release = () => {
    for (const m of held.splice(0)) {
      if (n++ === corrupt) m[0]! ^= 1;
      inbox.push(m);
    }
  };
  const ch: BenchChannel = {
    maxPayload: 496,
    get queued() {
      return inbox.length;
    },
    poll() {},
    trySend: (d) => {
      held.push(d.slice());
      if (held.length === w) release();
      return true;
    },
    send: (d) => Promise.resolve(void inbox.push(d.slice())),
    recv: (_t) => {
      calls.recv++;
      if (inbox.length === 0) release(); // the last, partial window
      return Promise.resolve(inbox.shift()!);
    },
    tryRecv: () => (calls.tryRecv++, inbox.shift() ?? null),
  };
  return { ch, calls };
}

Deno.test("bench: a stream takes the echoes that are there without a wait for each", async () => {
  const { ch, calls } = windowEcho(8);
  const r = await runBench(ch, { mode: "stream", size: 64, count: 100, window: 8 });
  assert.equal(r.count, 100);
  assert.equal(r.errors, 0);
  assert.equal(calls.recv, 13, "one awaited receive per window of 8 (100 = 12 x 8 + 4)");
  assert.equal(r.histogram.reduce((a, b) => a + b.count, 0), 100);
});

Deno.test("bench: a stream does not read the clock per message", async () => {
  const { ch } = windowEcho(16);
  const now = performance.now;
  let reads = 0;
  performance.now = () => (reads++, now.call(performance));
  try {
    const r = await runBench(ch, { mode: "stream", size: 16, count: 320, window: 16 });
    assert.equal(r.count, 320);
  } finally {
    performance.now = now;
  }
  // 20 windows: two reads per burst, one per batch of echoes, a few per run.
  assert(reads < 320, `${reads} clock reads for 320 messages`);
});

Deno.test("bench: an altered echo in a stream taken in batches is counted", async () => {
  const { ch } = windowEcho(16, 37);
  const r = await runBench(ch, { mode: "stream", size: 16, count: 64, window: 16 });
  assert.equal(r.count, 64);
  assert.equal(r.errors, 1);
});
