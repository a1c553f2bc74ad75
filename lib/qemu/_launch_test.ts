import assert from "node:assert/strict";
import { checkMachineOptions, launchPaths, qemuArgs } from "./_launch.ts";
import { isAmpError } from "../errors.ts";

Deno.test("qemu launch: the command line shares the RAM file and starts stopped", () => {
  const paths = {
    ramFile: "/dev/shm/ram",
    qmpPath: "/w/qmp.sock",
    consolePath: "/w/console.sock",
    consoleLog: "/w/console.log",
  };
  const m = checkMachineOptions({ smp: 3, ramSize: 0x400_0000 });
  assert.equal(m.boot, "sbi");
  assert.equal(m.bios, "default");
  const args = qemuArgs(m, paths, ["-bios", m.bios, "-kernel", "/w/agent.bin"], ["-d", "int"]);
  assert.equal(args[args.indexOf("-smp") + 1], "3");
  assert.equal(args[args.indexOf("-m") + 1], "64M");
  assert(args.includes("memory-backend-file,id=mem,size=64M,mem-path=/dev/shm/ram,share=on"));
  assert.equal(args[args.indexOf("-kernel") + 1], "/w/agent.bin");
  assert.equal(args[args.indexOf("-qmp") + 1], "unix:/w/qmp.sock,server=on,wait=off");
  assert(
    args.some((a) => a.includes("path=/w/console.sock") && a.includes("logfile=/w/console.log")),
  );
  assert.deepEqual(args.slice(-3), ["-S", "-d", "int"]);
  const direct = checkMachineOptions({ boot: "direct" });
  assert.equal(direct.bios, "none");
});

Deno.test("qemu launch: a path QEMU cannot carry is refused and the temp work dir removed", async () => {
  // A private TMPDIR: test files run in parallel, and others make amp-qemu-* dirs in /tmp.
  const tmp = await Deno.makeTempDir({ prefix: "amp-launch-test-" });
  const saved = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", tmp);
  try {
    await assert.rejects(
      () => launchPaths({ qmpPath: "/tmp/q,mp.sock" }),
      (e) => isAmpError(e) && e.code === "QEMU_BAD_OPTION" && /qmpPath/.test(e.message),
    );
    const control = await launchPaths({});
    assert(control.workDir.startsWith(`${tmp}/amp-qemu-`), control.workDir);
    await Deno.remove(control.workDir, { recursive: true });
    assert.deepEqual([...Deno.readDirSync(tmp)], []);
  } finally {
    if (saved === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", saved);
    await Deno.remove(tmp, { recursive: true });
  }
  const given = await Deno.makeTempDir();
  try {
    const p = await launchPaths({ workDir: given });
    assert.equal(p.ownWorkDir, false);
    assert.equal(p.consolePath, `${given}/console.sock`);
    assert.equal(p.qmpPath, `${given}/qmp.sock`);
    assert(p.ramFile.startsWith("/dev/shm/amp-qemu-"));
  } finally {
    await Deno.remove(given, { recursive: true });
  }
});
