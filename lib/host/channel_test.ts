import assert from "node:assert/strict";
import { RpmsgChannel } from "./channel.ts";
import { createRpmsgDevice } from "../rpmsg/create.ts";
import { heapRegion } from "../mem/region.ts";
import { InProcessNotifier } from "../notify/in_process.ts";

function pair() {
  const shm = heapRegion(0, 0x10000);
  const [nh, nr] = InProcessNotifier.pair();
  const layout = {
    vring0: { pa: 0, num: 8, align: 0x100 },
    vring1: { pa: 0x1000, num: 8, align: 0x100 },
    pool: { base: 0x4000, size: 0x2000 },
  };
  const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...layout });
  const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...layout });
  remote.createEndpoint({ name: "echo", onMessage: (d, _src, ep) => ep.trySend(d) });
  const ch = new RpmsgChannel(host, "echo");
  remote.poll();
  host.poll();
  assert(ch.endpoint.ready);
  return { host, remote, ch };
}

Deno.test("RpmsgChannel.recvInto copies the next message into the caller's buffer", async () => {
  const { remote, ch } = pair();
  const into = new Uint8Array(ch.maxPayload).fill(0xee);
  await ch.send(new Uint8Array([1, 2, 3]));
  remote.poll();
  assert.equal(await ch.recvInto(into, 1000), 3);
  assert.deepEqual([...into.subarray(0, 4)], [1, 2, 3, 0xee]);
});

Deno.test("RpmsgChannel.recvInto takes queued messages first, in order, then recv goes on", async () => {
  const { host, remote, ch } = pair();
  for (let i = 1; i <= 3; i++) await ch.send(new Uint8Array(i).fill(i));
  remote.poll();
  host.poll(); // all three queued before anyone receives
  assert.equal(ch.queued, 3);
  const into = new Uint8Array(ch.maxPayload);
  assert.equal(await ch.recvInto(into, 1000), 1);
  assert.equal(into[0], 1);
  assert.deepEqual([...(await ch.recv(1000))], [2, 2]);
  assert.equal(await ch.recvInto(into, 1000), 3);
  assert.deepEqual([...into.subarray(0, 3)], [3, 3, 3]);
  assert.equal(ch.queued, 0);
});

Deno.test("RpmsgChannel.recvInto refuses a buffer shorter than the channel's payload", async () => {
  const { ch } = pair();
  await assert.rejects(() => ch.recvInto(new Uint8Array(4), 100), RangeError);
});

Deno.test("RpmsgChannel.recvInto times out, and a later recv is not fooled by it", async () => {
  const { remote, ch } = pair();
  const into = new Uint8Array(ch.maxPayload);
  await assert.rejects(() => ch.recvInto(into, 20), (e: Error) => e.name === "TimeoutError");
  await ch.send(new Uint8Array([9]));
  remote.poll();
  assert.deepEqual([...(await ch.recv(1000))], [9]);
});

Deno.test("RpmsgChannel: a message the bus's spin finds is taken without an async wait", async () => {
  const { host, remote, ch } = pair();
  let waits = 0;
  const wait = host.waitForWork.bind(host);
  host.waitForWork = (o) => (waits++, wait(o));
  const spin = host.spinForWork.bind(host);
  // The remote answers while the host spins (as a peer process would).
  host.spinForWork = (u) => (remote.poll(), spin(u));
  const into = new Uint8Array(ch.maxPayload);
  await ch.send(new Uint8Array([4, 5]));
  assert.equal(await ch.recvInto(into, 1000), 2);
  await ch.send(new Uint8Array([6]));
  assert.deepEqual([...(await ch.recv(1000))], [6]);
  assert.equal(waits, 0, "no waitForWork: both came within the spin");
  // Nothing comes: the spin gives up and the wait takes over (and times out).
  host.spinForWork = spin;
  await assert.rejects(() => ch.recvInto(into, 20), (e: Error) => e.name === "TimeoutError");
  assert(waits > 0);
});
