import assert from "node:assert/strict";
import { echoService, matrixService, sampleService } from "../apps/services.ts";
import { runMatrix, runMsgTest, runSample } from "../apps/mod.ts";
import { runShmemDemo } from "../apps/shmem.ts";
import { simTestSetup } from "../sim/_testing.ts";
import { HostSession } from "./session.ts";
import { READY_RUNNING } from "../link/ready_word.ts";

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
