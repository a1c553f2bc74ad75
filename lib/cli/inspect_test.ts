import assert from "node:assert/strict";
import { buildElf, type ElfSpec, EM_ARM, PF_R, PF_W, PF_X } from "../elf/mod.ts";
import {
  buildResourceTable,
  FW_RSC_U32_ADDR_ANY,
  rpmsgVdev,
  serializeResourceTable,
} from "../rsc/mod.ts";
import { loadProfile } from "../machine/mod.ts";
import { buildSeedElf } from "../../examples/make_seed_elf.ts";
import { captureIo } from "./_io.ts";
import { formatInspect, inspectFirmware, type InspectReport } from "./inspect.ts";
import { main } from "./mod.ts";

const RV64 = await loadProfile("rv64-virt");

function vringTable(mutate?: (dv: DataView) => void): Uint8Array {
  const vr = { da: FW_RSC_U32_ADDR_ANY, align: 0x1000, num: 256 };
  const bytes = serializeResourceTable(buildResourceTable(
    [rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] })],
    { offsetSlots: 8 },
  ));
  mutate?.(new DataView(bytes.buffer));
  return bytes;
}

async function withTempFile(bytes: Uint8Array, f: (path: string) => Promise<void>) {
  const path = await Deno.makeTempFile({ suffix: ".elf" });
  try {
    await Deno.writeFile(path, bytes);
    await f(path);
  } finally {
    await Deno.remove(path);
  }
}

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

Deno.test("formatInspect: the seed image's text report", () => {
  const text = formatInspect(inspectFirmware(buildSeedElf(), { name: "seed.elf", machine: RV64 }));
  assert.match(text, /^Entry +0x90200000$/m);
  assert.match(text, /^ +0 +LOAD +0x1000 +0x90200000 +0x90200000 +0x8 +0x8 +R-X +0x1000$/m);
  assert.match(text, /\[0\] vdev rpmsg \(id 7\) at \+0x30: notifyid 0/);
  assert.match(text, /dfeatures 0x1 \(NS\), gfeatures 0x0 \(none\), status 0x0 \(reset\)/);
  assert.match(text, /^ +0 +ANY +0x1000 +256 +1$/m);
  assert.match(text, /^ +1 +ANY +0x1000 +256 +2$/m);
  assert.match(text, /^Problems: none$/m);
  assert.doesNotMatch(text, /^Sections/m);
  const verbose = formatInspect(
    inspectFirmware(buildSeedElf(), { name: "seed.elf", machine: RV64 }),
    true,
  );
  assert.match(verbose, /^Sections \(3\)$/m);
  assert.match(verbose, /\.resource_table +PROGBITS +WA +0x90200100/);
});

Deno.test("inspectFirmware: every problem is listed, from every checker", () => {
  const table = vringTable((dv) => {
    dv.setUint32(0, 2, true); // ver 2
    dv.setUint32(0x30 + 28 + 8, 3, true); // vring 0 num 3
    dv.setUint32(0x30 + 48 + 4, 0, true); // vring 1 align 0
  });
  const bytes = buildElf({
    class: 64,
    entry: 0x1000,
    segments: [
      { paddr: 0x1000, data: new Uint8Array(0x10), flags: PF_R | PF_X },
      { paddr: 0x5000, data: new Uint8Array(0x10), memsz: 0x100, flags: PF_R | PF_W },
      { paddr: 0x9020_0000, data: new Uint8Array(0) },
    ],
    resourceTable: { addr: 0x9020_0100, data: table },
  });
  const r = inspectFirmware(bytes, { name: "bad.elf", machine: RV64 });
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
  const text = formatInspect(r);
  assert.match(text, /^Problems: 5 errors, 1 warning$/m);
  for (const p of r.problems) assert.ok(text.includes(p.message), p.code);
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
  const bytes = buildElf({
    class: 32,
    segments: [{ paddr: 0x9020_0000, data: new Uint8Array(0x40), flags: PF_R | PF_X }],
  });
  const r = inspectFirmware(bytes, { machine: RV64 });
  assert.equal(r.resourceTable, null);
  assert.equal(r.ok, true);
  assert.match(formatInspect(r), /^Resource table: none/m);
});

Deno.test("inspectFirmware: a structurally broken table keeps its header, lists no entries", () => {
  const table = vringTable((dv) => dv.setUint32(4, 1000, true)); // num 1000
  const bytes = buildElf({
    class: 64,
    segments: [{ paddr: 0x9020_0000, data: new Uint8Array(8), flags: PF_R | PF_X }],
    resourceTable: { addr: 0x9020_0100, data: table },
  });
  const r = inspectFirmware(bytes, { machine: RV64 });
  assert.equal(r.resourceTable?.num, 1000);
  assert.equal(r.resourceTable?.entries, undefined);
  assert.deepEqual(r.problems.map((p) => p.code), ["RSC_OFFSETS_OUT_OF_BOUNDS"]);
  assert.match(formatInspect(r), /entries not decoded/);
});

Deno.test("inspectFirmware: carveout, devmem, trace and vendor entries are decoded", () => {
  const table = serializeResourceTable(buildResourceTable([
    {
      kind: "carveout",
      da: 0x6000_0000,
      pa: FW_RSC_U32_ADDR_ANY,
      len: 0x1000,
      flags: 0,
      name: "text",
    },
    { kind: "devmem", da: 0x4000_0000, pa: 0x4000_0000, len: 0x100, flags: 2, name: "uart" },
    { kind: "trace", da: 0x6001_0000, len: 0x400, name: "trace0" },
    { kind: "vendor", type: 200, raw: new Uint8Array([200, 0, 0, 0, 9, 9, 9, 9]) },
  ]));
  const spec: ElfSpec = {
    class: 32,
    machine: EM_ARM,
    segments: [{ paddr: 0x9020_0000, data: new Uint8Array(8), flags: PF_R | PF_X }],
    resourceTable: { addr: 0x9020_1000, data: table },
  };
  const r = inspectFirmware(buildElf(spec), { machine: null });
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
  const text = formatInspect(r);
  assert.match(text, /\[0\] carveout "text" at \+0x20: da 0x60000000, pa ANY, len 0x1000/);
  assert.match(text, /\[3\] vendor type 200 at \+0x[0-9a-f]+: 8 bytes \(skipped\)/);
});

Deno.test("amp inspect (in-process): text, --json and exit codes", async () => {
  await withTempFile(buildSeedElf(), async (path) => {
    const io = captureIo();
    assert.equal(await main(["inspect", path], io), 0);
    assert.match(io.out, /vdev rpmsg/);
    assert.equal(io.err, "");

    const j = captureIo();
    assert.equal(await main(["inspect", "--json", path], j), 0);
    const report = JSON.parse(j.out) as InspectReport;
    assert.equal(report.ok, true);
    assert.equal(report.elf?.entry, 0x9020_0000);
    assert.equal(report.load?.machine, "rv64-virt");
    const vdev = report.resourceTable?.entries?.[0];
    assert.ok(vdev?.kind === "vdev" && vdev.vrings.length === 2);

    const sim = captureIo();
    assert.equal(await main(["inspect", "--json", "-m", "sim", path], sim), 0);
    assert.equal((JSON.parse(sim.out) as InspectReport).load?.machine, "sim");

    const empty = captureIo();
    assert.equal(await main(["inspect", "--machine=", path], empty), 2);
    assert.equal(
      empty.err,
      "amp: inspect: --machine needs a profile name or path\n",
    );

    const bad = captureIo();
    assert.equal(await main(["inspect", "--machine", "no-such-machine", path], bad), 1);
    assert.match(bad.err, /^amp: Unknown machine "no-such-machine".*\n$/);
  });
});

Deno.test("amp inspect (in-process): an unloadable image prints the report, exits 1", async () => {
  const seed = buildSeedElf();
  await withTempFile(seed.subarray(0, 100), async (path) => {
    const io = captureIo();
    assert.equal(await main(["inspect", path], io), 1);
    assert.match(io.out, /^Problems: 2 errors, 0 warnings$/m);
    assert.match(io.out, /ELF_PHDRS_OUTSIDE_FILE/);
    assert.match(io.out, /ELF_SHDRS_OUTSIDE_FILE/);
    assert.equal(
      io.err,
      `amp: firmware "${path}" cannot be loaded: 2 errors (listed above)\n`,
    );
  });
});

Deno.test("amp inspect (in-process): a missing file is one line, a stack with -v", async () => {
  const io = captureIo();
  assert.equal(await main(["inspect", "/nonexistent/fw.elf"], io), 1);
  assert.equal(io.out, "");
  assert.equal(
    io.err,
    "amp: Cannot read file /nonexistent/fw.elf: no such file\n",
  );
  const v = captureIo();
  assert.equal(await main(["inspect", "-v", "/nonexistent/fw.elf"], v), 1);
  assert.match(v.err, /^amp: Cannot read file \/nonexistent\/fw\.elf: no such file/);
  assert.match(v.err, /^ConfigError: Cannot read file/m);
  assert.match(v.err, /^caused by: NotFound: /m);
});
