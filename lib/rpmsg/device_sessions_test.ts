import assert from "node:assert/strict";
import { heapRegion } from "../mem/region.ts";
import { InProcessNotifier } from "../notify/in_process.ts";
import { SharedVdev } from "../virtio/vdev.ts";
import { createRpmsgDevice } from "./create.ts";
import { serveRpmsgRemote } from "./device_sessions.ts";

const VDEV = 0x14;
const LAYOUT = {
  vring0: { pa: 0x4000, num: 64, align: 0x1000 },
  vring1: { pa: 0x8000, num: 64, align: 0x1000 },
  pool: { base: 0x10000, size: 0x10000 },
};

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

Deno.test("remote session loop: a second host session re-initialises and re-announces", async () => {
  const shm = heapRegion(0, 0x20000);
  shm.setU32(VDEV, 3);
  shm.setU32(VDEV + 4, 7);
  shm.setU32(VDEV + 12, 1); // dfeatures: NS
  const [nh, nr] = InProcessNotifier.pair();
  const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...LAYOUT });
  remote.createEndpoint({ name: "echo", onMessage: (d, _s, ep) => assert.ok(ep.trySend(d)) });
  const events: string[] = [];
  let ended = deferred();
  const ac = new AbortController();
  const served = serveRpmsgRemote(remote, new SharedVdev(shm, VDEV), {
    signal: ac.signal,
    onSessionStart: (n, f) => events.push(`start ${n} features ${f}`),
    onSessionEnd: (n) => {
      events.push(`end ${n}`);
      ended.resolve();
    },
  });
  const hostVdev = new SharedVdev(shm, VDEV);
  const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...LAYOUT });
  const hostLoop = host.run({ signal: ac.signal });
  try {
    const got: number[] = [];
    const ep = host.createEndpoint({ name: "echo", onMessage: (d) => got.push(d[0]!) });
    hostVdev.writeGuestFeatures(hostVdev.deviceFeatures());
    hostVdev.setDriverOk();
    await ep.waitReady({ deadlineMs: 30_000 });
    await ep.send(new Uint8Array([1]));
    for (let i = 0; i < 30_000 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 1));
    assert.deepEqual(got, [1]);

    // the host stops and starts again
    hostVdev.reset();
    await ended.promise;
    ended = deferred();
    host.reset();
    assert.equal(ep.ready, false);
    hostVdev.writeGuestFeatures(1);
    hostVdev.setDriverOk();
    await ep.waitReady({ deadlineMs: 30_000 });
    await ep.send(new Uint8Array([2]));
    for (let i = 0; i < 30_000 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 1));
    assert.deepEqual(got, [1, 2]);
    assert.equal(host.stats.nsCreate, 2); // announced once per session

    // a third session without name service: nothing is announced
    hostVdev.reset();
    await ended.promise;
    host.reset({ features: 0 });
    hostVdev.writeGuestFeatures(0);
    hostVdev.setDriverOk();
    await assert.rejects(
      ep.waitReady({ deadlineMs: 50 }),
      (e) => (e as { code: string }).code === "TIMEOUT",
    );
    assert.deepEqual(events, [
      "start 1 features 1",
      "end 1",
      "start 2 features 1",
      "end 2",
      "start 3 features 0",
    ]);
    assert.equal(remote.nameService, false);
  } finally {
    ac.abort();
    assert.equal(await served, 3);
    await hostLoop;
  }
});

Deno.test("remote session loop: a broken ring waits for the host's reset, then serves again", async () => {
  const shm = heapRegion(0, 0x20000);
  shm.setU32(VDEV, 3);
  shm.setU32(VDEV + 12, 1);
  const [nh, nr] = InProcessNotifier.pair();
  const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...LAYOUT });
  const errors: string[] = [];
  let started = 0, ended = 0;
  const ac = new AbortController();
  const served = serveRpmsgRemote(remote, new SharedVdev(shm, VDEV), {
    signal: ac.signal,
    onError: (e) => errors.push(e.code),
    onSessionStart: () => started++,
    onSessionEnd: () => ended++,
  });
  const hostVdev = new SharedVdev(shm, VDEV);
  createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...LAYOUT });
  hostVdev.setDriverOk();
  for (let i = 0; i < 30_000 && started < 1; i++) await new Promise((r) => setTimeout(r, 1));
  // a hostile host jumps avail.idx of vring1 by more than num
  shm.atomicStoreU16(0x8000 + 16 * 64 + 2, 1000);
  nh.notify(1);
  for (let i = 0; i < 30_000 && errors.length < 1; i++) await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(errors, ["VQ_AVAIL_IDX_JUMP"]);
  hostVdev.reset();
  // the status byte is the only signal: the device must see 0 before DRIVER_OK returns
  for (let i = 0; i < 30_000 && ended < 1; i++) await new Promise((r) => setTimeout(r, 1));
  createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...LAYOUT });
  hostVdev.setDriverOk();
  for (let i = 0; i < 30_000 && started < 2; i++) await new Promise((r) => setTimeout(r, 1));
  assert.equal(started, 2);
  assert.equal(remote.vrings[1].broken, null);
  ac.abort();
  assert.equal(await served, 2);
});

Deno.test("remote session loop: features are the device's own dfeatures & gfeatures, not the table's", async () => {
  const shm = heapRegion(0, 0x20000);
  shm.setU32(VDEV, 3);
  shm.setU32(VDEV + 4, 7);
  shm.setU32(VDEV + 12, 0); // the device offers no name service
  const [nh, nr] = InProcessNotifier.pair();
  const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...LAYOUT });
  const features: number[] = [];
  const ac = new AbortController();
  const served = serveRpmsgRemote(remote, new SharedVdev(shm, VDEV), {
    signal: ac.signal,
    deviceFeatures: 0,
    onSessionStart: (_n, f) => features.push(f),
  });
  // The host rewrites the table claiming the device offered NS and accepts it.
  const hostVdev = new SharedVdev(shm, VDEV);
  createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...LAYOUT });
  shm.setU32(VDEV + 12, 1);
  hostVdev.writeGuestFeatures(1);
  hostVdev.setDriverOk();
  try {
    for (let i = 0; i < 30_000 && features.length < 1; i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.deepEqual(features, [0]);
    assert.equal(remote.nameService, false);
  } finally {
    ac.abort();
    await served;
  }
});
