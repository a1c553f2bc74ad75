import assert from "node:assert/strict";
import { checkMemTable, placeQueue, userToGuest } from "./memory.ts";
import { VhostError } from "./protocol.ts";

function rejects(fn: () => unknown, code: string): void {
  assert.throws(fn, (e) => {
    assert(e instanceof VhostError, `not a VhostError: ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

Deno.test("memory table checks: empty, wrapping and overlapping regions; translation bounds", () => {
  const r = (g: bigint, s: bigint, u = g, o = 0n) => ({
    guestAddr: g,
    size: s,
    userAddr: u,
    mmapOffset: o,
  });
  rejects(() => checkMemTable([r(0n, 0n)]), "VHOST_REGION_EMPTY");
  rejects(() => checkMemTable([r((1n << 64n) - 0x1000n, 0x2000n)]), "VHOST_REGION_WRAP");
  rejects(() => checkMemTable([r(0n, 0x1000n, (1n << 53n) - 0x800n)]), "VHOST_REGION_WRAP");
  rejects(() => checkMemTable([r(0n, 0x1000n, 0n, 1n << 63n)]), "VHOST_REGION_WRAP");
  rejects(
    () => checkMemTable([r(0n, 0x2000n, 0n), r(0x1fffn, 0x10n, 0x10000n)]),
    "VHOST_REGION_OVERLAP",
  );
  rejects(
    () => checkMemTable([r(0n, 0x2000n, 0x5000n), r(0x10000n, 0x10n, 0x6000n)]),
    "VHOST_REGION_OVERLAP",
  );
  const table = checkMemTable([r(0x1000n, 0x1000n, 0x9000n), r(0x4000n, 0x1000n, 0x20000n)]);
  assert.equal(userToGuest(table, 0x9ff0n, 16, "x"), 0x1ff0);
  assert.equal(userToGuest(table, 0x20000n, 0x1000, "x"), 0x4000);
  rejects(() => userToGuest(table, 0x9ff1n, 16, "x"), "VHOST_ADDR_OUTSIDE");
  rejects(() => userToGuest(table, (1n << 64n) - 1n, 16, "x"), "VHOST_ADDR_OUTSIDE");
  rejects(() => userToGuest(table, 0x8fffn, 2, "x"), "VHOST_ADDR_OUTSIDE");
});

Deno.test("queue placement: the contiguous split layout is recognised, anything else refused", () => {
  const table = checkMemTable([{
    guestAddr: 0n,
    size: 0x100000n,
    userAddr: 0x10000000n,
    mmapOffset: 0n,
  }]);
  const u = 0x10000000n;
  const q = placeQueue(table, 0, 256, { desc: u + 0x4000n, avail: u + 0x5000n, used: u + 0x6000n });
  assert.deepEqual([q.desc, q.avail, q.used, q.align], [0x4000, 0x5000, 0x6000, 0x1000]);
  const small = placeQueue(table, 0, 8, { desc: u, avail: u + 128n, used: u + 152n });
  assert.equal(small.align, 4);
  rejects(
    () => placeQueue(table, 1, 256, { desc: u, avail: u + 0x1008n, used: u + 0x2000n }),
    "VHOST_RING_LAYOUT",
  );
  rejects(
    () => placeQueue(table, 1, 256, { desc: u, avail: u + 0x1000n, used: u + 0x2001n }),
    "VHOST_RING_LAYOUT",
  );
  rejects(
    () => placeQueue(table, 1, 256, { desc: u + 0xff000n, avail: u + 0x100000n, used: u }),
    "VHOST_ADDR_OUTSIDE",
  );
});
