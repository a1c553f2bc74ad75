import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { mapFile } from "../mem/mmap.ts";
import { validateProfile } from "../machine/validate.ts";
import { QEMU_RV64, qemuRv64Profile } from "../machine/profiles/qemu_rv64.ts";
import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
import { qemuAvailable } from "./qemu.ts";
import { processesMapping, qemuMachineOf, QemuRv64Backend } from "./backend.ts";
import { tagProgram } from "./_testing.ts";
import { waitUntil } from "../util/wait.ts";

const IN_CI = Deno.env.get("CI") === "true";

function codeOf(f: () => unknown): string {
  try {
    f();
    return "none";
  } catch (e) {
    assert.ok(isAmpError(e), String(e));
    return `${e.code}: ${e.message}`;
  }
}

Deno.test("qemu-rv64 profile: rv64-virt addresses, one RAM file at pa - 0x80000000", () => {
  const p = validateProfile(JSON.parse(JSON.stringify(QEMU_RV64)), "copy");
  assert.deepEqual(
    p.regions.map((r) => [r.name, r.pa, r.size, r.roles]),
    RV64_VIRT.regions.map((r) => [r.name, r.pa, r.size, r.roles]),
  );
  assert.deepEqual(p.layout, RV64_VIRT.layout);
  assert.deepEqual(p.notify, RV64_VIRT.notify);
  for (const r of p.regions) {
    assert.deepEqual(r.backing, {
      kind: "file",
      path: "/dev/shm/amp-qemu-rv64",
      offset: r.pa - 0x8000_0000,
    });
  }
  assert.deepEqual(qemuMachineOf(p), {
    ramFile: "/dev/shm/amp-qemu-rv64",
    ramSize: 0x2000_0000,
    smp: 2,
    boot: "sbi",
  });
  assert.equal(qemuMachineOf(qemuRv64Profile({ name: "x", binary: "/opt/q" })).binary, "/opt/q");
  const direct = qemuMachineOf(qemuRv64Profile({ name: "x", boot: "direct" }));
  assert.equal(direct.boot, "direct");
  assert.equal(
    qemuMachineOf(qemuRv64Profile({ name: "x", bios: "/opt/fw.bin" })).bios,
    "/opt/fw.bin",
  );
});

Deno.test("qemuMachineOf refuses profiles QEMU cannot back", () => {
  const base = () => structuredClone(qemuRv64Profile({ name: "t" }));
  assert.match(
    codeOf(() => qemuMachineOf(RV64_VIRT)),
    /^QEMU_PROFILE: .*control kind is "rv64-sysfs"/,
  );
  let p = base();
  p.regions[1]!.backing = { kind: "file", path: "/dev/shm/other", offset: 0x1010_0000 };
  assert.match(codeOf(() => qemuMachineOf(p)), /region 90100000.shm maps \/dev\/shm\/other/);
  p = base();
  p.regions[2]!.backing = { kind: "file", path: "/dev/shm/t", offset: 0x200000 };
  assert.match(codeOf(() => qemuMachineOf(p)), /file offset 0x200000, not 0x10200000/);
  p = base();
  p.regions[0]!.backing = { kind: "shm", name: "t" };
  assert.match(codeOf(() => qemuMachineOf(p)), /backed by "shm"/);
  p = base();
  if (p.control.kind === "qemu-rv64") p.control.ramSize = 0x1000_0000; // ends at 0x90000000
  assert.match(codeOf(() => qemuMachineOf(p)), /not inside usable RAM/);
  p = base();
  p.regions[0]!.pa = 0x8030_0000; // over the SBI agent's mailbox
  p.regions[0]!.backing = { kind: "file", path: "/dev/shm/t", offset: 0x30_0000 };
  assert.match(
    codeOf(() => qemuMachineOf(p)),
    /not inside usable RAM \[0x80401000, 0x9fe00000\) of boot "sbi"/,
  );
  if (p.control.kind === "qemu-rv64") p.control.boot = "direct"; // only the stub below 0x80001200
  assert.equal(codeOf(() => qemuMachineOf(p)), "none");
  p = base();
  if (p.control.kind === "qemu-rv64") p.control.ramBase = 0x4000_0000;
  assert.match(codeOf(() => qemuMachineOf(p)), /ramBase 0x40000000/);
  assert.throws(() => new QemuRv64Backend(p), (e) => isAmpError(e) && e.code === "QEMU_PROFILE");
});

Deno.test("processesMapping sees this process mapping a file", () => {
  const path = `/dev/shm/amp-pm-test-${Deno.pid}`;
  const r = mapFile(path, { base: 0, size: 4096, create: true });
  try {
    assert.ok(processesMapping(path).includes(Deno.pid));
  } finally {
    r.close();
    Deno.removeSync(path);
  }
  assert.ok(!processesMapping(path).includes(Deno.pid));
});

Deno.test("the qemu-rv64 backend: nothing launched until needed", async () => {
  const b = new QemuRv64Backend(qemuRv64Profile({ name: "amp-never-launched" }));
  assert.ok(b instanceof QemuRv64Backend);
  assert.equal(await b.state(1), "offline"); // nothing launched yet
  assert.match(codeOf(() => b.state(0)), /^PROFILE_CPU/);
  await b.stop(1); // nothing to stop: harmless
  await b.close();
  await assert.rejects(b.mapMemory(), (e) => isAmpError(e) && e.code === "QEMU_CLOSED");
});

Deno.test({
  name: "the qemu-rv64 backend replaces a stale RAM file nobody maps",
  ignore: !qemuAvailable() && !IN_CI,
  async fn() {
    const name = `amp-stale-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
    const path = `/dev/shm/${name}`;
    await Deno.writeFile(path, new Uint8Array(16).fill(0xee)); // left by a dead run
    const b = new QemuRv64Backend(qemuRv64Profile({ name }));
    try {
      const map = await b.mapMemory();
      assert.equal(Deno.statSync(path).size, 0x2000_0000);
      assert.equal(await b.state(1), "offline");
      map.close();
    } finally {
      await b.close();
    }
    assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);
  },
});

Deno.test({
  name: "the qemu-rv64 backend starts the hart through SBI HSM and reports its state",
  ignore: !qemuAvailable() && !IN_CI,
  async fn() {
    const name = `amp-be-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
    const b = new QemuRv64Backend(qemuRv64Profile({ name }));
    try {
      assert.equal(b.consolePath, undefined); // not launched yet
      const map = await b.mapMemory();
      try {
        assert.equal(b.qemu?.boot, "sbi");
        assert.match(b.consolePath!, /console\.sock$/);
        assert.match(b.consoleLog!, /console\.log$/);
        assert.equal(await b.state(1), "offline"); // HSM STOPPED
        b.setLoadRange({ start: 0x9020_0000, len: 20 });
        map.get(0x9020_0000, 20).write(0x9020_0000, tagProgram(0x3c3c3));
        await b.start(1, 0x9020_0000);
        assert.equal(await b.state(1), "running"); // HSM STARTED
        assert.ok(
          await waitUntil(() => map.get(0x9000_0060, 4).u32(0x9000_0060) === 0x3c3c3000, {
            deadlineMs: 5000,
          }),
        );
        await b.stop(1);
        assert.equal(await b.state(1), "offline");
      } finally {
        map.close();
      }
    } finally {
      await b.close();
    }
  },
});

Deno.test("qemu-rv64 profiles: boot and bios are checked", () => {
  const withControl = (extra: Record<string, unknown>) => {
    const p = JSON.parse(JSON.stringify(qemuRv64Profile({ name: "t" })));
    Object.assign(p.control, extra);
    return () => validateProfile(p, "t.json");
  };
  assert.equal(codeOf(withControl({ boot: "direct" })), "none");
  assert.equal(codeOf(withControl({ boot: "sbi", bios: "/opt/fw_dynamic.bin" })), "none");
  assert.match(codeOf(withControl({ boot: "m-mode" })), /boot.*must be one of "sbi", "direct"/);
  assert.match(codeOf(withControl({ bios: "a,b" })), /bios.*without ","/);
  assert.match(codeOf(withControl({ bios: "none" })), /bios.*without an SBI/);
  assert.match(codeOf(withControl({ boot: "direct", bios: "default" })), /needs boot "sbi"/);
});

Deno.test("qemuMachineOf refuses a region inside the span the stub re-writes", () => {
  const p = structuredClone(qemuRv64Profile({ name: "t" }));
  // Two image regions around the shared memory.
  p.regions[0]!.roles = ["notify", "image"];
  assert.match(
    codeOf(() => qemuMachineOf(p)),
    /region 90100000.shm lies inside the span \[0x90000000, 0x909ff000\) of the image regions/,
  );
});
