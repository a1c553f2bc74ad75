/**
 * The host session and the demo verbs' runner against the real demo firmware
 * on a RISC-V core under QEMU: the same code path `amp rpmsg ...` and
 * `amp shmem demo` use with the simulated remote. Skipped without
 * qemu-system-riscv64.
 */

import assert from "node:assert/strict";
import { qemuRv64Profile } from "../lib/machine/profiles/qemu_rv64.ts";
import { qemuAvailable } from "../lib/machine/qemu/qemu_rv64.ts";
import { QemuRv64Backend } from "../lib/remoteproc/backends/qemu_rv64.ts";
import { Remoteproc } from "../lib/remoteproc/remoteproc.ts";
import { DEMO_NAMES, runDemo } from "../lib/demos/run.ts";

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
      await rp.start();
      const lines: string[] = [];
      const io = { out: (l: string) => lines.push(l), detail: () => {}, progress: () => {} };
      for (let round = 1; round <= 2; round++) {
        for (const name of DEMO_NAMES) {
          const r = await runDemo(name, profile, io, {
            timeoutMs: 20_000,
            ...(name === "shmem" ? { count: 3 } : {}),
          });
          assert.ok(r.passed, `round ${round} ${name}: ${r.failures.join("; ")}`);
        }
      }
      assert.equal(lines.filter((l) => l === " Test Results: Error count = 0").length, 2);
      if (Deno.env.get("AMP_TEST_SHOW")) console.log(lines.join("\n"));
    } finally {
      await rp.close();
    }
  },
});
