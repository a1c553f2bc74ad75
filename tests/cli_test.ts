/**
 * The `amp` command line as a user runs it: a real `deno run cli.ts`
 * subprocess, checking exit codes, stdout and stderr.
 */

import assert from "node:assert/strict";
import { buildElf, PF_R, PF_X } from "../lib/elf/mod.ts";
import { COMMANDS } from "../lib/cli/mod.ts";
import type { InspectReport } from "../lib/diag/inspect.ts";
import meta from "../deno.json" with { type: "json" };

const ROOT = new URL("../", import.meta.url).pathname;
const SEED = "examples/seed-layout.elf";

async function amp(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "cli.ts", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

function assertOneLine(err: string): string {
  assert.match(
    err,
    /^amp: [^\n]+\n$/,
    `stderr should be one "amp: ..." line, got ${JSON.stringify(err)}`,
  );
  return err.trimEnd();
}

async function tempElf(bytes: Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".elf" });
  await Deno.writeFile(path, bytes);
  return path;
}

Deno.test("cli: --help lists every verb; --version prints deno.json's version", async () => {
  const help = await amp("--help");
  assert.equal(help.code, 0);
  assert.equal(help.err, "");
  const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  for (const c of COMMANDS) {
    assert.match(help.out, new RegExp(`^  ${esc(c.name)} +${esc(c.summary)}`, "m"));
  }
  const v = await amp("--version");
  assert.equal(v.code, 0);
  assert.equal(v.out, `amp ${meta.version}\n`);
});

Deno.test("cli: every verb's --help exits 0", async () => {
  for (const c of COMMANDS) {
    const r = await amp(c.name, "--help");
    assert.equal(r.code, 0, c.name);
    assert.ok(r.out.startsWith(`Usage: amp ${c.name}`), r.out);
    assert.equal(r.err, "");
  }
});

Deno.test("cli: usage errors exit 2 with one line", async () => {
  const unknown = await amp("frobnicate");
  assert.equal(unknown.code, 2);
  assert.equal(assertOneLine(unknown.err), 'amp: unknown verb "frobnicate" (see amp --help)');
  assert.equal(unknown.out, "");
  const flag = await amp("inspect", "--bogus", SEED);
  assert.equal(flag.code, 2);
  assert.match(assertOneLine(flag.err), /unknown option '--bogus' for amp inspect/);
  const missing = await amp("inspect");
  assert.equal(missing.code, 2);
  assert.match(assertOneLine(missing.err), /missing <fw\.elf>/);
});

Deno.test("cli: runtime failures exit 1 with one line and no stack; -v adds the stack", async () => {
  const gone = await amp("inspect", "/nonexistent/fw.elf");
  assert.equal(gone.code, 1);
  assert.equal(
    assertOneLine(gone.err),
    "amp: Cannot read file /nonexistent/fw.elf: no such file",
  );
  const verbose = await amp("inspect", "--verbose", "/nonexistent/fw.elf");
  assert.equal(verbose.code, 1);
  assert.match(verbose.err, /^amp: Cannot read file \/nonexistent\/fw\.elf: no such file/);
  assert.match(verbose.err, /^ +at .*files\.ts/m);

  const seed = await Deno.readFile(`${ROOT}${SEED}`);
  const path = await tempElf(seed.subarray(0, 0x30)); // cut inside the ELF header
  try {
    const r = await amp("inspect", path);
    assert.equal(r.code, 1);
    assert.equal(
      assertOneLine(r.err),
      `amp: firmware "${path}" cannot be loaded: 1 error (listed above)`,
    );
    assert.match(r.out, /ELF_TOO_SMALL/);
    assert.doesNotMatch(r.err + r.out, /^ +at /m);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("cli: inspect shows the seed image's vdev with 2 vrings of 256 entries", async () => {
  const r = await amp("inspect", SEED);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, "");
  assert.match(r.out, /^Entry +0x90200000$/m);
  assert.match(r.out, /vdev rpmsg \(id 7\) at \+0x30: notifyid 0/);
  assert.match(r.out, /dfeatures 0x1 \(NS\)/);
  assert.equal(r.out.match(/^ +[01] +ANY +0x1000 +256 +[12]$/gm)?.length, 2);
  assert.match(r.out, /^Problems: none$/m);
});

Deno.test("cli: inspect --json gives the same data as JSON", async () => {
  const r = await amp("inspect", "--json", SEED);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as InspectReport;
  assert.equal(j.file, SEED);
  assert.equal(j.ok, true);
  assert.deepEqual(j.problems, []);
  assert.equal(j.elf?.entry, 0x9020_0000);
  assert.equal(j.elf?.entryHex, "0x90200000");
  assert.equal(j.elf?.segments.length, 2);
  assert.equal(j.resourceTable?.addr, 0x9020_0100);
  const vdev = j.resourceTable?.entries?.[0];
  assert.ok(vdev?.kind === "vdev");
  assert.equal(vdev.id, 7);
  assert.deepEqual(vdev.vrings.map((v) => [v.da, v.daHex, v.num]), [
    [0xffff_ffff, "ANY", 256],
    [0xffff_ffff, "ANY", 256],
  ]);
  assert.equal(j.load?.machine, "rv64-virt");
});

Deno.test("cli: inspect lists every problem of a bad image", async () => {
  const path = await tempElf(buildElf({
    class: 64,
    entry: 0x1000,
    segments: [
      { paddr: 0x1000, data: new Uint8Array(16), flags: PF_R | PF_X },
      { paddr: 0x2000, data: new Uint8Array(16), flags: PF_R | PF_X },
    ],
    resourceTable: { addr: 0x9020_0100, data: new Uint8Array(12) }, // smaller than a header
  }));
  try {
    const r = await amp("inspect", "--json", path);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out) as InspectReport;
    assert.deepEqual(j.problems.map((p) => p.code), [
      "RSC_TOO_SMALL",
      "LOAD_OUTSIDE_REGIONS",
      "LOAD_OUTSIDE_REGIONS",
    ]);
    assert.equal(
      assertOneLine(r.err),
      `amp: firmware "${path}" cannot be loaded: 3 errors (listed above)`,
    );
  } finally {
    await Deno.remove(path);
  }
});
