import assert from "node:assert/strict";
import { ConfigError, OsError } from "../../errors.ts";
import { makeFakeUioTree } from "../../machine/_fake_uio.ts";
import { RV64_VIRT, rv64VirtProfile } from "../../machine/profiles/rv64_virt.ts";
import { RecordingFs } from "../_recording_fs.ts";
import { Rv64SysfsBackend } from "./rv64_sysfs.ts";

const ONLINE = "/s/devices/system/cpu/cpu1/online";
const OA = "/s/firmware/openamp";

function fakeFs(withOnline = true): RecordingFs {
  const files: Record<string, string> = {
    [`${OA}/hartid`]: "",
    [`${OA}/paddr`]: "",
    [`${OA}/state`]: "offline",
  };
  if (withOnline) files[ONLINE] = "1";
  return new RecordingFs(files);
}

Deno.test("start writes online, hartid, paddr, state in that order with exact values", async () => {
  const fs = fakeFs();
  const b = new Rv64SysfsBackend(RV64_VIRT, { sysfsRoot: "/s/", fs });
  await b.start(1, 0x9020_0000);
  assert.deepEqual(fs.writes(), [
    [ONLINE, "0"],
    [`${OA}/hartid`, "1"],
    [`${OA}/paddr`, "0x90200000"],
    [`${OA}/state`, "start"],
  ]);
  await b.stop(1);
  assert.deepEqual(fs.writes().at(-1), [`${OA}/state`, "stop"]);
});

Deno.test("EBUSY and a missing online file are ignored; other errors are not", async () => {
  const busy = fakeFs();
  busy.failures.set(ONLINE, 16);
  await new Rv64SysfsBackend(RV64_VIRT, { sysfsRoot: "/s", fs: busy }).start(1, 0x9020_0000);
  assert.equal(busy.writes().length, 4);
  assert.equal(busy.files.get(`${OA}/state`), "start");

  const absent = fakeFs(false);
  await new Rv64SysfsBackend(RV64_VIRT, { sysfsRoot: "/s", fs: absent }).start(1, 0x9020_0000);
  assert.equal(absent.files.get(`${OA}/state`), "start");

  const denied = fakeFs();
  denied.failures.set(ONLINE, 13);
  const b = new Rv64SysfsBackend(RV64_VIRT, { sysfsRoot: "/s", fs: denied });
  await assert.rejects(b.start(1, 0x9020_0000), (e: unknown) => {
    assert.ok(e instanceof OsError && e.errno === 13);
    return true;
  });
  // Nothing after the failed step was written.
  assert.deepEqual(denied.writes().map(([p]) => p), [ONLINE]);

  const stateFails = fakeFs();
  stateFails.failures.set(`${OA}/state`, 16);
  await assert.rejects(
    new Rv64SysfsBackend(RV64_VIRT, { sysfsRoot: "/s", fs: stateFails }).start(1, 0x9020_0000),
    (e: unknown) => e instanceof OsError && e.errno === 16,
  );
});

Deno.test("state reads the module's word; the cpu must belong to the profile", async () => {
  const fs = fakeFs();
  fs.files.set(`${OA}/state`, "running\n");
  const b = new Rv64SysfsBackend(RV64_VIRT, { sysfsRoot: "/s", fs });
  assert.equal(await b.state(1), "running");
  await assert.rejects(b.start(0, 0x9020_0000), (e: unknown) => {
    assert.ok(e instanceof ConfigError && e.code === "PROFILE_CPU");
    return true;
  });
  await assert.rejects(b.start(1, -1), { code: "RPROC_BAD_ENTRY" });
  assert.equal(fs.writes().length, 0);
});

Deno.test("the sysfs root comes from the options, then the profile, then /sys", () => {
  assert.equal(new Rv64SysfsBackend(RV64_VIRT).sysfsRoot, "/sys");
  assert.equal(new Rv64SysfsBackend(rv64VirtProfile({ sysfsRoot: "/p" })).sysfsRoot, "/p");
  assert.equal(
    new Rv64SysfsBackend(rv64VirtProfile({ sysfsRoot: "/p" }), { sysfsRoot: "/o" }).sysfsRoot,
    "/o",
  );
});

Deno.test("against a real fake tree: writes land in files, memory maps through UIO", async () => {
  const tree = await makeFakeUioTree(RV64_VIRT);
  const sys = tree.sysfsRoot;
  try {
    await Deno.mkdir(`${sys}/devices/system/cpu/cpu1`, { recursive: true });
    await Deno.writeTextFile(`${sys}/devices/system/cpu/cpu1/online`, "1\n");
    await Deno.mkdir(`${sys}/firmware/openamp`, { recursive: true });
    for (const f of ["hartid", "paddr", "state"]) {
      await Deno.writeTextFile(`${sys}/firmware/openamp/${f}`, "offline\n");
    }
    const b = new Rv64SysfsBackend(RV64_VIRT, { sysfsRoot: sys, devRoot: tree.devRoot });
    await b.start(1, 0x9020_0000);
    const read = (p: string) => Deno.readTextFile(`${sys}/${p}`);
    assert.equal(await read("devices/system/cpu/cpu1/online"), "0");
    assert.equal(await read("firmware/openamp/hartid"), "1");
    assert.equal(await read("firmware/openamp/paddr"), "0x90200000");
    assert.equal(await b.state(1), "start");
    await b.stop(1);
    assert.equal(await b.state(1), "stop");

    // A directory where the online file should be: EISDIR is not ignored.
    await Deno.remove(`${sys}/devices/system/cpu/cpu1/online`);
    await Deno.mkdir(`${sys}/devices/system/cpu/cpu1/online`);
    await assert.rejects(b.start(1, 0x9020_0000), (e: unknown) => e instanceof OsError);

    const map = await b.mapMemory();
    assert.deepEqual(map.regions.map((r) => r.name), [
      "90000000.shm",
      "90100000.shm",
      "90200000.rproc",
    ]);
    map.close();
    await b.close();
  } finally {
    await tree.remove();
  }
});
