/**
 * The seed's workflow on a real RISC-V core under QEMU, through the CLI only,
 * as a user drives the seed's RT-Thread image: `amp load FW 1 --machine
 * qemu-rv64`, `amp console 1 --expect 'msh />'`, each demo with `--start`
 * and its seed command, twice, then the plain verbs (which type the command
 * themselves), twice, `amp status`, `amp stop 1`, and `amp demo` 4/4.
 *
 * The firmware is amp's seed-compatible demo firmware; with
 * `AMP_TEST_SEED_ELF=/path/rtthread.elf` the same flow also runs against the
 * seed's own image (built locally; never committed).
 */

import assert from "node:assert/strict";
import { qemuRv64Profile } from "../lib/machine/profiles/qemu_rv64.ts";
import { qemuAvailable } from "../lib/qemu/qemu.ts";
import {
  cleanup,
  DEMO_ELF,
  type Env,
  LoadProcess,
  type Result,
  runAmp,
  setup as setupEnv,
} from "./_cli_env.ts";

const IN_CI = Deno.env.get("CI") === "true";
const ignore = !qemuAvailable() && !IN_CI;
const SEED = Deno.env.get("AMP_TEST_SEED_ELF");

const amp = (e: Env, ...args: string[]) => runAmp(e, args);

function pass(r: Result, demo: string, what: string): void {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.out}\n${r.err}`);
  assert.match(r.out, new RegExp(`^PASS ${demo}: `, "m"), `${what}: ${r.out}`);
}

const STARTS: [string[], string, string][] = [
  [["rpmsg", "ping"], "sample", "rpmsg_echo"],
  [["rpmsg", "test"], "msg-test", "rpmsg_update"],
  [["rpmsg", "matrix"], "matrix", "matrix_multiplyd"],
  [["shmem", "demo"], "shmem", "shmem_demod"],
];

async function seedFlow(fw: string, tag: string, prompt: RegExp): Promise<void> {
  const e = await setupEnv("qemu-seed", tag);
  const profile = qemuRv64Profile({ name: e.prefix });
  const profilePath = `${e.dir}/machine.json`;
  await Deno.writeTextFile(profilePath, JSON.stringify(profile));
  let load: LoadProcess | undefined;
  try {
    load = new LoadProcess(e, [fw, "1", "--machine", profilePath]);
    await load.waitFor(/^Remote cpu 1 running /m);
    const up = await amp(e, "console", "1", "--expect", prompt.source, "--timeout", "30000");
    assert.equal(up.code, 0, up.err);

    for (let round = 1; round <= 2; round++) {
      for (const [verb, demo, cmd] of STARTS) {
        pass(await amp(e, ...verb, "--start", cmd, "--timeout", "20000"), demo, `${cmd} #${round}`);
      }
    }
    for (let round = 1; round <= 2; round++) {
      for (const [verb, demo] of STARTS) {
        pass(await amp(e, ...verb, "--timeout", "20000"), demo, `${verb.join(" ")} #${round}`);
      }
    }
    // Each demo's command went through the console; the firmware ran and ended them.
    const log = await amp(e, "console", "1");
    for (const [, , cmd] of STARTS) {
      assert.ok((log.out.match(new RegExp(`${cmd}\\r*\\n`, "g"))?.length ?? 0) >= 4, log.out);
    }
    const st = await amp(e, "status", "--json");
    const entry = JSON.parse(st.out).entries[0];
    assert.equal(entry.platform, "running", st.out); // SBI HSM says STARTED
    assert.equal((await amp(e, "stop", "1")).code, 0);
    assert.equal(await load.done, 0, load.out + load.err);
    assert.match(load.out, /stopped; everything released/);
  } finally {
    await cleanup(e, load);
    await Deno.remove(`/dev/shm/${e.prefix}`).catch(() => {});
  }
}

Deno.test({
  name:
    "qemu seed flow: amp's firmware driven as the seed's (console, --start, plain verbs, twice)",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => seedFlow(DEMO_ELF, "amp", /msh \/>/),
});

Deno.test({
  name: "qemu seed flow: the seed's own RT-Thread image (AMP_TEST_SEED_ELF)",
  ignore: ignore || SEED === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => seedFlow(SEED!, "seed", /(msh|finsh) \/>/),
});
