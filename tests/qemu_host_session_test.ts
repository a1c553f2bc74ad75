/**
 * The host session and the demo verbs' runner against the real demo firmware
 * on a RISC-V core under QEMU: the same code path `amp rpmsg ...` and
 * `amp shmem demo` use with the simulated remote, each demo started first by
 * typing its command at the firmware's shell prompt (as the seed's RT-Thread
 * image needs). Skipped without qemu-system-riscv64.
 */

import assert from "node:assert/strict";
import { qemuRv64Profile } from "../lib/machine/profiles/qemu_rv64.ts";
import { qemuAvailable } from "../lib/qemu/qemu.ts";
import { QemuRv64Backend } from "../lib/qemu/backend.ts";
import { Remoteproc } from "../lib/remoteproc/remoteproc.ts";
import { DEMO_NAMES, type DemoName, runDemo } from "../lib/demos/run.ts";
import { typeDemoCommand, waitDemoEnd, waitPrompt } from "../lib/qemu/_testing.ts";

/** The firmware command that starts each demo. */
const COMMAND: Record<DemoName, string> = {
  ping: "rpmsg_echo",
  test: "rpmsg_update",
  matrix: "matrix_multiplyd",
  shmem: "shmem_demod",
};

const FW = new URL("../examples/firmware/rv64-virt/amp-demo.elf", import.meta.url).pathname;

Deno.test({
  name: "qemu host session: every demo twice against the real firmware",
  ignore: !qemuAvailable(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const profile = qemuRv64Profile({
      name: `amp-hs-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`,
    });
    const rp = new Remoteproc(profile, new QemuRv64Backend(profile));
    try {
      await rp.load(FW, { name: "amp-demo.elf" });
      const con = await (rp.backend as QemuRv64Backend).qemu!.connectConsole();
      const lines: string[] = [];
      try {
        await rp.start();
        await waitPrompt(con);
        const shm = (await rp.memory()).get(0x9010_0000, 0x8_0000);
        const io = { out: (l: string) => lines.push(l), detail: () => {}, progress: () => {} };
        for (let round = 1; round <= 2; round++) {
          for (const name of DEMO_NAMES) {
            await typeDemoCommand(con, shm, COMMAND[name]);
            const r = await runDemo(name, profile, io, {
              timeoutMs: 20_000,
              ...(name === "shmem" ? { count: 3 } : {}),
              // The firmware's matrix runs on the demo channel (as upstream's).
              ...(name === "matrix" ? { service: "rpmsg-openamp-demo-channel" } : {}),
            });
            assert.ok(r.passed, `round ${round} ${name}: ${r.failures.join("; ")}`);
            await waitDemoEnd(con);
          }
        }
      } finally {
        con.close();
      }
      assert.equal(lines.filter((l) => l === " Test Results: Error count = 0").length, 2);
      if (Deno.env.get("AMP_TEST_SHOW")) console.log(lines.join("\n"));
    } finally {
      await rp.close();
    }
  },
});
