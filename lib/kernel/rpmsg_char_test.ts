import assert from "node:assert/strict";
import {
  findRpmsgChannel,
  listRpmsgChannels,
  listRpmsgControls,
  listRpmsgEndpoints,
  parseRpmsgAddr,
  RpmsgCharEndpoint,
} from "./rpmsg_char.ts";
import { isAmpError } from "../errors.ts";

function fakeTree(): string {
  const root = Deno.makeTempDirSync({ prefix: "amp-fake-sysfs-" });
  const bus = `${root}/sys/bus/rpmsg/devices`;
  const add = (dev: string, name: string, src: string, dst: string) => {
    Deno.mkdirSync(`${bus}/${dev}`, { recursive: true });
    Deno.writeTextFileSync(`${bus}/${dev}/name`, name + "\n");
    Deno.writeTextFileSync(`${bus}/${dev}/src`, src + "\n");
    Deno.writeTextFileSync(`${bus}/${dev}/dst`, dst + "\n");
  };
  add("virtio0.rpmsg_ctrl.0.0", "rpmsg_ctrl", "0x0", "0x0");
  add("virtio0.rpmsg-client-sample.-1.1025", "rpmsg-client-sample", "0xffffffff", "0x401");
  add("virtio0.broken.-1.7", "broken", "nonsense", "0x7");
  Deno.mkdirSync(`${root}/sys/bus/rpmsg/drivers/rpmsg_ctrl`, { recursive: true });
  Deno.symlinkSync(
    `${root}/sys/bus/rpmsg/drivers/rpmsg_ctrl`,
    `${bus}/virtio0.rpmsg_ctrl.0.0/driver`,
  );
  const cls = `${root}/sys/class/rpmsg`;
  for (
    const [dev, name, src, dst] of [["rpmsg2", "b", "-1", "1026"], ["rpmsg10", "a", "1024", "1025"]]
  ) {
    Deno.mkdirSync(`${cls}/${dev}`, { recursive: true });
    Deno.writeTextFileSync(`${cls}/${dev}/name`, name! + "\n");
    Deno.writeTextFileSync(`${cls}/${dev}/src`, src! + "\n");
    Deno.writeTextFileSync(`${cls}/${dev}/dst`, dst! + "\n");
  }
  Deno.mkdirSync(`${cls}/rpmsg_ctrl0`, { recursive: true });
  Deno.mkdirSync(`${root}/dev`, { recursive: true });
  for (const n of ["rpmsg_ctrl1", "rpmsg_ctrl0", "rpmsg0", "null"]) {
    Deno.writeTextFileSync(`${root}/dev/${n}`, "");
  }
  return root;
}

Deno.test("rpmsg sysfs addresses: hex, decimal and -1 for ANY; junk refused", () => {
  assert.equal(parseRpmsgAddr("0x401\n"), 0x401);
  assert.equal(parseRpmsgAddr("1024"), 1024);
  assert.equal(parseRpmsgAddr("-1"), 0xffffffff);
  assert.equal(parseRpmsgAddr("0xffffffff"), 0xffffffff);
  for (const bad of ["", "0x", "0x123456789", "12a", "99999999999", "- 1"]) {
    assert.equal(parseRpmsgAddr(bad), undefined, bad);
  }
});

Deno.test("channels, endpoints and control devices are read from a sysfs tree", () => {
  const root = fakeTree();
  try {
    const chans = listRpmsgChannels({ root });
    assert.deepEqual(chans.map((c) => [c.name, c.src, c.dst, c.driver]), [
      ["rpmsg-client-sample", 0xffffffff, 0x401, ""],
      ["rpmsg_ctrl", 0, 0, "rpmsg_ctrl"],
    ]);
    assert.deepEqual(listRpmsgEndpoints({ root }).map((e) => [e.device, e.name, e.src, e.dst]), [
      ["rpmsg2", "b", 0xffffffff, 1026],
      ["rpmsg10", "a", 1024, 1025],
    ]);
    assert.deepEqual(listRpmsgControls({ root }), [
      `${root}/dev/rpmsg_ctrl0`,
      `${root}/dev/rpmsg_ctrl1`,
    ]);
    assert.deepEqual(listRpmsgChannels({ root: `${root}/nowhere` }), []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("findRpmsgChannel waits under a deadline and names what it has", async () => {
  const root = fakeTree();
  try {
    assert.equal((await findRpmsgChannel("rpmsg-client-sample", { root })).dst, 0x401);
    await assert.rejects(
      findRpmsgChannel("rpmsg-openamp-demo-channel", { root, timeoutMs: 20 }),
      (e: Error) => isAmpError(e) && e.code === "TIMEOUT" && e.message.includes("rpmsg_ctrl"),
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("opening an endpoint without a control device says what is missing", async () => {
  const root = fakeTree();
  try {
    for (const n of ["rpmsg_ctrl0", "rpmsg_ctrl1"]) Deno.removeSync(`${root}/dev/${n}`);
    await assert.rejects(
      RpmsgCharEndpoint.open("rpmsg-client-sample", { root }),
      (e: Error) => isAmpError(e) && e.code === "RPMSG_NO_CONTROL",
    );
    // A regular file is no rpmsg control device: the ioctl fails with ENOTTY, reported as such.
    Deno.writeTextFileSync(`${root}/dev/rpmsg_ctrl0`, "");
    await assert.rejects(
      RpmsgCharEndpoint.open("rpmsg-client-sample", { root }),
      (e: Error) => isAmpError(e) && e.message.includes("RPMSG_CREATE_EPT_IOCTL"),
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
