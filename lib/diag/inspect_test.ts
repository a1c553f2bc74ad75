import assert from "node:assert/strict";
import { loadProfile } from "../machine/mod.ts";
import { buildSeedElf } from "../../examples/make_seed_elf.ts";
import { inspectFirmware } from "./inspect.ts";
import {
  brokenTableElf,
  everyProblemElf,
  mixedEntriesElf,
  noTableElf,
} from "./testdata/inspect_images.ts";

const RV64 = await loadProfile("rv64-virt");

Deno.test("inspectFirmware: the seed image decodes with no problems", () => {
  const r = inspectFirmware(buildSeedElf(), { name: "seed.elf", machine: RV64 });
  assert.deepEqual(r.problems, []);
  assert.equal(r.ok, true);
  assert.equal(r.elf?.class, 64);
  assert.equal(r.elf?.machineName, "RISC-V");
  assert.equal(r.elf?.entryHex, "0x90200000");
  assert.equal(r.elf?.segments[0]?.flagsText, "R-X");
  const t = r.resourceTable!;
  assert.equal(t.addrHex, "0x90200100");
  assert.equal(t.size, 0x100);
  assert.equal(t.version, 1);
  assert.equal(t.num, 1);
  const vdev = t.entries?.[0];
  assert.ok(vdev?.kind === "vdev");
  assert.equal(vdev.offset, 0x30);
  assert.equal(vdev.idName, "rpmsg");
  assert.deepEqual(vdev.dfeatureNames, ["NS"]);
  assert.deepEqual(vdev.statusNames, []);
  assert.deepEqual(
    vdev.vrings.map((v) => [v.daHex, v.da, v.align, v.num, v.notifyid]),
    [["ANY", 0xffff_ffff, 0x1000, 256, 1], ["ANY", 0xffff_ffff, 0x1000, 256, 2]],
  );
  assert.equal(r.load?.ok, true);
  assert.deepEqual(r.load?.segments.map((s) => s.region), ["90200000.rproc", "90200000.rproc"]);
  assert.equal(r.load?.resourceTable?.region, "90100000.shm");
});

Deno.test("inspectFirmware: every problem is listed, from every checker", () => {
  const r = inspectFirmware(everyProblemElf(), { name: "bad.elf", machine: RV64 });
  const got = r.problems.map((p) => `${p.source} ${p.severity} ${p.code}`);
  assert.deepEqual(got, [
    "elf warning ELF_SEGMENT_EMPTY",
    "rsc error RSC_BAD_VERSION",
    "rsc error RSC_VRING_BAD_NUM",
    "rsc error RSC_VRING_BAD_ALIGN",
    "load error LOAD_OUTSIDE_REGIONS",
    "load error LOAD_OUTSIDE_REGIONS",
  ]);
  assert.match(r.problems[4]!.message, /\[0x1000, \+0x10\)/);
  assert.match(r.problems[5]!.message, /\[0x5000, \+0x100\)/);
  assert.equal(r.errors, 5);
  assert.equal(r.warnings, 1);
  assert.equal(r.ok, false);
  assert.equal(r.load?.ok, false);
});

Deno.test("inspectFirmware: bytes that are not ELF give one problem and no ELF data", () => {
  const r = inspectFirmware(new TextEncoder().encode("#!/bin/sh\necho hi\n"), {
    name: "x.sh",
    machine: RV64,
  });
  assert.equal(r.elf, undefined);
  assert.equal(r.resourceTable, undefined);
  assert.deepEqual(r.problems.map((p) => p.code), ["ELF_BAD_MAGIC"]);
  assert.equal(r.ok, false);
});

Deno.test("inspectFirmware: firmware without a resource table is fine", () => {
  const r = inspectFirmware(noTableElf(), { machine: RV64 });
  assert.equal(r.resourceTable, null);
  assert.equal(r.ok, true);
});

Deno.test("inspectFirmware: a structurally broken table keeps its header, lists no entries", () => {
  const r = inspectFirmware(brokenTableElf(), { machine: RV64 });
  assert.equal(r.resourceTable?.num, 1000);
  assert.equal(r.resourceTable?.entries, undefined);
  assert.deepEqual(r.problems.map((p) => p.code), ["RSC_OFFSETS_OUT_OF_BOUNDS"]);
});

Deno.test("inspectFirmware: carveout, devmem, trace and vendor entries are decoded", () => {
  const r = inspectFirmware(mixedEntriesElf(), { machine: null });
  assert.equal(r.load, undefined);
  assert.equal(r.elf?.machineName, "ARM");
  const e = r.resourceTable?.entries ?? [];
  assert.deepEqual(e.map((x) => x.kind), ["carveout", "devmem", "trace", "vendor"]);
  const [c, d, t, v] = e;
  assert.ok(c?.kind === "carveout" && c.paHex === "ANY" && c.daHex === "0x60000000");
  assert.ok(d?.kind === "devmem" && d.name === "uart" && d.flags === 2);
  assert.ok(t?.kind === "trace" && t.len === 0x400 && t.name === "trace0");
  assert.ok(v?.kind === "vendor" && v.type === 200 && v.size === 8);
  assert.deepEqual(r.problems.map((p) => `${p.severity} ${p.code}`), [
    "warning RSC_VENDOR_SKIPPED",
  ]);
  assert.equal(r.ok, true);
});

Deno.test("inspectFirmware: firmware for another architecture is an error only against a machine", () => {
  const bytes = buildSeedElf();
  new DataView(bytes.buffer, bytes.byteOffset).setUint16(18, 62, true); // e_machine = x86-64
  const r = inspectFirmware(bytes, { name: "x86.elf", machine: RV64 });
  assert.equal(r.ok, false);
  const wrong = r.problems.filter((p) => p.code === "LOAD_WRONG_ARCH");
  assert.equal(wrong.length, 1);
  assert.equal(wrong[0]?.severity, "error");
  assert.equal(wrong[0]?.source, "load");
  assert.match(wrong[0]!.message, /built for x86-64 .* runs RISC-V 64-bit/);
  const free = inspectFirmware(bytes, { name: "x86.elf", machine: null });
  assert.deepEqual(free.problems.filter((p) => p.code === "LOAD_WRONG_ARCH"), []);
});
