/**
 * rpmsg between two Deno processes over a /dev/shm object (the FFI mmap
 * backend): this process is the host (driver), the child runs
 * tests/_rpmsg_peer.ts as the remote (device). Both notifiers are exercised:
 * polled words in the shared memory and one byte over a UNIX socket.
 * Deadlines are generous and nothing asserts on timing (loaded 2-core machine).
 */
import assert from "node:assert/strict";
import { removeShm } from "../lib/mem/shm.ts";
import { RPMSG_NS_ADDR } from "../lib/rpmsg/mod.ts";
import { SERVICE, SHUTDOWN, spawnPeer, startHost } from "./_rpmsg_peer.ts";

const NOTIFIERS = ["shm", "socket"] as const;

function shutdownMsg(): Uint8Array {
  const m = new Uint8Array(4);
  new DataView(m.buffer).setUint32(0, SHUTDOWN, true);
  return m;
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
}

for (const notify of NOTIFIERS) {
  Deno.test(`two processes, ${notify} notifier: echo of sequence-numbered messages`, async () => {
    const name = `amp-rpmsg-echo-${Deno.pid}-${notify}`;
    const dir = Deno.makeTempDirSync();
    const sock = `${dir}/openamp.event.0`;
    const peer = await spawnPeer(["--shm", name, "--notify", notify, "--sock", sock]);
    const h = await startHost(name, notify, sock);
    const ac = new AbortController();
    const loop = h.host.run({ signal: ac.signal });
    try {
      const N = notify === "shm" ? 20_000 : 5_000;
      let next = 0, bad = 0;
      const ep = h.host.createEndpoint({
        name: SERVICE,
        onMessage: (d) => {
          const seq = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0, true);
          if (seq !== next || d.length !== 4 + (seq % 493)) bad++;
          for (let k = 4; k < d.length; k++) if (d[k] !== ((seq + k) & 0xff)) bad++;
          next = seq + 1;
        },
      });
      await ep.waitReady({ deadlineMs: 60_000 });
      assert.notEqual(ep.dst, RPMSG_NS_ADDR);
      const msg = new Uint8Array(496);
      const dv = new DataView(msg.buffer);
      for (let i = 0; i < N; i++) {
        const len = 4 + (i % 493);
        dv.setUint32(0, i, true);
        for (let k = 4; k < len; k++) msg[k] = (i + k) & 0xff;
        await ep.send(msg.subarray(0, len), { deadlineMs: 60_000 });
      }
      await until(() => next >= N, 120_000);
      assert.equal(bad, 0);
      assert.equal(next, N);
      assert.equal(ep.stats.rxMessages, N);
      assert.equal(h.host.stats.drops.size, 0);
      await ep.send(shutdownMsg(), { deadlineMs: 60_000 });
      assert.equal(await peer.status(), 0);
      const report = JSON.parse(peer.output().trim().split("\n").pop()!);
      assert.equal(report.count, N);
      assert.deepEqual(report.stats.drops, []);
    } finally {
      ac.abort();
      await loop;
      h.close();
      try {
        peer.child.kill();
      } catch { /* already exited */ }
      await peer.status();
      removeShm(name);
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test("two processes, shm notifier: one-way stream checked in order by the remote", async () => {
  const name = `amp-rpmsg-sink-${Deno.pid}`;
  const peer = await spawnPeer(["--shm", name, "--notify", "shm", "--mode", "sink"]);
  const h = await startHost(name, "shm", "");
  const ac = new AbortController();
  const loop = h.host.run({ signal: ac.signal });
  try {
    let reply: number[] | null = null;
    const ep = h.host.createEndpoint({
      name: SERVICE,
      onMessage: (d) => {
        const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
        reply = [dv.getUint32(0, true), dv.getUint32(4, true)];
      },
    });
    await ep.waitReady({ deadlineMs: 60_000 });
    const N = 50_000;
    const msg = new Uint8Array(64);
    const dv = new DataView(msg.buffer);
    for (let i = 0; i < N; i++) {
      dv.setUint32(0, i, true);
      await ep.send(msg.subarray(0, 16), { deadlineMs: 60_000 });
    }
    await ep.send(shutdownMsg(), { deadlineMs: 60_000 });
    await until(() => reply !== null, 120_000);
    assert.deepEqual(reply, [N, 0]); // all N arrived, none out of order
    assert.equal(await peer.status(), 0);
  } finally {
    ac.abort();
    await loop;
    h.close();
    try {
      peer.child.kill();
    } catch { /* already exited */ }
    await peer.status();
    removeShm(name);
  }
});
