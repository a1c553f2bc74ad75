import assert from "node:assert/strict";
import { AmpError, type AmpErrorCode, LoadError, type LoadErrorCode } from "../errors.ts";
import { buildElf } from "../elf/writer.ts";
import { makeFakeUioTree } from "../machine/_fake_uio.ts";
import type { MachineProfile } from "../machine/types.ts";
import { validateProfile } from "../machine/validate.ts";
import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { mapProfileRegions } from "../machine/map.ts";
import { FW_RSC_U32_ADDR_ANY as ANY, VIRTIO_STATUS_DRIVER_OK } from "../rsc/layout.ts";
import {
  buildResourceTable,
  parseResourceTable,
  rpmsgVdev,
  serializeResourceTable,
} from "../rsc/table.ts";
import { RecordingFs } from "./_recording_fs.ts";
import { Rv64SysfsBackend } from "./backends/rv64_sysfs.ts";
import { Lifecycle, TRANSITIONS } from "./lifecycle.ts";
import { Remoteproc } from "./remoteproc.ts";
import type { RemoteprocBackend, RemoteprocState } from "./types.ts";

const RSC_ADDR = 0x9020_8000;

/** The seed firmware's table: 8 offset slots, vdev at 0x30, vrings ANY, in a 0x100 section. */
function seedTable(opts: { num?: number; da?: number; status?: number } = {}): Uint8Array {
  const vr = { da: opts.da ?? ANY, align: 0x1000, num: opts.num ?? 256 };
  const t = buildResourceTable([
    rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] }),
  ], { offsetSlots: 8, size: 0x100 });
  const vdev = t.entries[0];
  if (vdev?.kind === "vdev") vdev.status = opts.status ?? 0;
  return serializeResourceTable(t);
}

function firmware(table: Uint8Array | null = seedTable()): Uint8Array {
  const code = new Uint8Array(0x200).map((_, i) => i & 0xff);
  return buildElf({
    class: 64,
    entry: 0x9020_0000,
    segments: [{ paddr: 0x9020_0000, data: code, memsz: 0x1000 }],
    ...(table ? { resourceTable: { addr: RSC_ADDR, data: table } } : {}),
  });
}

function heapProfile(control: MachineProfile["control"] = { kind: "sim" }): MachineProfile {
  return validateProfile({
    ...RV64_VIRT,
    control,
    regions: RV64_VIRT.regions.map((r) => ({ ...r, backing: { kind: "heap" } })),
  }, "heap");
}

/** A backend that records calls and can be told to fail. */
class FakeBackend implements RemoteprocBackend {
  readonly kind = "fake";
  calls: string[] = [];
  platform = "offline";
  failStart = false;
  closed = 0;
  #profile: MachineProfile;
  constructor(profile: MachineProfile) {
    this.#profile = profile;
  }
  mapMemory(): Promise<MemoryMap> {
    this.calls.push("map");
    return mapProfileRegions(this.#profile);
  }
  start(cpu: number, entry: number): Promise<void> {
    this.calls.push(`start ${cpu} 0x${entry.toString(16)}`);
    if (this.failStart) return Promise.reject(new AmpError("X" as AmpErrorCode, "start failed"));
    this.platform = "running";
    return Promise.resolve();
  }
  stop(cpu: number): Promise<void> {
    this.calls.push(`stop ${cpu}`);
    this.platform = "offline";
    return Promise.resolve();
  }
  state(): Promise<string> {
    return Promise.resolve(this.platform);
  }
  close(): Promise<void> {
    this.closed++;
    this.calls.push("close");
    return Promise.resolve();
  }
}

Deno.test("the lifecycle table allows exactly the documented transitions", () => {
  const legal: Record<RemoteprocState, string[]> = {
    offline: ["load"],
    loaded: ["load", "start"],
    running: ["stop", "crash"],
    stopped: ["load"],
    crashed: ["load", "stop"],
  };
  for (const [state, events] of Object.entries(legal) as [RemoteprocState, string[]][]) {
    for (const ev of ["load", "start", "stop", "crash"] as const) {
      const lc = new Lifecycle("cpu 1", state);
      assert.equal(lc.can(ev), events.includes(ev), `${state} ${ev}`);
      if (!events.includes(ev)) {
        assert.throws(() => lc.apply(ev), (e: unknown) => {
          assert.ok(e instanceof AmpError && e.code === "STATE");
          assert.match(e.message, new RegExp(`^Cannot ${ev} cpu 1: it is ${state}`));
          return true;
        });
        assert.equal(lc.state, state);
      } else {
        assert.equal(lc.apply(ev), TRANSITIONS[state][ev]);
      }
    }
  }
  assert.throws(() => new Lifecycle("cpu 1", "stopped").apply("start"), {
    message:
      "Cannot start cpu 1: it is stopped (load the firmware again first (a run changes its memory))",
  });
});

Deno.test("load assigns vring addresses from the layout and writes the host's table", async () => {
  const profile = heapProfile();
  const backend = new FakeBackend(profile);
  const rp = new Remoteproc(profile, backend);
  const progress: number[] = [];
  const s = await rp.load(firmware(seedTable({ status: VIRTIO_STATUS_DRIVER_OK })), {
    name: "fw.elf",
    onProgress: (done) => progress.push(done),
  });
  assert.equal(rp.state, "loaded");
  assert.equal(s.entry, 0x9020_0000);
  assert.equal(s.bytesCopied, 0x200 + 0x100);
  assert.ok(progress.length > 0 && progress.at(-1) === 0x1000 + 0x100);

  const t = rp.resourceTable!;
  assert.equal(t.pa, 0x9010_0000);
  assert.equal(t.imageAddr, RSC_ADDR);
  assert.equal(t.bytes.length, 0x100);
  assert.deepEqual(t.vdevs, [{
    offset: 0x30,
    id: 7,
    notifyid: 0,
    dfeatures: 1,
    statusPa: 0x9010_0048,
    vrings: [
      { index: 0, pa: 0x9016_0000, num: 256, align: 0x1000, notifyid: 1, assigned: true },
      { index: 1, pa: 0x9016_4000, num: 256, align: 0x1000, notifyid: 2, assigned: true },
    ],
  }]);

  // Shared memory holds the host's copy: vring da words patched, status 0, and
  // gfeatures = NS (marked as a host's copy; the image keeps the firmware's 0).
  const mem = await rp.memory();
  const live = mem.get(0x9010_0000, 0x100).read(0x9010_0000, 0x100);
  const marked = t.bytes.slice();
  marked[0x30 + 16] = 1;
  assert.deepEqual(live, marked);
  assert.deepEqual(mem.get(RSC_ADDR, 0x100).read(RSC_ADDR, 0x100), t.bytes);
  const dv = new DataView(live.buffer);
  assert.equal(dv.getUint32(0x30 + 28, true), 0x9016_0000);
  assert.equal(dv.getUint32(0x30 + 48, true), 0x9016_4000);
  assert.equal(live[0x48], 0);
  const parsed = parseResourceTable(live);
  const v = parsed.entries[0];
  assert.ok(v?.kind === "vdev" && v.vrings[1]?.da === 0x9016_4000 && v.status === 0);
  // Everything else is byte-identical to the firmware's table.
  const orig = seedTable({ status: VIRTIO_STATUS_DRIVER_OK });
  const diff = [...orig.keys()].filter((i) => orig[i] !== live[i]);
  assert.deepEqual(diff, [0x40, 0x48, 0x4c, 0x4d, 0x4e, 0x4f, 0x60, 0x61, 0x62, 0x63]);
  // The code segment was copied.
  assert.equal(mem.get(0x9020_0000).u8(0x9020_01ff), 0xff);

  // The remote overwrites the live table; the host's copy is rewritten on demand.
  mem.get(0x9010_0000).fill(0x9010_0000, 0x100, 0xee);
  await rp.writeResourceTable();
  assert.deepEqual(mem.get(0x9010_0000).read(0x9010_0000, 0x100), marked);
  await rp.close();
});

Deno.test("start/stop drive the backend with the entry; illegal steps are refused", async () => {
  const profile = heapProfile();
  const backend = new FakeBackend(profile);
  const rp = new Remoteproc(profile, backend);
  await assert.rejects(rp.start(), { code: "STATE", message: /load firmware first/ });
  await assert.rejects(rp.stop(), { code: "STATE" });
  await rp.load(firmware(), { name: "fw.elf" });
  backend.failStart = true;
  await assert.rejects(rp.start(), { code: "X" });
  assert.equal(rp.state, "loaded");
  backend.failStart = false;
  await rp.start();
  assert.equal(rp.state, "running");
  await assert.rejects(rp.load(firmware()), { code: "STATE", message: /stop it before loading/ });
  await rp.stop();
  await assert.rejects(rp.start(), { code: "STATE", message: /load the firmware again/ });
  await rp.load(firmware());
  await rp.start();
  assert.deepEqual(backend.calls, [
    "map",
    "start 1 0x90200000",
    "start 1 0x90200000",
    "stop 1",
    "start 1 0x90200000",
  ]);
  // close stops a running core, closes the backend, unmaps memory; twice is harmless.
  const mem = await rp.memory();
  await rp.close();
  await rp.close();
  assert.deepEqual(backend.calls.slice(-2), ["stop 1", "close"]);
  assert.ok(mem.regions.every((r) => r.closed));
  await assert.rejects(rp.load(firmware()), { code: "STATE", message: /has been closed/ });
});

Deno.test("poll records a crash when the platform no longer runs the core", async () => {
  const profile = heapProfile();
  const backend = new FakeBackend(profile);
  const rp = new Remoteproc(profile, backend);
  await rp.load(firmware());
  await rp.start();
  assert.equal(await rp.poll(), "running");
  assert.equal(rp.state, "running");
  backend.platform = "crashed";
  assert.equal(await rp.poll(), "crashed");
  assert.equal(rp.state, "crashed");
  await rp.stop();
  assert.equal(rp.state, "stopped");
  await rp.close();
});

Deno.test("a table that does not fit the layout is refused before memory is touched", async () => {
  const profile = heapProfile();
  const rp = new Remoteproc(profile, new FakeBackend(profile));
  const mem = await rp.memory();
  // num 512 needs 0x4006 bytes; the layout slot (num 256) has 0x2806.
  await assert.rejects(rp.load(firmware(seedTable({ num: 512 })), { name: "big.elf" }), (e) => {
    assert.ok(e instanceof LoadError && e.code === "LOAD_VRING_SLOT");
    assert.equal(
      e.message,
      'Cannot load firmware "big.elf": vdev entry 0 vring 0 (num 512, align 0x1000) needs 0x4006 bytes; machine "rv64-virt" reserves 0x2806 at 0x90160000 (num 256, align 0x1000)',
    );
    return true;
  });
  assert.equal(mem.get(0x9020_0000).u8(0x9020_0001), 0, "image untouched");
  assert.equal(rp.state, "offline");

  // A fixed vring address outside mapped memory.
  await assert.rejects(rp.load(firmware(seedTable({ da: 0x1000 }))), {
    code: "LOAD_VRING_OUTSIDE",
  });
  // A table bigger than the space reserved for it.
  const small = validateProfile({
    ...profile,
    layout: { ...profile.layout, rscTable: { pa: 0x9010_0000, size: 0x80 } },
  }, "small");
  const rp2 = new Remoteproc(small, new FakeBackend(small));
  await assert.rejects(rp2.load(firmware(), { name: "fw.elf" }), {
    code: "LOAD_RSC_TOO_BIG",
    message:
      'Cannot load firmware "fw.elf": its resource table is 0x100 bytes, more than the 0x80 machine "rv64-virt" reserves at 0x90100000',
  });
  await rp.close();
  await rp2.close();
});

Deno.test("firmware without a resource table loads; unreadable files are LoadErrors", async () => {
  const profile = heapProfile();
  const rp = new Remoteproc(profile, new FakeBackend(profile));
  await rp.load(firmware(null));
  assert.equal(rp.resourceTable, undefined);
  await assert.rejects(rp.load("/nonexistent/fw.elf"), {
    code: "LOAD_READ",
    message: /^Cannot load firmware "\/nonexistent\/fw\.elf": /,
  });
  await assert.rejects(rp.load(new Uint8Array(10)), { name: "ElfError" });
  await rp.close();
});

Deno.test("a backend that loads firmware itself gets the bytes; amp copies nothing", async () => {
  const profile = heapProfile();
  const got: string[] = [];
  const backend = new FakeBackend(profile) as FakeBackend & RemoteprocBackend;
  backend.loadFirmware = (cpu, fw) => {
    got.push(`${cpu} ${fw.name} ${fw.bytes.length}`);
    return Promise.resolve();
  };
  const rp = new Remoteproc(profile, backend);
  const fw = firmware();
  const s = await rp.load(fw, { name: "fw.elf" });
  assert.deepEqual(got, [`1 fw.elf ${fw.length}`]);
  assert.equal(s.bytesCopied, 0);
  assert.ok(!backend.calls.includes("map"));
  await rp.start();
  assert.deepEqual(backend.calls, ["start 1 0x90200000"]);
  await rp.close();
});

Deno.test("end to end on rv64-virt: fake UIO memory and a fake openamp sysfs", async () => {
  const tree = await makeFakeUioTree(RV64_VIRT);
  const fs = new RecordingFs({
    [`${tree.sysfsRoot}/firmware/openamp/hartid`]: "",
    [`${tree.sysfsRoot}/firmware/openamp/paddr`]: "",
    [`${tree.sysfsRoot}/firmware/openamp/state`]: "offline",
  });
  try {
    const rp = new Remoteproc(
      RV64_VIRT,
      new Rv64SysfsBackend(RV64_VIRT, { sysfsRoot: tree.sysfsRoot, devRoot: tree.devRoot, fs }),
    );
    assert.ok(rp.backend instanceof Rv64SysfsBackend);
    const dir = await Deno.makeTempDir();
    await Deno.writeFile(`${dir}/fw.elf`, firmware());
    await rp.load(`${dir}/fw.elf`);
    assert.equal(rp.firmware, `${dir}/fw.elf`);
    await rp.start();
    assert.deepEqual(fs.writes().map(([p, v]) => [p.slice(tree.sysfsRoot.length), v]), [
      ["/devices/system/cpu/cpu1/online", "0"],
      ["/firmware/openamp/hartid", "1"],
      ["/firmware/openamp/paddr", "0x90200000"],
      ["/firmware/openamp/state", "start"],
    ]);
    // The live table reached the file behind /dev/uioN of 90100000.shm.
    const shmFile = await Deno.readFile(`${tree.devRoot}/${tree.uio["90100000.shm"]}`);
    const marked = rp.resourceTable!.bytes.slice();
    marked[0x30 + 16] = 1; // gfeatures: a host's copy
    assert.deepEqual(shmFile.subarray(0, 0x100), marked);
    await rp.close();
    assert.deepEqual(fs.writes().at(-1)?.[1], "stop");
    await Deno.remove(dir, { recursive: true });
  } finally {
    await tree.remove();
  }
});

Deno.test("a load that fails while writing leaves the core offline, not loaded", async () => {
  const profile = heapProfile();
  const rp = new Remoteproc(profile, new FakeBackend(profile));
  await rp.load(firmware(), { name: "a.elf" });
  assert.equal(rp.state, "loaded");
  // Chunked progress lets the test fail the copy part-way.
  let calls = 0;
  await assert.rejects(
    rp.load(firmware(), {
      name: "b.elf",
      onProgress: () => {
        if (++calls === 1) throw new LoadError("TEST_ABORT" as LoadErrorCode, "aborted");
      },
    }),
    { code: "TEST_ABORT" },
  );
  assert.equal(rp.state, "offline");
  assert.equal(rp.firmware, undefined);
  assert.equal(rp.resourceTable, undefined);
  await assert.rejects(rp.start(), { code: "STATE", message: /load firmware first/ });
  await rp.close();
});
