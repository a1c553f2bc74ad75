import assert from "node:assert/strict";
import { echoService, matrixService, sampleService } from "../apps/services.ts";
import { runMatrix, runMsgTest, runSample } from "../apps/mod.ts";
import { runShmemDemo } from "../apps/shmem.ts";
import { simTestSetup, TEST_RSC_ADDR } from "../sim/_testing.ts";
import { HostSession } from "./session.ts";
import { READY_IDLE, READY_RUNNING, READY_WAITING, ReadyWord } from "../link/ready_word.ts";

const services = () => [echoService(), sampleService(), matrixService()];

Deno.test("host session: every demo against the in-process sim remote, twice", async () => {
  await using t = await simTestSetup({ services: services() });
  for (let round = 1; round <= 2; round++) {
    const s = await HostSession.open(t.profile, { memory: t.memory, timeoutMs: 10_000 });
    const echo = await s.channel("rpmsg-openamp-demo-channel");
    const r1 = await runMsgTest(echo, { wordSize: 8, timeoutMs: 10_000 });
    assert.equal(r1.errors, 0, r1.failures.join("\n"));
    assert.equal(r1.received, 480);
    const sample = await s.channel("rpmsg-client-sample");
    const r2 = await runSample(sample, { timeoutMs: 10_000 });
    assert.ok(r2.passed, r2.failures.join("\n"));
    const matrix = await s.channel("rpmsg-openamp-matrix");
    const r3 = await runMatrix(matrix, { count: 20, timeoutMs: 10_000 });
    assert.ok(r3.passed, r3.failures.join("\n"));
    assert.equal(t.sim!.sessions, round);
    assert.equal(t.memory.get(0x9000_2008).u32(0x9000_2008), READY_RUNNING);
    await s.close();
  }
  const r4 = await runShmemDemo(t.memory.get(0x9001_0000, 0xc00), 0x9001_0000, {
    count: 3,
    timeoutMs: 10_000,
  });
  assert.ok(r4.passed, r4.failures.join("\n"));
  // A second run restarts the counters; the remote must notice and answer again.
  const r5 = await runShmemDemo(t.memory.get(0x9001_0000, 0xc00), 0x9001_0000, {
    count: 2,
    timeoutMs: 10_000,
  });
  assert.ok(r5.passed, r5.failures.join("\n"));
  assert.equal(t.sim!.shmemCopied, 5);
});

Deno.test("host session: an unknown service times out naming what was announced", async () => {
  await using t = await simTestSetup({ services: [echoService()] });
  const s = await HostSession.open(t.profile, { memory: t.memory, timeoutMs: 10_000 });
  await assert.rejects(
    s.channel("no-such-service", { timeoutMs: 300 }),
    (e: Error & { code?: string }) =>
      e.code === "TIMEOUT" && /"rpmsg-openamp-demo-channel"/.test(e.message),
  );
  await s.close();
});

Deno.test("host session: the echo shutdown message destroys the endpoint until the next session", async () => {
  await using t = await simTestSetup({ services: [echoService()] });
  const s = await HostSession.open(t.profile, { memory: t.memory, timeoutMs: 10_000 });
  const ch = await s.channel("rpmsg-openamp-demo-channel");
  await ch.send(Uint8Array.of(0x5a, 0xa5, 0x56, 0xef));
  await assert.rejects(ch.recv(300), (e: Error & { code?: string }) => e.code === "TIMEOUT");
  await s.close();
  const s2 = await HostSession.open(t.profile, { memory: t.memory, timeoutMs: 10_000 });
  const ch2 = await s2.channel("rpmsg-openamp-demo-channel");
  await ch2.send(Uint8Array.of(1));
  assert.deepEqual(await ch2.recv(10_000), Uint8Array.of(1));
  await s2.close();
});

Deno.test("host session: a table without an rpmsg vdev is refused", async () => {
  await using t = await simTestSetup({ services: [], start: false });
  // The remote never published a table: the layout address holds zeros.
  await assert.rejects(
    HostSession.open(t.profile, { memory: t.memory, timeoutMs: 300 }),
    (e: Error & { code?: string }) => e.code === "RSC_BAD_VERSION",
  );
});

Deno.test("host session: the live table gets the vring addresses, gfeatures = accepted features, status exactly 4", async () => {
  await using t = await simTestSetup({ services: [echoService()] });
  const s = await HostSession.open(t.profile, { memory: t.memory, timeoutMs: 10_000 });
  const pa = t.profile.layout.rscTable.pa;
  assert.equal(pa, 0x9010_0000);
  const live = t.memory.get(pa, 0x100);
  const v = pa + s.vdev.offset;
  assert.equal(s.vdev.offset, 0x30); // the seed layout: 8 offset slots
  assert.equal(live.u32(v), 3); // vdev
  assert.equal(live.u32(v + 12), 1); // dfeatures: NS
  assert.equal(live.u32(v + 16), 1); // gfeatures: the features the host accepts
  assert.equal(live.u8(v + 24), 4); // DRIVER_OK and nothing else, as OpenAMP's driver writes
  assert.equal(v + 24, 0x9010_0048);
  // vring da ANY in the firmware: the host's addresses are written back.
  assert.equal(live.u32(v + 28), 0x9016_0000);
  assert.equal(live.u32(v + 48), 0x9016_4000);
  const ch = await s.channel("rpmsg-openamp-demo-channel");
  await ch.send(Uint8Array.of(7));
  assert.deepEqual(await ch.recv(10_000), Uint8Array.of(7));
  await s.close();
  assert.equal(live.u8(v + 24), 0); // closing resets the vdev
});

Deno.test("host session: remoteReset names a vdev reset made by the remote during the session", async () => {
  const { SharedVdev } = await import("../virtio/vdev.ts");
  await using t = await simTestSetup({ services: [echoService()] });
  const s = await HostSession.open(t.profile, { memory: t.memory, timeoutMs: 10_000 });
  const ch = await s.channel("rpmsg-openamp-demo-channel");
  await ch.send(Uint8Array.of(7));
  assert.deepEqual(await ch.recv(10_000), Uint8Array.of(7));
  assert.equal(s.remoteReset(), undefined);
  // The remote clears the status, as a restarted or reloaded remote does.
  const { pa, size } = t.profile.layout.rscTable;
  const region = t.memory.get(pa, size);
  new SharedVdev(region, pa + region.u32(pa + 16)).reset();
  assert.match(s.remoteReset() ?? "", /^reset its vdev during the session \(status 0x0/);
  await s.close();
  assert.equal(s.remoteReset(), undefined);
});

Deno.test("host session: an application that ends on the reset is started again (or the remote is idle)", async () => {
  await using t = await simTestSetup({ services: [], start: false });
  const pa = t.profile.layout.rscTable.pa;
  const live = t.memory.get(pa, 0x100);
  const image = t.memory.get(TEST_RSC_ADDR, 0x100).read(TEST_RSC_ADDR, 0x100);
  const word = ReadyWord.find(t.memory, t.profile.demos?.readyWord)!;
  const status = pa + 0x30 + 24;
  // The state a session left: the application's table, DRIVER_OK, "running".
  const running = () => {
    live.write(pa, image);
    live.setU8(status, 4);
    word.publish(READY_RUNNING);
  };
  // The firmware: a vdev reset ends its application (the word goes idle).
  let sawReset = 0;
  const fw = setInterval(() => {
    if (word.read() === READY_RUNNING && live.u8(status) === 0) {
      sawReset++;
      word.publish(READY_IDLE);
    }
  }, 1);
  try {
    running();
    await assert.rejects(
      HostSession.open(t.profile, { memory: t.memory, timeoutMs: 5000 }),
      (e: Error & { code?: string }) =>
        e.code === "REMOTE_IDLE" && /ended on the vdev reset/.test(e.message),
    );
    assert.equal(sawReset, 1);
    running();
    let started = 0;
    const lines: string[] = [];
    const s = await HostSession.open(t.profile, {
      memory: t.memory,
      timeoutMs: 5000,
      log: (l) => lines.push(l),
      starter: {
        what: "a test command",
        explicit: false,
        start() {
          started++;
          live.write(pa, image); // the application publishes its table again
          word.publish(READY_WAITING);
          return Promise.resolve();
        },
      },
    });
    assert.equal(started, 1);
    assert.equal(sawReset, 2);
    assert(lines.includes("the remote's application ended on the vdev reset"), lines.join("\n"));
    assert.equal(live.u8(status), 4); // DRIVER_OK on the new application's table
    await s.close();
  } finally {
    clearInterval(fw);
  }
});

Deno.test("host session: tryRecv takes what is queued without waiting, null when nothing is", async () => {
  await using t = await simTestSetup({ services: [echoService()] });
  const s = await HostSession.open(t.profile, { memory: t.memory, timeoutMs: 10_000 });
  const ch = await s.channel("rpmsg-openamp-demo-channel");
  assert.equal(ch.tryRecv(), null);
  for (let i = 1; i <= 3; i++) assert(ch.endpoint.trySend(Uint8Array.of(i, 0, 0, 0)));
  const got = [(await ch.recv(5000))[0]];
  for (let k = 0; got.length < 3 && k < 1000; k++) {
    const m = ch.tryRecv();
    if (m !== null) got.push(m[0]);
    else await new Promise((r) => setTimeout(r, 1));
  }
  assert.deepEqual(got, [1, 2, 3]);
  assert.equal(ch.tryRecv(), null);
  await s.close();
});
