import assert from "node:assert/strict";
import { buildElf } from "../elf/writer.ts";
import { simProfile } from "../machine/profiles/sim.ts";
import { Remoteproc } from "../remoteproc/remoteproc.ts";
import { seedResourceTable } from "../../examples/make_seed_elf.ts";
import { SimBackend } from "./backend.ts";

function firmware(): Uint8Array {
  return buildElf({
    class: 64,
    entry: 0x9020_0000,
    segments: [{ paddr: 0x9020_0000, data: new Uint8Array(0x200), memsz: 0x1000 }],
    resourceTable: { addr: 0x9020_8000, data: seedResourceTable() },
  });
}

Deno.test("sim backend: the start hook sees the memory; close removes the shm objects", async () => {
  const prefix = `amp-simb-test-${Deno.pid}`;
  const profile = simProfile({ prefix });
  const seen: number[] = [];
  const rp = new Remoteproc(
    profile,
    new SimBackend(profile, {
      onStart: (_cpu, entry, memory) => {
        seen.push(entry, memory!.get(0x9010_0048).u8(0x9010_0048));
      },
    }),
  );
  await rp.load(firmware());
  await rp.start();
  assert.deepEqual(seen, [0x9020_0000, 0]);
  assert.equal(await rp.poll(), "running");
  await rp.close();
  await assert.rejects(Deno.stat(`/dev/shm/${prefix}.image`), Deno.errors.NotFound);
});

Deno.test("sim backend: it knows the firmware's table and offers the seed's shell commands", async () => {
  const prefix = `amp-simb-test2-${Deno.pid}`;
  const profile = simProfile({ prefix });
  const b = new SimBackend(profile, { simCommand: ["/nonexistent"], consoleLog: "/tmp/x.log" });
  const rp = new Remoteproc(profile, b);
  await rp.load(firmware());
  assert.equal(rp.loaded?.resourceTable?.addr, 0x9020_8000);
  assert.equal(rp.loaded?.resourceTable?.bytes.length, 116); // the seed table's extent
  assert.deepEqual(b.shellCommands(1), [
    "matrix_multiplyd",
    "rpmsg_echo",
    "rpmsg_update",
    "shmem_demod",
  ]);
  assert.deepEqual(b.console(1), { logPath: "/tmp/x.log", socketPath: "/tmp/x.log.sock" });
  await rp.close();
});
