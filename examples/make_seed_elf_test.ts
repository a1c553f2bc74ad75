import assert from "node:assert/strict";
import { parseElf, sectionByName, sectionData } from "../lib/elf/mod.ts";
import {
  buildSeedElf,
  SEED_ELF_PATH,
  SEED_ENTRY,
  SEED_RSC_ADDR,
  seedResourceTable,
} from "./make_seed_elf.ts";

const SCRIPT = new URL("./make_seed_elf.ts", import.meta.url).pathname;

/** The table of machines.md section 1, written field by field from the spec. */
function expectedTable(): Uint8Array {
  const b = new Uint8Array(116);
  const dv = new DataView(b.buffer);
  const u32 = (o: number, v: number) => dv.setUint32(o, v, true);
  u32(0, 1); // ver
  u32(4, 1); // num
  u32(16, 0x30); // offset[0]; 8 slots, the other 7 zero
  u32(0x30, 3); // RSC_VDEV
  u32(0x34, 7); // id: rpmsg
  u32(0x38, 0); // notifyid
  u32(0x3c, 1); // dfeatures: NS
  b[0x48 + 1] = 2; // num_of_vrings (status at 0x48 stays 0)
  for (const [i, notifyid] of [[0, 1], [1, 2]] as const) {
    const at = 0x4c + 20 * i;
    u32(at, 0xffff_ffff); // da ANY
    u32(at + 4, 0x1000); // align
    u32(at + 8, 256); // num
    u32(at + 12, notifyid);
  }
  return b;
}

Deno.test("seed table is the 116 bytes of machines.md section 1", () => {
  assert.deepEqual(seedResourceTable(), expectedTable());
});

Deno.test("seed ELF: RV64, entry, text segment, 0x100-byte .resource_table holding the table", () => {
  const img = parseElf(buildSeedElf(), { name: "seed" });
  assert.equal(img.class, 64);
  assert.equal(img.machine, 243);
  assert.equal(img.entry, SEED_ENTRY);
  assert.equal(img.segments[0]?.paddr, SEED_ENTRY);
  assert.equal(img.segments[0]?.flags, 5);
  const sec = sectionByName(img, ".resource_table");
  assert.equal(sec?.addr, SEED_RSC_ADDR);
  assert.equal(SEED_RSC_ADDR % 0x100, 0);
  assert.equal(sec?.size, 0x100);
  const data = sectionData(img, sec!);
  assert.deepEqual(data.subarray(0, 116), expectedTable());
  assert.ok(data.subarray(116).every((x) => x === 0));
});

Deno.test("the committed examples/seed-layout.elf is what make_seed_elf.ts builds", async () => {
  const committed = await Deno.readFile(SEED_ELF_PATH);
  assert.deepEqual(committed, buildSeedElf());
});

Deno.test("make_seed_elf.ts --check and writing give identical bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/seed.elf`;
    const run = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          SCRIPT,
          ...args,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    assert.equal((await run("--check", out)).code, 1); // missing
    assert.equal((await run(out)).code, 0);
    assert.deepEqual(await Deno.readFile(out), buildSeedElf());
    assert.equal((await run("--check", out)).code, 0);
    await Deno.writeFile(out, new Uint8Array([1, 2, 3]));
    assert.equal((await run("--check", out)).code, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
