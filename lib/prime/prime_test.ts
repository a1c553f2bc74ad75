import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { primeRemote } from "./prime.ts";
import { openampLinuxProfile } from "../machine/profiles/openamp_linux.ts";
import { simProfile } from "../machine/profiles/sim.ts";

Deno.test("primeRemote: every echo checked, any count, nothing of the machine touched", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "amp-prime-" });
  try {
    const shmName = `amp-prime-test-${Deno.pid}.shm`;
    const socketPath = `${dir}/event`;
    const linux = openampLinuxProfile({ shmName, socketPath });
    // More than one msg-test sweep (480 sizes on this layout), and not a multiple of it.
    assert.equal((await primeRemote({ profile: linux, messages: 500 })).messages, 500);
    // The machine's own shm object and socket were never created.
    assert.throws(() => Deno.statSync(`/dev/shm/${shmName}`), Deno.errors.NotFound);
    assert.throws(() => Deno.statSync(socketPath), Deno.errors.NotFound);
    const sim = simProfile({ prefix: `amp-prime-test-${Deno.pid}` });
    assert.equal((await primeRemote({ profile: sim, messages: 3 })).messages, 3);
    assert.deepEqual(
      [...Deno.readDirSync("/dev/shm")].filter((e) =>
        e.name.startsWith(`amp-prime-test-${Deno.pid}`)
      ),
      [],
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("primeRemote: 0 messages does nothing; a count that is not a whole number >= 0 is refused", async () => {
  const p = simProfile({ prefix: `amp-prime-zero-${Deno.pid}` });
  assert.deepEqual(await primeRemote({ profile: p, messages: 0 }), { messages: 0, ms: 0 });
  for (const n of [-1, 1.5, NaN]) {
    await assert.rejects(primeRemote({ profile: p, messages: n }), RangeError);
  }
});

Deno.test("primeRemote: a layout spanning more than 64 MiB is refused before anything is allocated", async () => {
  const base = openampLinuxProfile({ shmName: `amp-prime-big-${Deno.pid}.shm` });
  const big = {
    ...base,
    regions: base.regions.map((r) => ({ ...r, size: 0x500_0000 })),
    layout: { ...base.layout, pool: { pa: 0x1_0000, size: 0x400_0000 } },
  };
  await assert.rejects(
    primeRemote({ profile: big, messages: 1 }),
    (e) => isAmpError(e) && e.code === "PRIME_FAILED" && /spans 0x4010000 bytes/.test(e.message),
  );
});
