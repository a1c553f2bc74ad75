import assert from "node:assert/strict";
import { loadProfile } from "../machine/mod.ts";
import { buildSeedElf } from "../../examples/make_seed_elf.ts";
import { inspectFirmware, type InspectReport } from "../diag/inspect.ts";
import {
  brokenTableElf,
  everyProblemElf,
  mixedEntriesElf,
  noTableElf,
} from "../diag/testdata/inspect_images.ts";
import { captureIo } from "./_io.ts";
import { formatInspect } from "./inspect.ts";
import { main } from "./mod.ts";

const RV64 = await loadProfile("rv64-virt");

async function withTempFile(bytes: Uint8Array, f: (path: string) => Promise<void>) {
  const path = await Deno.makeTempFile({ suffix: ".elf" });
  try {
    await Deno.writeFile(path, bytes);
    await f(path);
  } finally {
    await Deno.remove(path);
  }
}

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

Deno.test("formatInspect: every problem is listed with its message", () => {
  const r = inspectFirmware(everyProblemElf(), { name: "bad.elf", machine: RV64 });
  const text = formatInspect(r);
  assert.match(text, /^Problems: 5 errors, 1 warning$/m);
  for (const p of r.problems) assert.ok(text.includes(p.message), p.code);
});

Deno.test("formatInspect: no resource table, and a table whose entries could not be decoded", () => {
  assert.match(
    formatInspect(inspectFirmware(noTableElf(), { machine: RV64 })),
    /^Resource table: none/m,
  );
  assert.match(
    formatInspect(inspectFirmware(brokenTableElf(), { machine: RV64 })),
    /entries not decoded/,
  );
});

Deno.test("formatInspect: carveout and vendor entry lines", () => {
  const text = formatInspect(inspectFirmware(mixedEntriesElf(), { machine: null }));
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
