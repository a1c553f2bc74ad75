import assert from "node:assert/strict";
import { isAmpError } from "../../errors.ts";
import { loadSegments, parseElf, sectionByName, sectionData } from "../../elf/reader.ts";
import { buildElf } from "../../elf/writer.ts";
import { runShmemDemo } from "../../apps/shmem.ts";
import { MemoryMap } from "../../mem/memory_map.ts";
import { ShmWordNotifier } from "../../notify/shm_word.ts";
import { loadElf } from "../../remoteproc/loader.ts";
import { createRpmsgDevice } from "../../rpmsg/create.ts";
import { bootStubImage, mailboxAddress, MB_BOOTS } from "./boot_stub.ts";
import { loadRangeOf, qemuAvailable, QemuRv64 } from "./qemu_rv64.ts";
import {
  DIAG_MAGIC,
  DIAG_MAGIC_VALUE,
  DIAG_PING,
  DIAG_PONG,
  DIAG_STATE,
  FW_BROKEN,
  FW_RUNNING,
  FW_WAIT_DRIVER_OK,
  MiniHost,
  parseNs,
  POOL_PA,
  RSC_PA,
  tagProgram,
  traceText,
  VDEV_GFEATURES,
  VDEV_STATUS,
  VDEV_VRING0_DA,
  VDEV_VRING1_DA,
  VRING0_PA,
  VRING1_PA,
} from "./_testing.ts";
import { waitUntil } from "./_wait.ts";

const FW_DIR = new URL("../../../examples/firmware/rv64-virt/", import.meta.url);
const HAVE_QEMU = qemuAvailable();
const IN_CI = Deno.env.get("CI") === "true";
if (!HAVE_QEMU) {
  console.warn(
    "qemu-system-riscv64 not found: QEMU end-to-end tests are skipped " +
      "(apt-get install qemu-system-misc; with CI=true they fail instead)",
  );
}
const ignore = !HAVE_QEMU && !IN_CI;
/** a1 for the firmware: "AMP" magic, UART mirror on, optional matrix mode. */
const ARG_UART = (0x414d5000n << 32n) | 0x100n;
const ARG_MATRIX = ARG_UART | 1n;
const HOST_ADDR = 0x400;
const enc = new TextEncoder();

function firmware() {
  return parseElf(Deno.readFileSync(new URL("amp-demo.elf", FW_DIR)), { name: "amp-demo.elf" });
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  if (!(await waitUntil(cond, { timeoutMs }))) throw new Error(`timed out: ${what}`);
}

async function bootFirmware(q: QemuRv64, arg = ARG_UART) {
  const img = firmware();
  q.ram.fill(0x9000_0000, 0x100, 0); // diag words
  q.ram.fill(RSC_PA, 0x200, 0);
  const map = new MemoryMap([q.region(0x9020_0000, 0x7f_f000, "90200000.rproc")]);
  loadElf(img, map, { name: "amp-demo.elf" });
  await q.startHart(1, img.entry, loadRangeOf(img), arg);
  await waitFor(
    () =>
      q.ram.u32(DIAG_MAGIC) === DIAG_MAGIC_VALUE &&
      q.ram.u32(DIAG_STATE) === FW_WAIT_DRIVER_OK,
    "firmware waiting for DRIVER_OK",
  );
  return img;
}

function matrixMessage(a: number[][], b: number[][]): Uint8Array {
  const out = new Uint8Array(296);
  const dv = new DataView(out.buffer);
  [a, b].forEach((m, k) => {
    dv.setUint32(k * 148, 6, true);
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 6; j++) dv.setUint32(k * 148 + 4 + 4 * (i * 6 + j), m[i]![j]!, true);
    }
  });
  return out;
}

Deno.test({
  name: "qemu: CI has qemu-system-riscv64 installed",
  ignore: !IN_CI,
  fn() {
    assert.ok(HAVE_QEMU, "CI=true but qemu-system-riscv64 is not in PATH");
  },
});

Deno.test("qemu: loadRangeOf covers the code segments, else every loaded segment", () => {
  const seg = (paddr: number, size: number, flags: number, memsz = size) => ({
    paddr,
    data: new Uint8Array(size),
    memsz,
    flags,
  });
  const code = parseElf(buildElf({
    class: 64,
    segments: [seg(0x9020_0000, 0x100, 5), seg(0x9020_2000, 0x80, 5), seg(0x9020_3000, 8, 6)],
  }));
  assert.deepEqual(loadRangeOf(code), { start: 0x9020_0000, len: 0x2080 });
  const noCode = parseElf(buildElf({
    class: 64,
    segments: [seg(0x9020_1000, 0x10, 6), seg(0x9020_0000, 0, 6, 0x20)],
  }));
  assert.deepEqual(loadRangeOf(noCode), { start: 0x9020_0000, len: 0x1010 });
  assert.deepEqual(
    loadRangeOf(parseElf(buildElf({ class: 64, segments: [seg(0x1000, 0, 5, 0)] }))),
    {
      start: 0,
      len: 0,
    },
  );
  // The committed firmware: only its text segment is re-written.
  const fw = firmware();
  const r = loadRangeOf(fw);
  assert.equal(r.start, fw.entry);
  assert.ok(r.len > 0 && r.len < 0x4000);
});

Deno.test("qemu: the embedded boot stub is the committed boot-stub.bin", () => {
  const committed = Deno.readFileSync(new URL("boot-stub.bin", FW_DIR));
  assert.deepEqual(bootStubImage(), committed);
});

Deno.test("qemu: the firmware's resource table has the seed layout plus a trace entry", () => {
  const img = firmware();
  const sec = sectionByName(img, ".resource_table");
  assert.ok(sec);
  assert.equal(sec.size, 0x100);
  assert.equal(sec.addr % 0x100, 0);
  const t = new DataView(sectionData(img, sec).slice().buffer);
  const u32 = (o: number) => t.getUint32(o, true);
  assert.deepEqual([u32(0), u32(4), u32(8), u32(12)], [1, 2, 0, 0]);
  assert.deepEqual([u32(16), u32(20)], [0x30, 0x74]);
  for (let i = 2; i < 8; i++) assert.equal(u32(16 + 4 * i), 0);
  // vdev: type, id, notifyid, dfeatures, gfeatures, config_len
  assert.deepEqual([0, 4, 8, 12, 16, 20].map((o) => u32(0x30 + o)), [3, 7, 0, 1, 0, 0]);
  assert.deepEqual([0, 1, 2, 3].map((o) => t.getUint8(0x48 + o)), [0, 2, 0, 0]);
  for (const [k, notifyid] of [[0, 1], [1, 2]] as const) {
    const v = 0x4c + 20 * k;
    assert.deepEqual([0, 4, 8, 12, 16].map((o) => u32(v + o)), [
      0xffff_ffff,
      0x1000,
      256,
      notifyid,
      0,
    ]);
  }
  // trace: type 2, da = the .trace section, len 0x1000, name "trace0"
  const trace = sectionByName(img, ".trace");
  assert.ok(trace);
  assert.deepEqual([u32(0x74), u32(0x78), u32(0x7c), u32(0x80)], [2, trace.addr, 0x1000, 0]);
  assert.equal(new TextDecoder().decode(sectionData(img, sec).subarray(0x84, 0x8a)), "trace0");
  assert.equal(img.entry, 0x9020_0000);
  for (const s of loadSegments(img)) {
    assert.ok(s.paddr >= 0x9020_0000 && s.paddr + s.memsz <= 0x9020_0000 + 0x7f_f000);
  }
});

Deno.test({
  name: "qemu: launch parks every hart; bad options and bad starts are refused",
  ignore,
  async fn() {
    await assert.rejects(
      QemuRv64.launch({ smp: 9 }),
      (e) => isAmpError(e) && e.code === "QEMU_BAD_OPTION",
    );
    await assert.rejects(
      QemuRv64.launch({ binary: "/nonexistent/qemu-system-riscv64" }),
      (e) => isAmpError(e) && e.code === "QEMU_NOT_FOUND",
    );
    await assert.rejects(
      QemuRv64.launch({ ramFile: "/dev/shm/a,b" }),
      (e) => isAmpError(e) && e.code === "QEMU_BAD_OPTION" && /ramFile/.test(e.message),
    );
    const existing = await Deno.makeTempFile();
    try {
      await assert.rejects(
        QemuRv64.launch({ ramFile: existing }),
        (e) => isAmpError(e) && e.code === "QEMU_RAM_FILE",
      );
      assert.equal(Deno.statSync(existing).size, 0); // left alone
    } finally {
      await Deno.remove(existing);
    }
    const q = await QemuRv64.launch({ smp: 2 });
    try {
      assert.deepEqual(q.hartStatus(0), { hart: 0, state: "parked", boots: 1 });
      assert.deepEqual(q.hartStatus(1), { hart: 1, state: "parked", boots: 1 });
      assert.equal(q.ram.base, 0x8000_0000);
      assert.equal(q.ram.size, 0x2000_0000 - 0x20_0000);
      assert.throws(() => q.hartStatus(2), (e) => isAmpError(e) && e.code === "QEMU_BAD_HART");
      await assert.rejects(
        q.startHart(1, 0x8000_0000),
        (e) => isAmpError(e) && e.code === "QEMU_BAD_ENTRY",
      );
      await assert.rejects(
        q.startHart(1, 0x9020_0000, { start: 0x9fd0_0000, len: 0x20_0000 }),
        (e) => isAmpError(e) && e.code === "QEMU_BAD_LOAD_RANGE",
      );
      // A running hart cannot be started twice; stop() parks it again.
      q.ram.write(0x9020_0000, tagProgram(0x11111));
      await q.startHart(1, 0x9020_0000, { start: 0x9020_0000, len: 20 });
      await waitFor(() => q.ram.u32(0x9000_0060) === 0x11111000, "tag program ran");
      assert.equal(q.hartStatus(1).state, "running");
      assert.equal(q.hartStatus(0).state, "parked");
      await assert.rejects(
        q.startHart(1, 0x9020_0000),
        (e) => isAmpError(e) && e.code === "QEMU_HART_BUSY",
      );
      await q.stop();
      assert.deepEqual(q.hartStatus(1), { hart: 1, state: "parked", boots: 2 });
      assert.equal(q.ram.u32(mailboxAddress(0) + MB_BOOTS), 2);
    } finally {
      await q.close();
    }
    assert.throws(() => Deno.statSync(q.ramFile), Deno.errors.NotFound);
    await assert.rejects(q.stop(), (e) => isAmpError(e) && e.code === "QEMU_CLOSED");
  },
});

Deno.test({
  name: "qemu: new code at the same address runs after stop (no stale translations)",
  ignore,
  async fn() {
    const q = await QemuRv64.launch();
    try {
      for (const tag of [0x12345, 0x54321, 0x0abcd]) {
        q.ram.write(0x9020_0000, tagProgram(tag));
        await q.startHart(1, 0x9020_0000, { start: 0x9020_0000, len: 20 });
        await waitFor(() => q.ram.u32(0x9000_0060) === tag << 12, `program ${tag.toString(16)}`);
        await q.stop();
      }
      // And the real firmware after the tag programs, then a tag program after it.
      const img = await bootFirmware(q);
      assert.match(traceText(q.ram), /waiting for DRIVER_OK/);
      await q.stop();
      q.ram.write(img.entry, tagProgram(0x77777));
      await q.startHart(1, img.entry, { start: img.entry, len: 20 });
      await waitFor(() => q.ram.u32(0x9000_0060) === 0x77777000, "tag program after firmware");
    } finally {
      await q.close();
    }
  },
});

Deno.test({
  name: "qemu: firmware publishes its table and trace, serves rpmsg, survives a hostile host",
  ignore,
  async fn(t) {
    const q = await QemuRv64.launch();
    try {
      const img = await bootFirmware(q);
      const host = new MiniHost(q.ram);

      await t.step("resource table copy and trace", () => {
        const sec = sectionByName(img, ".resource_table")!;
        assert.deepEqual(q.ram.read(RSC_PA, 0xa4), sectionData(img, sec).subarray(0, 0xa4));
        assert.equal(q.ram.u8(VDEV_STATUS), 0);
        const trace = traceText(q.ram);
        assert.match(trace, /amp demo firmware on hart 1/);
        assert.match(trace, /waiting for DRIVER_OK/);
      });

      const announced = new Map<string, number>();
      await t.step("DRIVER_OK: three endpoints announced from addresses >= 1024", async () => {
        host.start();
        const ns = await host.receiveN(3);
        assert.equal(ns.length, 3);
        for (const m of ns) {
          assert.equal(m.dst, 53);
          assert.equal(m.payload.length, 40);
          const n = parseNs(m.payload);
          assert.equal(n.flags, 0);
          assert.equal(m.src, n.addr);
          assert.ok(n.addr >= 1024);
          announced.set(n.name, n.addr);
        }
        assert.deepEqual([...announced.keys()].sort(), [
          "rpmsg-client-sample",
          "rpmsg-openamp-demo-channel",
          "rpmsg-openamp-matrix",
        ]);
        assert.equal(q.ram.u32(DIAG_STATE), FW_RUNNING);
      });

      await t.step("echo returns every message verbatim, 1..496 bytes", async () => {
        const echo = announced.get("rpmsg-openamp-demo-channel")!;
        for (const size of [1, 17, 100, 495, 496]) {
          const p = new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff);
          host.send(HOST_ADDR, echo, p);
          const [r] = await host.receiveN(1);
          assert.ok(r, `echo of ${size} bytes`);
          assert.equal(r.src, echo);
          assert.equal(r.dst, HOST_ADDR);
          assert.deepEqual(r.payload, p);
        }
      });

      await t.step("matrix multiply", async () => {
        const a = Array.from(
          { length: 6 },
          (_, i) => Array.from({ length: 6 }, (_, j) => (i + 2 * j) % 10),
        );
        const b = Array.from(
          { length: 6 },
          (_, i) => Array.from({ length: 6 }, (_, j) => (3 * i + j) % 10),
        );
        host.send(HOST_ADDR, announced.get("rpmsg-openamp-matrix")!, matrixMessage(a, b));
        const [r] = await host.receiveN(1);
        assert.ok(r);
        assert.equal(r.payload.length, 148);
        const dv = new DataView(r.payload.slice().buffer);
        assert.equal(dv.getUint32(0, true), 6);
        for (let i = 0; i < 6; i++) {
          for (let j = 0; j < 6; j++) {
            let s = 0;
            for (let k = 0; k < 6; k++) s += a[i]![k]! * b[k]![j]!;
            assert.equal(dv.getUint32(4 + 4 * (i * 6 + j), true), s);
          }
        }
      });

      await t.step("rpmsg-client-sample echoes 100 messages, then is done", async () => {
        const addr = announced.get("rpmsg-client-sample")!;
        for (let i = 0; i < 100; i++) {
          const p = enc.encode(i < 99 ? "hello world!" : "goodbye!");
          host.send(HOST_ADDR + 1, addr, p);
          const [r] = await host.receiveN(1);
          assert.ok(r, `sample message ${i}`);
          assert.deepEqual(r.payload, p);
          assert.equal(r.dst, HOST_ADDR + 1);
        }
        host.send(HOST_ADDR + 1, addr, enc.encode("one more"));
        await waitFor(() => /after the 100-message run dropped/.test(traceText(q.ram)), "drop");
        assert.match(traceText(q.ram), /100 messages echoed, done/);
        assert.equal(host.receive().length, 0);
      });

      await t.step("shutdown message: no echo, the endpoint is destroyed", async () => {
        const echo = announced.get("rpmsg-openamp-demo-channel")!;
        const p = new Uint8Array(8);
        new DataView(p.buffer).setUint32(0, 0xef56a55a, true);
        host.send(HOST_ADDR, echo, p);
        const [r] = await host.receiveN(1);
        assert.ok(r);
        assert.equal(r.dst, 53);
        assert.deepEqual(parseNs(r.payload), {
          name: "rpmsg-openamp-demo-channel",
          addr: echo,
          flags: 1,
        });
      });

      await t.step("vdev reset: back to waiting, then re-announced and serving", async () => {
        host.reset();
        await waitFor(() => q.ram.u32(DIAG_STATE) === FW_WAIT_DRIVER_OK, "firmware saw the reset");
        host.start();
        const ns = await host.receiveN(3);
        assert.equal(ns.length, 3);
        const echo = announced.get("rpmsg-openamp-demo-channel")!;
        host.send(HOST_ADDR + 5, echo, enc.encode("again"));
        const [r] = await host.receiveN(1);
        assert.ok(r);
        assert.deepEqual(r.payload, enc.encode("again"));
        assert.equal(r.dst, HOST_ADDR + 5); // host address learned anew after the reset
      });

      await t.step("libmetal shared-memory demo", async () => {
        const res = await runShmemDemo(q.ram, 0x9001_0000, { count: 20, timeoutMs: 5000 });
        assert.equal(res.errors, 0, res.failures.join("; "));
        assert.ok(res.passed);
        assert.equal(res.received, 20);
      });

      await t.step(
        "hostile host: a buffer outside the pool breaks the ring, nothing is written",
        async () => {
          host.reset();
          await waitFor(() => q.ram.u32(DIAG_STATE) === FW_WAIT_DRIVER_OK, "reset seen");
          host.start();
          assert.equal((await host.receiveN(3)).length, 3); // announcements: buffers 0..2
          const victim = 0x9020_0000; // firmware code
          const before = q.ram.read(victim, 64);
          // Descriptor 7 is still posted (slot 7, not yet taken): point it at the code.
          host.corruptRxDesc(7, victim, 512);
          const echo = announced.get("rpmsg-openamp-demo-channel")!;
          // Slots 3..6 carry four echoes; the fifth reply would land in buffer 7.
          for (let i = 0; i < 5; i++) host.send(HOST_ADDR, echo, enc.encode(`m${i}`));
          assert.equal((await host.receiveN(4)).length, 4);
          await waitFor(() => q.ram.u32(DIAG_STATE) === FW_BROKEN, "ring marked broken");
          assert.deepEqual(q.ram.read(victim, 64), before);
          assert.match(traceText(q.ram), /vring0: broken: buffer outside the pool/);
          assert.equal(q.ram.u8(VDEV_STATUS) & 0x40, 0x40); // NEEDS_RESET
          // And a reset brings it back.
          host.reset();
          await waitFor(() => q.ram.u32(DIAG_STATE) === FW_WAIT_DRIVER_OK, "reset after broken");
          host.start();
          assert.equal((await host.receiveN(3)).length, 3);
        },
      );

      await t.step("hostile host: vrings outside the vring window are refused", async () => {
        host.reset();
        await waitFor(() => q.ram.u32(DIAG_STATE) === FW_WAIT_DRIVER_OK, "reset seen");
        host.start(POOL_PA, 0x9016_4000);
        await waitFor(() => q.ram.u32(DIAG_STATE) === FW_BROKEN, "configuration rejected");
        assert.match(traceText(q.ram), /vring0: ring \[0x90120000.*outside the vring window/);
        host.reset();
        await waitFor(() => q.ram.u32(DIAG_STATE) === FW_WAIT_DRIVER_OK, "reset after reject");
      });

      await t.step("polled round trip through the shared RAM file (ping word)", () => {
        const n = 2000;
        const samples: number[] = [];
        let v = q.ram.atomicLoadU32(DIAG_PONG);
        for (let i = 0; i < n; i++) {
          v = (v + 1) >>> 0;
          const t0 = performance.now();
          q.ram.atomicStoreU32(DIAG_PING, v);
          let spins = 0;
          while (q.ram.atomicLoadU32(DIAG_PONG) !== v) {
            if (++spins > 50_000_000) throw new Error(`no pong for ping ${v}`);
          }
          samples.push(performance.now() - t0);
        }
        samples.sort((x, y) => x - y);
        const us = (p: number) => (samples[Math.floor(p * (n - 1))]! * 1000).toFixed(1);
        console.log(
          `ping round trip over ${n}: p50 ${us(0.5)} us, p90 ${us(0.9)} us, p99 ${us(0.99)} us`,
        );
        assert.equal(q.ram.atomicLoadU32(DIAG_PONG), v);
      });
    } finally {
      await q.close();
    }
  },
});

Deno.test({
  name: "qemu: matrix mode serves the matrix on rpmsg-openamp-demo-channel",
  ignore,
  async fn() {
    const q = await QemuRv64.launch();
    try {
      await bootFirmware(q, ARG_MATRIX);
      const host = new MiniHost(q.ram);
      host.start();
      const ns = (await host.receiveN(2)).map((m) => parseNs(m.payload));
      assert.deepEqual(ns.map((n) => n.name).sort(), [
        "rpmsg-client-sample",
        "rpmsg-openamp-demo-channel",
      ]);
      const demo = ns.find((n) => n.name === "rpmsg-openamp-demo-channel")!;
      const id = Array.from(
        { length: 6 },
        (_, i) => Array.from({ length: 6 }, (_, j) => (i === j ? 1 : 0)),
      );
      const m = Array.from(
        { length: 6 },
        (_, i) => Array.from({ length: 6 }, (_, j) => (i * 6 + j) % 10),
      );
      host.send(HOST_ADDR, demo.addr, matrixMessage(m, id));
      const [r] = await host.receiveN(1);
      assert.ok(r);
      const dv = new DataView(r.payload.slice().buffer);
      for (let k = 0; k < 36; k++) {
        assert.equal(dv.getUint32(4 + 4 * k, true), m[Math.floor(k / 6)]![k % 6]);
      }
      assert.match(await q.serialOutput(), /mode: matrix on rpmsg-openamp-demo-channel/);
    } finally {
      await q.close();
    }
  },
});

Deno.test({
  name: "qemu: the project's rpmsg driver (lib/rpmsg) round-trips with the firmware",
  ignore,
  async fn() {
    const q = await QemuRv64.launch();
    try {
      await bootFirmware(q);
      const notifyShm = q.region(0x9000_0000, 0x8_0000, "90000000.shm");
      const shm = q.region(0x9010_0000, 0x8_0000, "90100000.shm");
      shm.fill(VRING0_PA, 0x8000, 0);
      shm.setU32(VDEV_VRING0_DA, VRING0_PA);
      shm.setU32(VDEV_VRING1_DA, VRING1_PA);
      shm.setU32(VDEV_GFEATURES, 1);
      const notifier = new ShmWordNotifier(notifyShm, { notifyPa: 0x9000_0000, mode: "seed" });
      const dev = createRpmsgDevice({
        role: "driver",
        region: shm,
        notifier,
        vring0: { pa: VRING0_PA, num: 256, align: 0x1000 },
        vring1: { pa: VRING1_PA, num: 256, align: 0x1000 },
        pool: { base: POOL_PA, size: 0x4_0000 },
      });
      try {
        new MiniHost(q.ram).setStatus(4); // DRIVER_OK after the rings are initialised
        const got: Uint8Array[] = [];
        const ep = dev.createEndpoint({
          name: "rpmsg-openamp-demo-channel",
          onMessage: (d) => got.push(d.slice()),
        });
        await waitFor(
          () => (dev.poll(), ep.ready),
          "endpoint bound by the firmware's announcement",
        );
        const n = 500;
        const times: number[] = [];
        for (let i = 0; i < n; i++) {
          const p = new Uint8Array(1 + (i % 496)).fill(i & 0xff);
          const t0 = performance.now();
          assert.ok(ep.trySend(p));
          await waitFor(() => (dev.poll(), got.length === i + 1), `echo ${i}`);
          times.push(performance.now() - t0);
          assert.deepEqual(got[i], p);
        }
        times.sort((a, b) => a - b);
        console.log(
          `lib/rpmsg echo round trip over ${n}: p50 ${(times[n >> 1]! * 1000).toFixed(1)} us`,
        );
      } finally {
        dev.close();
        notifier.close();
      }
    } finally {
      await q.close();
    }
  },
});
