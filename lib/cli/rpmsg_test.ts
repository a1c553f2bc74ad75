import assert from "node:assert/strict";
import { openampLinuxProfile } from "../machine/profiles/openamp_linux.ts";
import { simProfile } from "../machine/profiles/sim.ts";
import { captureIo } from "./_io.ts";
import { runCli } from "./main.ts";
import { rpmsgCommand } from "./rpmsg.ts";
import { shmemCommand } from "./shmem.ts";
import { vringCommand } from "./vring.ts";

Deno.test("rpmsg listen/send and shmem demo on a machine with no remote: one NO_REMOTE line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A sim machine whose shared memory nobody created.
    const machine = `${dir}/sim.json`;
    await Deno.writeTextFile(
      machine,
      JSON.stringify(simProfile({ prefix: `amp-rt-none-${Deno.pid}-${crypto.randomUUID()}` })),
    );
    const cases = [
      ["rpmsg", "listen", "svc", "--count", "1"],
      ["rpmsg", "send", "svc", "hello"],
      ["shmem", "demo"],
      ["rpmsg", "ping"],
    ];
    for (const argv of cases) {
      const io = captureIo();
      const code = await runCli([...argv, "--machine", machine, "--timeout", "500"], {
        commands: [rpmsgCommand, shmemCommand],
        version: "t",
        io,
      });
      assert.equal(code, 1, `${argv.join(" ")}: ${io.err}`);
      assert.match(
        io.err,
        /^amp: Machine "sim" has no shared memory yet \(.*ENOENT.*\): no remote is running \(start one with "amp load <fw\.elf> <cpu> --machine sim"\)$/m,
        argv.join(" "),
      );
      assert.equal(io.err.trimEnd().split("\n").length, 1, io.err);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vring dump with no remote on openamp-linux: the hint names amp remote, not amp load", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const machine = `${dir}/ol.json`;
    const shmName = `amp-rt-none-${Deno.pid}-${crypto.randomUUID()}.shm`;
    await Deno.writeTextFile(
      machine,
      JSON.stringify(openampLinuxProfile({ shmName, socketPath: `${dir}/event` })),
    );
    // (The rpmsg verbs connect to the machine's socket first and report that.)
    const cases: [string[], RegExp][] = [
      [["vring", "dump"], /is not running/],
    ];
    for (const [argv, re] of cases) {
      const io = captureIo();
      const code = await runCli([...argv, "--machine", machine], {
        commands: [vringCommand],
        version: "t",
        io,
      });
      assert.equal(code, 1, `${argv.join(" ")}: ${io.err}`);
      assert.match(io.err, re);
      assert.match(
        io.err,
        /start the remote first \("amp remote echo sample --machine openamp-linux"/,
      );
      assert.doesNotMatch(io.err, /amp load/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
