import assert from "node:assert/strict";
import { type Channel, channelPair } from "./channel.ts";
import { decodePing, encodePing, maxPingSize, runMsgTest } from "./echo.ts";
import { encodeMatrices, multiply, randomMatrix, runMatrix } from "./matrix.ts";
import { runSample } from "./sample.ts";
import {
  echoService,
  matrixService,
  sampleService,
  serve,
  serveEcho,
  type Service,
} from "./services.ts";
import { heapRegion } from "../mem/region.ts";
import {
  encodeShmMessage,
  runShmemDemo,
  SHM_CONTROL,
  SHM_RX_AVAIL,
  SHM_RX_BUFFER,
  SHM_TX_AVAIL,
  SHM_TX_BUFFER,
  ShmemResponder,
} from "./shmem.ts";

function corrupting(inner: Service, corruptAt: number): Service {
  let n = 0;
  return {
    ...inner,
    get stopped() {
      return inner.stopped;
    },
    handle(msg) {
      const out = inner.handle(msg);
      if (n++ === corruptAt && out[0] && out[0].length > 0) {
        out[0][out[0].length - 1]! ^= 0xff;
      }
      return out;
    },
  };
}

Deno.test("msg-test sweeps 1..480 on a 64-bit remote and passes against a correct echo", async () => {
  const [host, remote] = channelPair(496);
  const stop = serveEcho(remote);
  const r = await runMsgTest(host, { wordSize: 8 });
  await stop();
  assert.equal(r.sent, 480);
  assert.equal(r.received, 480);
  assert.equal(r.errors, 0);
  assert.ok(r.passed);
});

Deno.test("msg-test counts a corrupted echo as an error", async () => {
  const [host, remote] = channelPair(496);
  const stop = serve(remote, corrupting(echoService(), 17));
  const r = await runMsgTest(host, { wordSize: 4, maxSize: 40 });
  await stop();
  assert.equal(r.errors, 1);
  assert.equal(r.passed, false);
  assert.match(r.failures[0]!, /payload 17/);
});

Deno.test("msg-test reports a missing echo as a timeout error, not an exception", async () => {
  const [host] = channelPair(496);
  const r = await runMsgTest(host, { wordSize: 8, maxSize: 3, timeoutMs: 30 });
  assert.equal(r.errors, 1);
  assert.equal(r.received, 0);
  assert.match(r.failures[0]!, /Timed out/);
});

Deno.test("msg-test takes the channel's synchronous forms when it has them, and waits only when they find nothing", async () => {
  // An echo in memory: what trySend posts, tryRecvInto hands back, but only
  // every other time; the async forms count their calls.
  const inFlight: Uint8Array[] = [];
  let looks = 0, sends = 0, recvs = 0;
  const ch: Channel = {
    maxPayload: 496,
    trySend: (d) => (inFlight.push(d.slice()), true),
    send: () => (sends++, Promise.reject(new Error("send: trySend had room"))),
    tryRecvInto: (into) => {
      if (looks++ % 2 === 0 || inFlight.length === 0) return -1;
      const m = inFlight.shift()!;
      into.set(m);
      return m.length;
    },
    recvInto: (into) => {
      recvs++;
      const m = inFlight.shift()!;
      into.set(m);
      return Promise.resolve(m.length);
    },
    recv: () => Promise.reject(new Error("recv: recvInto is there")),
  };
  const r = await runMsgTest(ch, { wordSize: 8, maxSize: 10 });
  assert.ok(r.passed, r.failures.join("; "));
  assert.equal(r.received, 10);
  assert.equal(sends, 0, "every send went through trySend");
  assert.equal(recvs, 5, "half the echoes needed the wait");
});

Deno.test("msg-test finds a flipped byte anywhere in an echo received in place: in whole words and in the tail", async () => {
  // Echo n has byte flip(n) inverted (or none): message n is 16 + n + 1 bytes.
  const flips = new Map([[3, 0], [7, 13], [11, 27], [12, 28], [20, 36]]);
  let n = 0;
  let pending: Uint8Array | null = null;
  const ch: Channel = {
    maxPayload: 496,
    send: (d) => {
      pending = d.slice();
      const at = flips.get(n++);
      if (at !== undefined) pending[at]! ^= 0x01;
      return Promise.resolve();
    },
    recvInto: (into) => {
      into.set(pending!);
      return Promise.resolve(pending!.length);
    },
    recv: () => Promise.reject(new Error("recvInto is there")),
  };
  const r = await runMsgTest(ch, { wordSize: 8, maxSize: 24 });
  assert.equal(r.errors, flips.size, r.failures.join("; "));
  for (const k of flips.keys()) {
    assert(r.failures.some((f) => f.startsWith(`payload ${k} `)), `${k}`);
  }
});

Deno.test("msg-test rejects sizes that do not fit one buffer", async () => {
  const [host] = channelPair(496);
  await assert.rejects(runMsgTest(host, { wordSize: 8, maxSize: 481 }), RangeError);
});

Deno.test("ping encoding round-trips at both word sizes", () => {
  for (const ws of [4, 8] as const) {
    for (const size of [1, 100, maxPingSize(496, ws)]) {
      const p = encodePing(size - 1, size, ws);
      assert.equal(p.length, 2 * ws + size);
      assert.deepEqual(decodePing(p, ws), { num: size - 1, size });
      assert.ok(p.subarray(2 * ws).every((b) => b === 0xa5));
    }
  }
  assert.equal(decodePing(new Uint8Array(7), 4), null);
});

Deno.test("matrix demo: 200 products checked; a wrong product is caught", async () => {
  const [host, remote] = channelPair(496);
  let stop = serve(remote, matrixService());
  const ok = await runMatrix(host);
  await stop();
  assert.ok(ok.passed);
  assert.equal(ok.received, 200);

  stop = serve(remote, corrupting(matrixService(), 5));
  const bad = await runMatrix(host, { count: 10 });
  await stop();
  assert.equal(bad.errors, 1);
  assert.match(bad.failures[0]!, /iteration 5/);
});

Deno.test("matrix product matches a naive reference", () => {
  const a = randomMatrix(), b = randomMatrix();
  const p = multiply(a, b);
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 6; j++) {
      let s = 0;
      for (let k = 0; k < 6; k++) s += a.elements[i * 6 + k]! * b.elements[k * 6 + j]!;
      assert.equal(p.elements[i * 6 + j], s);
    }
  }
});

Deno.test("sample demo runs twice against the same remote", async () => {
  const [host, remote] = channelPair(496);
  const svc = sampleService();
  const stop = serve(remote, svc);
  for (let run = 0; run < 2; run++) {
    const r = await runSample(host);
    assert.ok(r.passed, `run ${run}`);
    assert.equal(r.received, 100);
    assert.equal(svc.count, 0);
  }
  await stop();
});

Deno.test("sample demo flags an echo that differs", async () => {
  const [host, remote] = channelPair(496);
  const stop = serve(remote, corrupting(sampleService(), 99));
  const r = await runSample(host);
  await stop();
  assert.equal(r.errors, 1);
  assert.match(r.failures[0]!, /message 100/);
});

Deno.test("echo service stops on the shutdown message", () => {
  const s = echoService();
  const m = new Uint8Array(8);
  new DataView(m.buffer).setUint32(0, 0xef56a55a, true);
  assert.deepEqual(s.handle(m), []);
  assert.ok(s.stopped);
  s.reset();
  assert.equal(s.stopped, false);
});

Deno.test("shmem demo passes, and runs again after a restart", async () => {
  const r = heapRegion(0x9000_0000, 0x1000);
  const remote = new ShmemResponder(r, 0x9000_0000);
  const timer = setInterval(() => remote.poll(), 1);
  try {
    const a = await runShmemDemo(r, 0x9000_0000, { count: 3 });
    const b = await runShmemDemo(r, 0x9000_0000, { count: 2 });
    assert.ok(a.passed && b.passed);
    assert.equal(remote.copied, 5);
    assert.equal(r.u32(0x9000_0000 + SHM_CONTROL), 0);
  } finally {
    clearInterval(timer);
  }
});

Deno.test("shmem responder bounds a hostile length to one buffer", () => {
  const mem = heapRegion(0, 0x1000);
  const guard = 0x5a;
  mem.fill(0xc00, 0x400, guard);
  const remote = new ShmemResponder(mem, 0);
  mem.setU32(SHM_CONTROL, 1);
  mem.setU32(SHM_TX_BUFFER + 4, 0xffff_fff0);
  mem.setU32(SHM_TX_AVAIL, 1);
  assert.ok(remote.poll());
  assert.equal(mem.u32(SHM_RX_AVAIL), 1);
  assert.ok(mem.read(0xc00, 0x400).every((b) => b === guard), "wrote past the reply buffer");
  assert.equal(mem.u32(SHM_RX_BUFFER + 4), 0xffff_fff0);
});

Deno.test("shmem responder notices a restart it slept through", () => {
  const mem = heapRegion(0, 0x1000);
  const remote = new ShmemResponder(mem, 0);
  const post = (n: number) => {
    mem.write(SHM_TX_BUFFER, new Uint8Array([n, 0, 0, 0, 1, 0, 0, 0, 0x40 + n]));
    mem.setU32(SHM_TX_AVAIL, n + 1);
  };
  mem.setU32(SHM_CONTROL, 1);
  post(0);
  assert.ok(remote.poll());
  // The host restarts: counters zeroed, START again, one message posted, all
  // before the responder polls again.
  mem.setU32(SHM_CONTROL, 0);
  mem.setU32(SHM_TX_AVAIL, 0);
  mem.setU32(SHM_RX_AVAIL, 0);
  mem.setU32(SHM_CONTROL, 1);
  post(0);
  assert.ok(remote.pending());
  assert.ok(remote.poll());
  assert.equal(mem.u32(SHM_RX_AVAIL), 1);
  assert.equal(remote.copied, 2);
});

Deno.test("shmem demo times out cleanly without a responder", async () => {
  const r = heapRegion(0, 0x1000);
  const res = await runShmemDemo(r, 0, { timeoutMs: 20 });
  assert.equal(res.passed, false);
  assert.match(res.failures[0]!, /Timed out/);
});

Deno.test("channel pair refuses an oversize message", async () => {
  const [a]: Channel[] = channelPair(4);
  await assert.rejects(a!.send(new Uint8Array(5)), RangeError);
});

Deno.test("demo payloads on the wire: ping header at the word size, 296-byte matrix pair, shmem message", () => {
  // msg-test: {unsigned long num; unsigned long size; u8 data[size]}, little-endian.
  assert.deepEqual(
    encodePing(0x0102, 3, 8),
    Uint8Array.of(2, 1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0xa5, 0xa5, 0xa5),
  );
  assert.deepEqual(encodePing(0x0102, 2, 4), Uint8Array.of(2, 1, 0, 0, 2, 0, 0, 0, 0xa5, 0xa5));
  // matrix: two {u32 size; u32 elements[6][6]} back to back.
  const a = randomMatrix(() => 0.35), b = randomMatrix(() => 0.95);
  a.elements[7] = 0x0403; // row 1, column 1
  const m = encodeMatrices([a, b]);
  assert.equal(m.length, 296);
  const dv = new DataView(m.buffer);
  assert.equal(dv.getUint32(0, true), a.size);
  assert.equal(dv.getUint32(4 + 4 * 7, true), 0x0403);
  assert.equal(dv.getUint32(148, true), b.size);
  assert.equal(dv.getUint32(152, true), b.elements[0]);
  assert.equal(encodeMatrices([multiply(a, b)]).length, 148);
  // shmem: {u32 index; u32 len} then the text with its NUL.
  const s = encodeShmMessage(5);
  const text = "Hello World - libmetal shared memory demo";
  assert.equal(s.length, 8 + text.length + 1);
  assert.deepEqual(s.subarray(0, 8), Uint8Array.of(5, 0, 0, 0, text.length + 1, 0, 0, 0));
  assert.equal(new TextDecoder().decode(s.subarray(8)), text + "\0");
  assert.deepEqual([SHM_CONTROL, SHM_TX_AVAIL, SHM_RX_AVAIL, SHM_TX_BUFFER, SHM_RX_BUFFER], [
    0,
    4,
    0xc,
    0x14,
    0x800,
  ]);
});
