/**
 * End to end on a real RISC-V core: the `qemu-rv64` machine through the
 * project's own Remoteproc + qemu-rv64 backend + lib/rpmsg driver, with the
 * demo firmware. Skipped when qemu-system-riscv64 is missing, except under
 * CI=true where that is a failure.
 */

import assert from "node:assert/strict";
import { isAmpError } from "../lib/errors.ts";
import { mapProfileRegions } from "../lib/machine/map.ts";
import { qemuRv64Profile } from "../lib/machine/profiles/qemu_rv64.ts";
import { qemuAvailable } from "../lib/machine/qemu/qemu_rv64.ts";
import { tagProgram } from "../lib/machine/qemu/_testing.ts";
import { buildElf } from "../lib/elf/writer.ts";
import { attachHost, clearDiag } from "../lib/machine/qemu/_rpmsg_host.ts";
import { waitUntil } from "../lib/machine/qemu/_wait.ts";
import { processesMapping, QemuRv64Backend } from "../lib/remoteproc/backends/qemu_rv64.ts";
import { Remoteproc } from "../lib/remoteproc/remoteproc.ts";
import { HostSession } from "../lib/host/session.ts";
import { readLiveTrace } from "../lib/diag/trace.ts";
import { dumpVdev } from "../lib/diag/vring_dump.ts";

const FW = new URL("../examples/firmware/rv64-virt/amp-demo.elf", import.meta.url);
const HAVE_QEMU = qemuAvailable();
const IN_CI = Deno.env.get("CI") === "true";
if (!HAVE_QEMU) {
  console.warn(
    "qemu-system-riscv64 not found: the QEMU end-to-end test is skipped " +
      "(apt-get install qemu-system-misc; with CI=true it fails instead)",
  );
}
const ignore = !HAVE_QEMU && !IN_CI;
const SERVICE = "rpmsg-openamp-demo-channel";

function uniqueName(): string {
  return `amp-e2e-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
}

async function echoRounds(rp: Remoteproc, rounds: number): Promise<void> {
  await clearDiag(rp);
  await rp.start();
  const host = await attachHost(rp);
  try {
    const got: Uint8Array[] = [];
    const ep = host.dev.createEndpoint({ name: SERVICE, onMessage: (d) => got.push(d.slice()) });
    assert.ok(
      await waitUntil(() => (host.dev.poll(), ep.ready), { timeoutMs: 5000 }),
      "the firmware announced its echo service",
    );
    assert.equal(host.dev.remoteServices.get(SERVICE), 1024);
    for (let i = 0; i < rounds; i++) {
      const p = new Uint8Array(1 + (i * 37) % host.dev.maxPayload).fill((i * 7) & 0xff);
      await ep.send(p, { deadlineMs: 5000 });
      assert.ok(
        await waitUntil(() => (host.dev.poll(), got.length === i + 1), { timeoutMs: 5000 }),
        `echo ${i} came back`,
      );
      assert.deepEqual(got[i], p);
    }
  } finally {
    host.close();
  }
}

Deno.test({
  name: "qemu e2e: CI has qemu-system-riscv64 installed",
  ignore: !IN_CI,
  fn() {
    assert.ok(HAVE_QEMU, "CI=true but qemu-system-riscv64 is not in PATH");
  },
});

Deno.test({
  name: "qemu e2e: Remoteproc load/start/echo/stop/load/start/echo on the qemu-rv64 machine",
  ignore,
  async fn() {
    const profile = qemuRv64Profile({ name: uniqueName() });
    const ramFile = profile.regions[0]!.backing.kind === "file"
      ? profile.regions[0]!.backing.path
      : "";
    const rp = new Remoteproc(profile, new QemuRv64Backend(profile));
    assert.ok(rp.backend instanceof QemuRv64Backend);
    try {
      const s1 = await rp.load(FW.pathname, { name: "amp-demo.elf" });
      assert.equal(s1.entry, 0x9020_0000);
      assert.equal(await rp.poll(), "offline"); // parked in the boot stub
      const backend = rp.backend as QemuRv64Backend;
      assert.deepEqual(
        processesMapping(ramFile).sort((a, b) => a - b),
        [backend.qemu!.pid, Deno.pid].sort((a, b) => a - b),
      );

      await echoRounds(rp, 40);
      assert.equal(await rp.poll(), "running");

      // Another process's view: the same regions mapped from the profile data alone.
      const other = await mapProfileRegions(profile);
      try {
        const trace = readLiveTrace(other, profile);
        assert.match(trace.text, /DRIVER_OK/);
        const dump = dumpVdev(other, profile, { last: 4 });
        assert.equal(dump.vdevs[0]?.statusNames.join("|"), "DRIVER_OK");
        const rx = dump.vdevs[0]!.vrings[0]!;
        assert.ok(rx.usedIdx > 0 && rx.lastUsed.length === 4);
        assert.ok(rx.lastUsed.every((m) => m.header?.ok === true && m.header.src === 1024));
      } finally {
        other.close();
      }

      await rp.stop();
      assert.equal(rp.state, "stopped");
      assert.equal(await rp.poll(), "offline");
      await assert.rejects(
        new QemuRv64Backend(profile).mapMemory(),
        (e) => isAmpError(e) && e.code === "QEMU_RAM_FILE_BUSY",
      );

      // Different code at the same address runs (no stale translations), then the demo again.
      const tagFw = buildElf({
        class: 64,
        machine: 243,
        entry: 0x9020_0000,
        segments: [{ paddr: 0x9020_0000, data: tagProgram(0x5a5a5), flags: 5 }],
      });
      const map = await rp.memory();
      map.get(0x9000_0060, 4).setU32(0x9000_0060, 0);
      await rp.load(tagFw, { name: "tag.elf" });
      await rp.start();
      assert.ok(
        await waitUntil(() => map.get(0x9000_0060, 4).u32(0x9000_0060) === 0x5a5a5000, {
          timeoutMs: 5000,
        }),
        "the new program ran instead of the old firmware",
      );
      await rp.stop();
      await rp.load(FW.pathname, { name: "amp-demo.elf" });
      await echoRounds(rp, 40);
      await rp.stop();
    } finally {
      await rp.close();
    }
    assert.throws(() => Deno.statSync(ramFile), Deno.errors.NotFound);
  },
});

Deno.test({
  name: "qemu e2e: `amp load` in one process owns QEMU; another talks rpmsg from the profile alone",
  ignore,
  async fn() {
    const name = uniqueName();
    const profile = qemuRv64Profile({ name });
    const dir = await Deno.makeTempDir({ prefix: "amp-e2e-" });
    const profilePath = `${dir}/machine.json`;
    await Deno.writeTextFile(profilePath, JSON.stringify(profile));
    const cli = new URL("../lib/cli/mod.ts", import.meta.url).href;
    const script = `import { main } from "${cli}";
      Deno.exit(await main(Deno.args));`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "-", "load", FW.pathname, "1", "--machine", profilePath],
      env: { AMP_STATE_DIR: dir },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(script));
    await w.close();
    const out = child.stdout.pipeThrough(new TextDecoderStream());
    let text = "";
    const reading = (async () => {
      for await (const c of out) text += c;
    })();
    let exited = false;
    child.status.then(() => (exited = true));
    try {
      assert.ok(
        await waitUntil(() => text.includes("running") || exited, { timeoutMs: 30000 }) &&
          !exited,
        `amp load did not start the remote: ${text}`,
      );
      const session = await HostSession.open(profile, { timeoutMs: 5000 });
      try {
        const ch = await session.channel(SERVICE);
        for (let i = 0; i < 20; i++) {
          const p = new TextEncoder().encode(`hello ${i}`);
          await ch.send(p);
          assert.deepEqual(await ch.recv(5000), p);
        }
        const view = await mapProfileRegions(profile);
        try {
          assert.match(readLiveTrace(view, profile).text, /vdev up/);
          const d = dumpVdev(view, profile, { last: 1 });
          assert.equal(d.vdevs[0]?.statusNames.join(), "DRIVER_OK");
          assert.equal(d.vdevs[0]?.vrings[1]?.lastAvail[0]?.header?.len, "hello 19".length);
        } finally {
          view.close();
        }
      } finally {
        await session.close();
      }
    } finally {
      child.kill("SIGTERM");
      const st = await child.status;
      await reading;
      const err = await new Response(child.stderr).text();
      assert.equal(st.code, 0, `amp load: ${text}\n${err}`);
      assert.match(text, /stopped; everything released/);
      await Deno.remove(dir, { recursive: true });
    }
    assert.throws(() => Deno.statSync(`/dev/shm/${name}`), Deno.errors.NotFound);
  },
});

Deno.test({
  name: "qemu e2e: `amp demo --machine qemu-rv64` runs every demo against the real firmware",
  ignore,
  async fn() {
    const name = uniqueName();
    const dir = await Deno.makeTempDir({ prefix: "amp-e2e-" });
    const profilePath = `${dir}/machine.json`;
    await Deno.writeTextFile(profilePath, JSON.stringify(qemuRv64Profile({ name })));
    try {
      const cli = new URL("../cli.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", cli, "demo", FW.pathname, "--machine", profilePath, "--json"],
        env: { AMP_STATE_DIR: dir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
      const report = JSON.parse(text);
      const results = JSON.stringify(report);
      for (const demo of ["sample", "msg-test", "matrix", "shmem"]) {
        assert.match(results, new RegExp(`"demo":"${demo}"`), `${demo} ran`);
      }
      assert.doesNotMatch(results, /"passed":false/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    assert.throws(() => Deno.statSync(`/dev/shm/${name}`), Deno.errors.NotFound);
  },
});
