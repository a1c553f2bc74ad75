/**
 * `amp load --reload` across real processes: the running `amp load` (the
 * owner) is handed new firmware, stops the core, loads it through the same
 * backend and starts it again without exiting. On the `sim` machine always;
 * on `qemu-rv64` when qemu-system-riscv64 is installed (same QEMU process).
 */

import assert from "node:assert/strict";
import { buildElf } from "../lib/elf/writer.ts";
import { qemuRv64Profile } from "../lib/machine/profiles/qemu_rv64.ts";
import { qemuAvailable } from "../lib/qemu/qemu.ts";
import { tagProgram } from "../lib/qemu/_testing.ts";
import { waitUntil } from "../lib/util/wait.ts";
import { mapProfileRegions } from "../lib/machine/map.ts";
import { processInfo } from "../lib/runtime/process.ts";
import { processesMapping } from "../lib/qemu/backend.ts";
import {
  cleanup,
  DEMO_ELF,
  type Env,
  LoadProcess,
  type Result,
  runAmp,
  SEED_ELF,
  setup as setupEnv,
  shmLeft,
} from "./_cli_env.ts";

const setup = (tag: string) => setupEnv("reload", tag);
const amp = (e: Env, args: string[], script?: string) => runAmp(e, args, script);

async function status(e: Env, script?: string): Promise<Record<string, unknown>[]> {
  const st = await amp(e, ["status", "--json"], script);
  assert.equal(st.code, 0, st.err);
  return JSON.parse(st.out).entries;
}

function oneLine(r: Result): string {
  const lines = r.err.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, r.err);
  return lines[0]!;
}

Deno.test({
  name: "reload sim: seed-layout.elf, then --reload amp-demo.elf in the same owner; bad images",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("sim");
    let owner: LoadProcess | undefined;
    try {
      // Nothing owns the cpu: --reload says so and starts nothing.
      const none = await amp(e, ["load", "--reload", DEMO_ELF, "1", "--machine", "sim"]);
      assert.equal(none.code, 1, none.out + none.err);
      assert.match(
        oneLine(none),
        /^amp: Cannot reload remote cpu 1 .*no running amp process owns it/,
      );

      owner = new LoadProcess(e, [SEED_ELF, "1", "--machine", "sim"]);
      await owner.waitFor(/^Remote cpu 1 running .*seed-layout\.elf on machine "sim"/m);
      const ownerPid = owner.child.pid;
      const firstSim = owner.simPids()[0]!;

      // Without --reload a busy cpu is still refused, with the hint.
      const busy = await amp(e, ["load", DEMO_ELF, "1", "--machine", "sim"]);
      assert.equal(busy.code, 1);
      assert.match(oneLine(busy), /is owned by amp process \d+ .*amp load --reload <fw\.elf> 1/);

      // --timeout belongs to --reload.
      const usage = await amp(e, ["load", DEMO_ELF, "1", "--timeout", "5"]);
      assert.equal(usage.code, 2, usage.err);

      const ok = await amp(e, ["load", "--reload", DEMO_ELF, "1"]);
      assert.equal(ok.code, 0, ok.out + ok.err + owner.out);
      assert.match(ok.out, /^Remote cpu 1 running .*amp-demo\.elf on machine "sim" .*reloaded/m);
      let entries = await status(e);
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.pid, ownerPid);
      assert.equal(entries[0]!.state, "running");
      assert.equal(entries[0]!.firmware, DEMO_ELF);
      // The simulated remote was restarted with the new image's table.
      const sims = owner.simPids();
      assert.equal(sims.length, 2, owner.out);
      assert.equal(processInfo(firstSim).alive, false);
      assert.match(owner.out, /table from 0x90200100[\s\S]*table from 0x(?!90200100)/);
      const ping = await amp(e, ["rpmsg", "ping"]);
      assert.equal(ping.code, 0, ping.out + ping.err);
      assert.match(ping.out, /^PASS sample: 100 sent, 100 received, 0 errors/m);

      // A corrupt image is refused here; the running firmware is untouched.
      const corrupt = `${e.dir}/corrupt.elf`;
      await Deno.writeFile(corrupt, (await Deno.readFile(DEMO_ELF)).slice(0, 100));
      const bad = await amp(e, ["load", "--reload", corrupt, "1"]);
      assert.equal(bad.code, 1, bad.out + bad.err);
      assert.match(oneLine(bad), /^amp: .*corrupt\.elf/);
      // An image the requester accepts but the owner refuses before stopping:
      // the sim machine needs a resource table.
      const noRsc = `${e.dir}/no-rsc.elf`;
      await Deno.writeFile(
        noRsc,
        buildElf({
          class: 64,
          entry: 0x9020_0000,
          segments: [{ paddr: 0x9020_0000, data: new Uint8Array(64) }],
        }),
      );
      const refused = await amp(e, ["load", "--reload", noRsc, "1"]);
      assert.equal(refused.code, 1, refused.out + refused.err);
      assert.match(
        oneLine(refused),
        /^amp: Reload refused, remote cpu 1 still running with .*amp-demo\.elf: .*no-rsc\.elf" has none/,
      );
      entries = await status(e);
      assert.equal(entries[0]!.pid, ownerPid);
      assert.equal(entries[0]!.state, "running");
      assert.equal(entries[0]!.firmware, DEMO_ELF);
      assert.equal(owner.simPids().length, 2, "the simulated remote was not restarted");
      assert.ok(processInfo(sims[1]!).alive);
      const again = await amp(e, ["rpmsg", "ping", "--count", "5"]);
      assert.equal(again.code, 0, again.out + again.err);

      const stop = await amp(e, ["stop", "1"]);
      assert.equal(stop.code, 0, stop.err);
      assert.equal(await owner.done, 0, owner.out + owner.err);
      assert.match(owner.out, /Remote cpu 1 stopped; everything released\./);
      assert.equal(processInfo(sims[1]!).alive, false);
      assert.deepEqual(shmLeft(e.prefix), []);
      owner = undefined;
    } finally {
      await cleanup(e, owner);
    }
  },
});

const HAVE_QEMU = qemuAvailable();

Deno.test({
  name: "reload qemu-rv64: two images through one `amp load`, the same QEMU process",
  ignore: !HAVE_QEMU && Deno.env.get("CI") !== "true",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("qemu");
    const name = `amp-reload-${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
    const profile = qemuRv64Profile({ name });
    const profilePath = `${e.dir}/machine.json`;
    await Deno.writeTextFile(profilePath, JSON.stringify(profile));
    const ramFile = `/dev/shm/${name}`;
    const cli = new URL("../lib/cli/mod.ts", import.meta.url).href;
    const script = `import { main } from "${cli}";
      Deno.exit(await main(Deno.args));`;
    const tagElf = `${e.dir}/tag.elf`;
    await Deno.writeFile(
      tagElf,
      buildElf({
        class: 64,
        machine: 243,
        entry: 0x9020_0000,
        segments: [{ paddr: 0x9020_0000, data: tagProgram(0x5a5a5), flags: 5 }],
      }),
    );
    let owner: LoadProcess | undefined;
    try {
      owner = new LoadProcess(e, [DEMO_ELF, "1", "--machine", profilePath], script);
      await owner.waitFor(/^Remote cpu 1 running .*amp-demo\.elf/m);
      const qemuPids = () => processesMapping(ramFile).filter((p) => p !== owner!.child.pid);
      const qemu = qemuPids();
      assert.equal(qemu.length, 1, `QEMU maps the RAM file: ${qemu}`);

      const tag = await amp(e, ["load", "--reload", tagElf, "1"], script);
      assert.equal(tag.code, 0, tag.out + tag.err + owner.out);
      assert.match(tag.out, /running .*tag\.elf on machine/);
      const view = await mapProfileRegions(profile);
      try {
        assert.ok(
          await waitUntil(() => view.get(0x9000_0060, 4).u32(0x9000_0060) === 0x5a5a5000, {
            deadlineMs: 10_000,
          }),
          "the tag program ran",
        );
      } finally {
        view.close();
      }
      assert.deepEqual(qemuPids(), qemu, "the same QEMU process");

      const back = await amp(e, ["load", "--reload", DEMO_ELF, "1"], script);
      assert.equal(back.code, 0, back.out + back.err + owner.out);
      const entries = await status(e, script);
      assert.equal(entries[0]!.pid, owner.child.pid);
      assert.equal(entries[0]!.firmware, DEMO_ELF);
      assert.equal(entries[0]!.state, "running");
      const ping = await amp(e, ["rpmsg", "ping", "--count", "10"], script);
      assert.equal(ping.code, 0, ping.out + ping.err);
      assert.match(ping.out, /^PASS sample: /m);
      assert.deepEqual(qemuPids(), qemu, "the same QEMU process");

      owner.child.kill("SIGTERM");
      assert.equal(await owner.done, 0, owner.out + owner.err);
      owner = undefined;
      assert.throws(() => Deno.statSync(ramFile), Deno.errors.NotFound);
    } finally {
      await cleanup(e, owner);
    }
  },
});
