import assert from "node:assert/strict";
import { RPMSG_ADDR_ANY } from "../rpmsg/mod.ts";
import {
  encodeEndpointInfo,
  ENDPOINT_INFO_SIZE,
  io,
  ioc,
  iow,
  RPMSG_CREATE_DEV_IOCTL,
  RPMSG_CREATE_EPT_IOCTL,
  RPMSG_DESTROY_EPT_IOCTL,
  RPMSG_IOCTL_TYPE,
  RPMSG_RELEASE_DEV_IOCTL,
} from "./uapi.ts";
import { isAmpError } from "../errors.ts";

Deno.test("the rpmsg ioctl numbers are the _IOW/_IO encodings of linux/rpmsg.h", () => {
  assert.equal(iow(RPMSG_IOCTL_TYPE, 1, ENDPOINT_INFO_SIZE), RPMSG_CREATE_EPT_IOCTL);
  assert.equal(io(RPMSG_IOCTL_TYPE, 2), RPMSG_DESTROY_EPT_IOCTL);
  assert.equal(iow(RPMSG_IOCTL_TYPE, 3, ENDPOINT_INFO_SIZE), RPMSG_CREATE_DEV_IOCTL);
  assert.equal(iow(RPMSG_IOCTL_TYPE, 4, ENDPOINT_INFO_SIZE), RPMSG_RELEASE_DEV_IOCTL);
  // The literals, derived by hand: dir 1 << 30 | 40 << 16 | 0xb5 << 8 | nr.
  assert.equal(RPMSG_CREATE_EPT_IOCTL, 0x4000_0000 + 0x28_0000 + 0xb500 + 1);
  assert.equal(RPMSG_DESTROY_EPT_IOCTL, 0xb502);
});

Deno.test("ioc matches well-known Linux ioctls and rejects fields out of range", () => {
  // FIONREAD is not _IOC-encoded; use encoded ones: TUNSETIFF = _IOW('T', 202, int).
  assert.equal(iow(0x54, 202, 4), 0x400454ca);
  // EVIOCGVERSION = _IOR('E', 0x01, int)
  assert.equal(ioc(2, 0x45, 1, 4), 0x80044501);
  for (const bad of [[4, 0, 0, 0], [0, 256, 0, 0], [0, 0, 256, 0], [0, 0, 0, 0x4000]]) {
    assert.throws(() => ioc(bad[0]!, bad[1]!, bad[2]!, bad[3]!), isAmpError);
  }
});

Deno.test("struct rpmsg_endpoint_info is 40 bytes: name[32], src, dst", () => {
  const b = encodeEndpointInfo("abc", RPMSG_ADDR_ANY, 0x400);
  assert.equal(b.length, 40);
  assert.deepEqual([...b.subarray(0, 4)], [0x61, 0x62, 0x63, 0]);
  assert(b.subarray(3, 32).every((x) => x === 0));
  assert.deepEqual([...b.subarray(32)], [0xff, 0xff, 0xff, 0xff, 0x00, 0x04, 0, 0]);
  assert.equal(encodeEndpointInfo("x".repeat(31), 0, 0)[31], 0);
  assert.throws(() => encodeEndpointInfo("x".repeat(32), 0, 0), /at most 31/);
  assert.throws(() => encodeEndpointInfo("a\0b", 0, 0), /without NUL/);
  assert.throws(() => encodeEndpointInfo("a", -1, 0), /not a u32/);
  assert.throws(() => encodeEndpointInfo("a", 0, 2 ** 32), /not a u32/);
});
