import assert from "node:assert/strict";
import { echoService } from "../apps/services.ts";
import { HostSession } from "../host/session.ts";
import { mapProfileRegions } from "../machine/map.ts";
import { FW_RSC_U32_ADDR_ANY } from "../rsc/layout.ts";
import { buildResourceTable, rpmsgVdev, serializeResourceTable } from "../rsc/table.ts";
import type { Vring } from "../rsc/types.ts";
import { startDevice } from "./runtime.ts";
import { heapSimProfile, simTestSetup, TEST_RSC_ADDR } from "../sim/_testing.ts";

/** Heap-backed sim machine whose image holds a table with `vrings`; echo one message. */
async function echoWithVrings(vrings: Vring[]): Promise<Uint8Array> {
  const profile = heapSimProfile();
  const memory = await mapProfileRegions(profile);
  try {
    const table = buildResourceTable([rpmsgVdev({ vrings })]);
    memory.get(TEST_RSC_ADDR).write(TEST_RSC_ADDR, serializeResourceTable(table));
    const sim = await startDevice({
      profile,
      memory,
      rscAddr: TEST_RSC_ADDR,
      services: [echoService()],
    });
    try {
      const s = await HostSession.open(profile, { memory, timeoutMs: 10_000 });
      try {
        const ch = await s.channel("rpmsg-openamp-demo-channel");
        await ch.send(Uint8Array.of(7, 8, 9));
        return await ch.recv(10_000);
      } finally {
        await s.close();
      }
    } finally {
      await sim.stop();
    }
  } finally {
    memory.close();
  }
}

Deno.test("device runtime: uses the firmware table's vring num, not the layout slot's", async () => {
  const ANY = FW_RSC_U32_ADDR_ANY;
  // The sim layout reserves 256-entry slots; this firmware asks for 64 entries.
  const got = await echoWithVrings([
    { da: ANY, align: 0x1000, num: 64, notifyid: 1 },
    { da: ANY, align: 0x1000, num: 64, notifyid: 2 },
  ]);
  assert.deepEqual([...got], [7, 8, 9]);
});

Deno.test("device runtime: honours fixed vring addresses from the firmware table", async () => {
  // Fixed da inside the shm region, away from the layout's slots (0x90160000, 0x90164000).
  const got = await echoWithVrings([
    { da: 0x9016_8000, align: 0x1000, num: 32, notifyid: 1 },
    { da: 0x9016_a000, align: 0x1000, num: 32, notifyid: 2 },
  ]);
  assert.deepEqual([...got], [7, 8, 9]);
});

Deno.test("device runtime: echoes beyond the free reply buffers are queued, in order and intact", async () => {
  await using t = await simTestSetup({ services: [echoService()] });
  const s = await HostSession.open(t.profile, { memory: t.memory, timeoutMs: 10_000 });
  try {
    const ch = await s.channel("rpmsg-openamp-demo-channel");
    // 600 messages sent before any is read: the remote runs out of its 256
    // reply buffers, so later echoes wait in its queue (copied out of the
    // receive buffer) behind the ones that went straight back.
    const N = 600;
    const msg = (i: number) => {
      const m = new Uint8Array(24);
      new DataView(m.buffer).setUint32(0, i, true);
      m.fill(i & 0xff, 4);
      return m;
    };
    for (let i = 0; i < N; i++) await ch.send(msg(i));
    for (let i = 0; i < N; i++) {
      const got = await ch.recv(10_000);
      assert.deepEqual([...got], [...msg(i)], `echo ${i}`);
    }
    assert.equal(ch.dropped, 0);
  } finally {
    await s.close();
  }
});
