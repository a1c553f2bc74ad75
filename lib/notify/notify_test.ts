import assert from "node:assert/strict";
import { heapRegion } from "../mem/region.ts";
import { isAmpError } from "../errors.ts";
import { InProcessNotifier, ShmWordNotifier, UnixSocketNotifier } from "./mod.ts";
import { KICK_BYTE } from "./unix_socket.ts";
import { closeFd, recvWithFds, unixConnect } from "../sys/posix.ts";

Deno.test("in-process: a kick before wait is not lost, kicks coalesce, deadline gives false", async () => {
  const [a, b] = InProcessNotifier.pair();
  assert.equal(b.pending(), false);
  assert.equal(await b.wait({ deadlineMs: 0 }), false);
  a.notify(1);
  a.notify(2);
  assert.equal(b.pending(), true);
  assert.equal(a.pending(), false);
  assert.equal(await b.wait({ deadlineMs: 1000 }), true);
  assert.equal(await b.wait({ deadlineMs: 5 }), false);
  assert.equal(a.kicksSent, 2);
  a.close();
  b.close();
});

Deno.test("in-process: a sleeping wait wakes on a later kick; abort and until end it", async () => {
  const [a, b] = InProcessNotifier.pair();
  setTimeout(() => a.notify(0), 20);
  assert.equal(await b.wait({ deadlineMs: 30_000 }), true);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 10);
  assert.equal(await b.wait({ deadlineMs: 30_000, signal: ac.signal }), false);
  let flag = false;
  setTimeout(() => (flag = true), 10);
  assert.equal(await b.wait({ deadlineMs: 30_000, until: () => flag }), true);
  b.close();
  a.notify(0);
  assert.equal(b.pending(), false);
  assert.equal(await b.wait({ deadlineMs: 1000 }), false);
});

Deno.test("shm word (counter): one word per direction, change detection, left-over value is no kick", async () => {
  const shm = heapRegion(0x9000_0000, 16);
  shm.setU32(0x9000_0000, 41); // left over from an earlier session
  const host = new ShmWordNotifier(shm, { notifyPa: 0x9000_0000, watchPa: 0x9000_0004 });
  const remote = new ShmWordNotifier(shm, { notifyPa: 0x9000_0004, watchPa: 0x9000_0000 });
  assert.equal(remote.pending(), false);
  host.notify(1);
  assert.equal(shm.u32(0x9000_0000), 42);
  assert.equal(remote.pending(), true);
  assert.equal(host.pending(), false);
  assert.equal(await remote.wait({ deadlineMs: 1000 }), true);
  assert.equal(remote.pending(), false);
  assert.equal(await remote.wait({ deadlineMs: 3 }), false);
  setTimeout(() => remote.notify(2), 15);
  assert.equal(await host.wait({ deadlineMs: 30_000 }), true);
  assert.equal(shm.u32(0x9000_0004), 1);
  // counter wraps at 32 bits
  shm.setU32(0x9000_0008, 0xffff_ffff);
  const w = new ShmWordNotifier(shm, { notifyPa: 0x9000_0008, watchPa: 0x9000_000c });
  w.notify(0);
  assert.equal(shm.u32(0x9000_0008), 0);
});

Deno.test("shm word (seed): kick writes 1, always pending, waiter relies on until", async () => {
  const shm = heapRegion(0x9000_0000, 8);
  const a = new ShmWordNotifier(shm, { notifyPa: 0x9000_0000, mode: "seed" });
  const b = new ShmWordNotifier(shm, { notifyPa: 0x9000_0000, mode: "seed" });
  a.notify(0);
  a.notify(0);
  assert.equal(shm.u32(0x9000_0000), 1);
  assert.equal(b.pending(), true);
  assert.equal(await b.wait({ deadlineMs: 3 }), false);
  let work = false;
  setTimeout(() => (work = true), 5);
  assert.equal(await b.wait({ deadlineMs: 30_000, until: () => work }), true);
  b.close();
  assert.equal(b.pending(), false);
});

Deno.test("shm word: a word outside the region or misaligned is a ConfigError", () => {
  const shm = heapRegion(0x9000_0000, 8);
  for (const pa of [0x9000_0008, 0x9000_0002, 0x8fff_fffc]) {
    assert.throws(() => new ShmWordNotifier(shm, { notifyPa: pa }), (e) => {
      assert.ok(isAmpError(e));
      assert.equal(e.code, "NOTIFY_BAD_WORD");
      return true;
    });
  }
});

Deno.test("unix socket: kicks both ways, bytes coalesce, host reconnects for a second session", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/amp.event.0`;
  const device = UnixSocketNotifier.listen(path);
  try {
    const driver = await UnixSocketNotifier.connect(path, { retryMs: 5000 });
    await device.waitConnected({ deadlineMs: 30_000 });
    for (let i = 0; i < 5; i++) driver.notify(1);
    assert.equal(await device.wait({ deadlineMs: 30_000 }), true);
    // All five bytes arrive eventually; they may be read in one go.
    for (let i = 0; i < 1000 && device.bytesReceived < 5; i++) {
      await device.wait({ deadlineMs: 20 });
    }
    assert.equal(device.bytesReceived, 5);
    assert.equal(await device.wait({ deadlineMs: 5 }), false);
    device.notify(2);
    assert.equal(await driver.wait({ deadlineMs: 30_000 }), true);
    driver.close();
    // second session
    const driver2 = await UnixSocketNotifier.connect(path, { retryMs: 5000 });
    const end = Date.now() + 30_000;
    while (device.connections < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    assert.equal(device.connections, 2);
    driver2.notify(1);
    assert.equal(await device.wait({ deadlineMs: 30_000 }), true);
    device.notify(1);
    assert.equal(await driver2.wait({ deadlineMs: 30_000 }), true);
    driver2.close();
  } finally {
    device.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unix socket: connecting to nothing times out with TimeoutError; a kick with no peer waits for one", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    await assert.rejects(
      UnixSocketNotifier.connect(`${dir}/none`, { retryMs: 50, retryIntervalMs: 10 }),
      (e) => isAmpError(e) && e.code === "TIMEOUT",
    );
    const device = UnixSocketNotifier.listen(`${dir}/s`);
    device.notify(1);
    device.notify(1);
    await assert.rejects(
      device.waitConnected({ deadlineMs: 10 }),
      (e) => isAmpError(e) && e.code === "TIMEOUT",
    );
    // The peer that connects later gets the kicks made before it came, coalesced to one byte.
    const driver = await UnixSocketNotifier.connect(`${dir}/s`, { retryMs: 5000 });
    assert.equal(await driver.wait({ deadlineMs: 30_000 }), true);
    const end = Date.now() + 30_000;
    while (driver.bytesReceived < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    assert.equal(driver.bytesReceived, 1);
    assert.equal(device.kicksDropped, 0);
    driver.close();
    device.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unix socket: back-to-back kicks go out at once, not one per event-loop turn", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/amp.event.0`;
  const device = UnixSocketNotifier.listen(path);
  const fd = unixConnect(path); // a peer that reads without the event loop
  try {
    await device.waitConnected({ deadlineMs: 30_000 });
    const buf = new Uint8Array(8);
    // Deno sends the first write of an accepted connection at a later turn.
    device.notify(0);
    let first: number | undefined;
    for (let i = 0; i < 3000 && first === undefined; i++) {
      await new Promise((r) => setTimeout(r, 1));
      first = recvWithFds(fd, buf, 0, "peer")?.n;
    }
    assert.equal(first, 1);
    // A spinning wait takes no event-loop turn between the messages it
    // answers: from then on every kick must be on the wire before notify returns.
    for (let i = 0; i < 3; i++) device.notify(0);
    assert.equal(recvWithFds(fd, buf, 0, "peer")?.n, 3);
    assert.deepEqual([...buf.subarray(0, 3)], [KICK_BYTE, KICK_BYTE, KICK_BYTE]);
    await new Promise((r) => setTimeout(r, 10)); // the writes' completions
    assert.equal(device.kicksDropped, 0);
  } finally {
    closeFd(fd);
    device.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
