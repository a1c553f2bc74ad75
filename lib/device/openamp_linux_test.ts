import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { runMatrix } from "../apps/matrix.ts";
import { runMsgTest } from "../apps/echo.ts";
import { runSample } from "../apps/sample.ts";
import { HostSession } from "../host/session.ts";
import { openampLinuxProfile } from "../machine/profiles/openamp_linux.ts";
import { simProfile } from "../machine/profiles/sim.ts";
import { mapShm } from "../mem/shm.ts";
import { finiteSampleService, remoteServices, remoteTable, startLinuxRemote } from "./mod.ts";

/** The table machines.md section 2 gives for upstream's Linux port, built field by field. */
function upstreamTable(): Uint8Array {
  const b = new Uint8Array(0x58);
  const dv = new DataView(b.buffer);
  const u32 = (o: number, v: number) => dv.setUint32(o, v, true);
  u32(0x00, 1); // ver
  u32(0x04, 1); // num
  u32(0x10, 0x14); // offset[0]
  u32(0x14, 3); // vdev
  u32(0x18, 7); // id rpmsg
  u32(0x1c, 0); // notifyid
  u32(0x20, 1); // dfeatures NS
  b[0x2d] = 2; // num_of_vrings
  for (const [at, da, id] of [[0x30, 0x4000, 1], [0x44, 0x8000, 2]] as const) {
    u32(at, da);
    u32(at + 4, 0x1000);
    u32(at + 8, 256);
    u32(at + 12, id);
  }
  return b;
}

function names(tag: string) {
  const dir = Deno.makeTempDirSync({ prefix: "amp-remote-" });
  const shmName = `amp-remote-${tag}-${Deno.pid}.shm`;
  return { dir, shmName, socketPath: `${dir}/event`, shmPath: `/dev/shm/${shmName}` };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("remoteTable: the openamp-linux table is upstream's 88 bytes", () => {
  assert.deepEqual(remoteTable(openampLinuxProfile()), upstreamTable());
  // The layout decides the vring addresses.
  const p = openampLinuxProfile();
  p.layout.vrings[1] = { pa: 0xc000, num: 128, align: 0x1000 };
  const t = new DataView(remoteTable(p).buffer);
  assert.equal(t.getUint32(0x44, true), 0xc000);
  assert.equal(t.getUint32(0x4c, true), 128);
});

Deno.test("remoteServices: naming rule and usage errors", () => {
  const n = (xs: string[]) => remoteServices(xs).map((s) => s.name);
  assert.deepEqual(n(["echo"]), ["rpmsg-openamp-demo-channel"]);
  assert.deepEqual(n(["matrix"]), ["rpmsg-openamp-demo-channel"]);
  assert.deepEqual(n(["sample", "matrix"]), ["rpmsg-client-sample", "rpmsg-openamp-demo-channel"]);
  assert.deepEqual(n(["echo", "sample", "matrix"]), [
    "rpmsg-openamp-demo-channel",
    "rpmsg-client-sample",
    "rpmsg-openamp-matrix",
  ]);
  for (const bad of [[], ["ping"], ["echo", "echo"]]) {
    assert.throws(() => remoteServices(bad), (e) => isAmpError(e) && e.code === "USAGE");
  }
});

Deno.test("finiteSampleService: stops after its count and no longer answers until reset", () => {
  const s = finiteSampleService(3);
  const m = new TextEncoder().encode("hello world!");
  for (let i = 0; i < 3; i++) assert.deepEqual(s.handle(m), [m]);
  assert.equal(s.stopped, true);
  assert.deepEqual(s.handle(m), []);
  s.reset();
  assert.equal(s.stopped, false);
  assert.equal(s.handle(m).length, 1);
});

Deno.test("startLinuxRemote: refuses machines whose remote is not a Linux process", async () => {
  await assert.rejects(
    startLinuxRemote({ profile: simProfile(), services: remoteServices(["echo"]) }),
    (e) => isAmpError(e) && e.code === "REMOTE_MACHINE",
  );
});

Deno.test({
  name:
    "startLinuxRemote: upstream layout, host sessions over the socket, rewrite on disconnect, cleanup",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const n = names("a");
    const profile = openampLinuxProfile({ shmName: n.shmName, socketPath: n.socketPath });
    // Stale bytes where the table goes and in the rings (an earlier run's
    // indices) must not confuse anyone.
    const stale = mapShm(n.shmName, 0x80000);
    stale.fill(0, 0x100, 0xff);
    stale.fill(0x4000, 0x100, 0xee);
    stale.setU16(0x5002, 738); // vring0 avail.idx
    stale.setU16(0x9002, 482); // vring1 avail.idx
    stale.fill(0x30000, 0x10, 0xdd); // a TX buffer (outside the rings)
    stale.close();
    const remote = await startLinuxRemote({
      profile,
      services: remoteServices(["echo", "sample", "matrix"]),
      keepShm: false,
    });
    try {
      assert.ok(Deno.statSync(n.socketPath).isSocket);
      const view = mapShm(n.shmName, 0x80000, { create: false });
      try {
        // Only the 88 table bytes were written, as upstream's device apps do:
        // the stale rings are left for the host to zero before DRIVER_OK, and
        // the remote neither read them nor announced into them meanwhile.
        assert.deepEqual(view.read(0, 0x58), upstreamTable());
        assert.equal(view.u8(0x58), 0xff);
        assert.equal(view.u8(0x4000), 0xee);
        assert.equal(view.u16(0x5002), 738);
        assert.equal(view.u16(0x9002), 482);
        assert.equal(view.u8(0x30000), 0xdd);
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(view.u16(0x5002), 738);
        assert.equal(remote.device.stats.txMessages, 0);

        for (let session = 1; session <= 2; session++) {
          const s = await HostSession.open(profile, { timeoutMs: 20_000 });
          // The host's handshake as upstream's driver leaves it: gfeatures 1, status 4.
          assert.equal(view.u32(0x24), 1);
          assert.equal(view.u8(0x2c), 4);
          const echo = await runMsgTest(await s.channel("rpmsg-openamp-demo-channel"), {
            wordSize: 8,
            minSize: 1,
            maxSize: 480,
            timeoutMs: 20_000,
          });
          assert.equal(echo.errors, 0, echo.failures.join("; "));
          assert.equal(echo.received, 480);
          const sampleCh = await s.channel("rpmsg-client-sample");
          const sample = await runSample(sampleCh, { timeoutMs: 20_000 });
          assert.equal(sample.errors, 0, sample.failures.join("; "));
          // As upstream's sample echo: the remote destroys its endpoint after 100 messages.
          const end = Date.now() + 20_000;
          while (sampleCh.endpoint.ready && Date.now() < end) {
            s.poll();
            await new Promise((r) => setTimeout(r, 2));
          }
          assert.equal(sampleCh.endpoint.ready, false);
          const matrix = await runMatrix(await s.channel("rpmsg-openamp-matrix"), {
            count: 50,
            timeoutMs: 20_000,
          });
          assert.equal(matrix.errors, 0, matrix.failures.join("; "));
          assert.equal(matrix.received, 50);
          await s.close();
          // The host left: the remote writes its table again (gfeatures and status 0).
          const until = Date.now() + 20_000;
          while (remote.sessionsEnded < session && Date.now() < until) {
            await new Promise((r) => setTimeout(r, 5));
          }
          assert.equal(remote.sessionsEnded, session);
          assert.equal(remote.sessions, session);
          assert.deepEqual(view.read(0, 0x58), upstreamTable());
        }
        assert.equal(remote.device.stats.drops.size, 0);
      } finally {
        view.close();
      }
    } finally {
      await remote.stop();
      Deno.removeSync(n.dir, { recursive: true });
    }
    assert.equal(exists(n.socketPath), false);
    assert.equal(exists(n.shmPath), false);
  },
});

Deno.test({
  name: "startLinuxRemote: --sessions style stop after maxSessions host disconnects",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const n = names("b");
    const profile = openampLinuxProfile({ shmName: n.shmName, socketPath: n.socketPath });
    const remote = await startLinuxRemote({
      profile,
      services: remoteServices(["matrix"]),
      maxSessions: 1,
      keepShm: true,
    });
    try {
      const s = await HostSession.open(profile, { timeoutMs: 20_000 });
      const r = await runMatrix(await s.channel("rpmsg-openamp-demo-channel"), {
        count: 20,
        timeoutMs: 20_000,
      });
      assert.equal(r.errors, 0);
      await s.close();
      await remote.done;
      assert.equal(remote.sessionsEnded, 1);
      assert.equal(exists(n.socketPath), false);
      assert.equal(exists(n.shmPath), true); // keepShm
    } finally {
      await remote.stop();
      try {
        Deno.removeSync(n.shmPath);
      } catch { /* already gone */ }
      Deno.removeSync(n.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "HostSession.open before startLinuxRemote: the host waits on the socket, then msg-test passes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const n = names("c");
    const profile = openampLinuxProfile({ shmName: n.shmName, socketPath: n.socketPath });
    assert.equal(exists(n.shmPath), false);
    let remote: Awaited<ReturnType<typeof startLinuxRemote>> | undefined;
    // The host starts first: no shm object and no socket exist yet.
    const opening = HostSession.open(profile, { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    try {
      remote = await startLinuxRemote({ profile, services: remoteServices(["echo"]) });
      const s = await opening;
      try {
        const echo = await runMsgTest(await s.channel("rpmsg-openamp-demo-channel"), {
          wordSize: 8,
          minSize: 1,
          maxSize: 480,
          timeoutMs: 20_000,
        });
        assert.equal(echo.errors, 0, echo.failures.join("; "));
        assert.equal(echo.received, 480);
        assert.equal(remote.sessions, 1);
      } finally {
        await s.close();
      }
    } finally {
      await opening.catch(() => {});
      await remote?.stop();
      Deno.removeSync(n.dir, { recursive: true });
    }
    assert.equal(exists(n.shmPath), false);
  },
});
