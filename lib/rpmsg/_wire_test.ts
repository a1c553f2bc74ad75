import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import {
  AddressBitmap,
  decodeNs,
  encodeNs,
  readHeader,
  RPMSG_ADDR_ANY,
  RPMSG_NS_CREATE,
  RPMSG_NS_DESTROY,
  writeHeader,
} from "./_wire.ts";

function code(c: string) {
  return (e: unknown) => isAmpError(e) && e.code === c;
}

Deno.test("header: 16 bytes, little-endian, reserved and flags written 0", () => {
  const b = new Uint8Array(20).fill(0xaa);
  writeHeader(new DataView(b.buffer), 2, 0x0102_0304, 0x35, 0x1234);
  assert.deepEqual(
    [...b],
    [0xaa, 0xaa, 4, 3, 2, 1, 0x35, 0, 0, 0, 0, 0, 0, 0, 0x34, 0x12, 0, 0, 0xaa, 0xaa],
  );
  const h = readHeader(new DataView(b.buffer), 2);
  assert.deepEqual(h, { src: 0x0102_0304, dst: 0x35, reserved: 0, len: 0x1234, flags: 0 });
});

Deno.test("name service: exact 40-byte encoding and decoding", () => {
  const m = encodeNs("rpmsg-openamp-demo-channel", 0x400, RPMSG_NS_DESTROY);
  assert.equal(m.length, 40);
  const name = new TextEncoder().encode("rpmsg-openamp-demo-channel");
  assert.deepEqual([...m.subarray(0, name.length)], [...name]);
  assert.ok(m.subarray(name.length, 32).every((x) => x === 0));
  assert.deepEqual([...m.subarray(32)], [0, 4, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(decodeNs(m), { name: "rpmsg-openamp-demo-channel", addr: 0x400, flags: 1 });
  // the longest name that still has its NUL
  const long = "x".repeat(31);
  assert.equal(decodeNs(encodeNs(long, 1, RPMSG_NS_CREATE)).name, long);
  assert.throws(() => encodeNs("x".repeat(32), 1, 0), code("RPMSG_NAME_TOO_LONG"));
  assert.throws(() => encodeNs("é".repeat(16), 1, 0), code("RPMSG_NAME_TOO_LONG"));
});

Deno.test("name service: malformed messages are rejected with their own codes", () => {
  const good = encodeNs("svc", 1024, RPMSG_NS_CREATE);
  assert.throws(() => decodeNs(good.subarray(0, 39)), code("RPMSG_NS_BAD_LENGTH"));
  const long = new Uint8Array(41);
  long.set(good);
  assert.throws(() => decodeNs(long), code("RPMSG_NS_BAD_LENGTH"));
  const noNul = good.slice();
  noNul.fill(0x41, 0, 32);
  assert.throws(() => decodeNs(noNul), code("RPMSG_NS_NAME_UNTERMINATED"));
  const badFlags = good.slice();
  badFlags[36] = 2;
  assert.throws(() => decodeNs(badFlags), code("RPMSG_NS_BAD_FLAGS"));
  assert.throws(() => decodeNs(encodeNs("svc", RPMSG_ADDR_ANY, 0)), code("RPMSG_NS_BAD_ADDR"));
  // the name ends at the first NUL even if bytes follow it
  const trailing = good.slice();
  trailing[10] = 0x42;
  assert.equal(decodeNs(trailing).name, "svc");
});

Deno.test("address bitmap: lowest free first, take/free, exhaustion", () => {
  const b = new AddressBitmap(40);
  const got = Array.from({ length: 40 }, () => b.alloc());
  assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => 1024 + i));
  assert.equal(b.alloc(), -1);
  b.free(1024 + 33);
  b.free(1024 + 5);
  assert.equal(b.alloc(), 1029);
  assert.equal(b.alloc(), 1057);
  assert.equal(b.take(1030), false);
  b.free(1030);
  assert.equal(b.take(1030), true);
  assert.equal(b.take(5), true); // outside the dynamic range: not tracked
  assert.equal(b.inRange(1023), false);
  assert.equal(b.inRange(1024 + 40), false);
});
