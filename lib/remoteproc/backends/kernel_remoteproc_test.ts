import assert from "node:assert/strict";
import { AmpError, ConfigError } from "../../errors.ts";
import { validateProfile } from "../../machine/validate.ts";
import { RV64_VIRT } from "../../machine/profiles/rv64_virt.ts";
import { RecordingFs } from "../_recording_fs.ts";
import { KernelRemoteprocBackend } from "./kernel_remoteproc.ts";

const C = "/s/class/remoteproc";

function twoInstances(state1 = "offline\n"): RecordingFs {
  return new RecordingFs({
    [`${C}/remoteproc0/name`]: "dsp\n",
    [`${C}/remoteproc0/state`]: "offline\n",
    [`${C}/remoteproc0/firmware`]: "x\n",
    [`${C}/remoteproc1/name`]: "m4\n",
    [`${C}/remoteproc1/state`]: state1,
    [`${C}/remoteproc1/firmware`]: "y\n",
    [`${C}/unrelated/name`]: "m4\n",
  });
}

const fw = { bytes: Uint8Array.of(0x7f, 0x45, 0x4c, 0x46), name: "/build/out/fw.elf" };

Deno.test("finds the instance by name, copies firmware, then writes firmware and state", async () => {
  const fs = twoInstances();
  const b = new KernelRemoteprocBackend(RV64_VIRT, {
    sysfsRoot: "/s",
    name: "m4",
    firmwareDir: "/fw",
    fs,
  });
  assert.equal(await b.instanceDir(), `${C}/remoteproc1`);
  assert.equal(await b.name(), "m4");
  await b.loadFirmware(1, fw);
  await b.start(1, 0);
  assert.equal(await b.state(1), "start");
  await b.stop(1);
  const mutations = fs.calls.filter((c) => c.op === "write" || c.op === "install");
  assert.deepEqual(mutations, [
    { op: "install", path: "/fw/fw.elf", data: 4 },
    { op: "write", path: `${C}/remoteproc1/firmware`, data: "fw.elf" },
    { op: "write", path: `${C}/remoteproc1/state`, data: "start" },
    { op: "write", path: `${C}/remoteproc1/state`, data: "stop" },
  ]);
  // The state was checked before anything was installed.
  const firstState = fs.calls.findIndex((c) => c.path === `${C}/remoteproc1/state`);
  const install = fs.calls.findIndex((c) => c.op === "install");
  assert.ok(firstState >= 0 && firstState < install);
});

Deno.test("finds the instance by index (default 0) and from the profile", async () => {
  const fs = twoInstances();
  assert.equal(
    await new KernelRemoteprocBackend(RV64_VIRT, { sysfsRoot: "/s", fs }).instanceDir(),
    `${C}/remoteproc0`,
  );
  const profile = validateProfile(
    { ...RV64_VIRT, control: { kind: "remoteproc", index: 1, sysfsRoot: "/s" } },
    "p",
  );
  assert.equal(
    await new KernelRemoteprocBackend(profile, { fs }).instanceDir(),
    `${C}/remoteproc1`,
  );
  assert.equal(new KernelRemoteprocBackend(profile, { fs }).firmwareDir, "/lib/firmware");
});

Deno.test("refuses to set firmware unless offline, writing nothing", async () => {
  const fs = twoInstances("running\n");
  const b = new KernelRemoteprocBackend(RV64_VIRT, { sysfsRoot: "/s", index: 1, fs });
  await assert.rejects(b.loadFirmware(1, fw), (e: unknown) => {
    assert.ok(e instanceof AmpError && e.code === "STATE");
    assert.match(
      e.message,
      /the core is running; the kernel accepts a new firmware only while offline/,
    );
    return true;
  });
  assert.equal(fs.calls.filter((c) => c.op === "write" || c.op === "install").length, 0);
  assert.equal(fs.files.get(`${C}/remoteproc1/firmware`), "y\n");
});

Deno.test("missing, ambiguous instances and bad firmware names fail clearly", async () => {
  const fs = twoInstances();
  await assert.rejects(
    new KernelRemoteprocBackend(RV64_VIRT, { sysfsRoot: "/s", name: "gpu", fs }).instanceDir(),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError && e.code === "RPROC_NOT_FOUND");
      assert.match(e.message, /found: remoteproc0=dsp, remoteproc1=m4/);
      return true;
    },
  );
  await assert.rejects(
    new KernelRemoteprocBackend(RV64_VIRT, { sysfsRoot: "/s", index: 5, fs }).instanceDir(),
    { code: "RPROC_NOT_FOUND" },
  );
  fs.files.set(`${C}/remoteproc0/name`, "m4");
  await assert.rejects(
    new KernelRemoteprocBackend(RV64_VIRT, { sysfsRoot: "/s", name: "m4", fs }).instanceDir(),
    { code: "RPROC_AMBIGUOUS" },
  );
  await assert.rejects(
    new KernelRemoteprocBackend(RV64_VIRT, { sysfsRoot: "/nowhere", fs }).instanceDir(),
    { code: "RPROC_NOT_FOUND" },
  );
  const b = new KernelRemoteprocBackend(RV64_VIRT, { sysfsRoot: "/s", index: 1, fs });
  await assert.rejects(b.loadFirmware(1, { bytes: fw.bytes, name: "dir/" }), {
    code: "RPROC_FW_NAME",
  });
});

Deno.test("against a real fake tree: firmware file installed, attributes written", async () => {
  const root = await Deno.makeTempDir();
  try {
    const inst = `${root}/sys/class/remoteproc/remoteproc0`;
    await Deno.mkdir(inst, { recursive: true });
    await Deno.mkdir(`${root}/firmware`);
    await Deno.writeTextFile(`${inst}/name`, "rv64\n");
    await Deno.writeTextFile(`${inst}/state`, "offline\n");
    await Deno.writeTextFile(`${inst}/firmware`, "old.elf\n");
    const b = new KernelRemoteprocBackend(RV64_VIRT, {
      sysfsRoot: `${root}/sys`,
      firmwareDir: `${root}/firmware`,
      name: "rv64",
    });
    await b.loadFirmware(1, { bytes: fw.bytes, name: "fw.elf" });
    assert.deepEqual(await Deno.readFile(`${root}/firmware/fw.elf`), fw.bytes);
    assert.equal(await Deno.readTextFile(`${inst}/firmware`), "fw.elf");
    await b.start(1, 0);
    assert.equal(await Deno.readTextFile(`${inst}/state`), "start");
    assert.equal((await b.mapMemory()).regions.length, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
