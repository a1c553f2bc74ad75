/**
 * End to end on a real RISC-V core: the `qemu-rv64` machine (OpenSBI + amp's
 * SBI agent; the firmware entered in S-mode through SBI HSM) through the
 * project's own Remoteproc + qemu-rv64 backend + lib/rpmsg driver and host
 * session, with the demo firmware driven as the seed's RT-Thread image is:
 * each demo typed at its shell prompt on the console socket. Skipped when
 * qemu-system-riscv64 is missing, except under CI=true where that is a
 * failure.
 */

import assert from "node:assert/strict";
import { isAmpError } from "../lib/errors.ts";
import { mapProfileRegions } from "../lib/machine/map.ts";
import { qemuRv64Profile } from "../lib/machine/profiles/qemu_rv64.ts";
import { qemuAvailable } from "../lib/qemu/qemu.ts";
import {
  PROMPT,
  SHMEM_PA,
  tagProgram,
  typeDemoCommand,
  waitDemoEnd,
  waitPrompt,
} from "../lib/qemu/_testing.ts";
import type { QemuConsole } from "../lib/qemu/console.ts";
import { buildElf } from "../lib/elf/writer.ts";
import { attachHost, clearDiag } from "../lib/qemu/_testing_rpmsg.ts";
import type { MemoryRegion } from "../lib/mem/region.ts";
import { runSample, SAMPLE_SERVICE } from "../lib/apps/sample.ts";
import { ECHO_SERVICE, runMsgTest } from "../lib/apps/echo.ts";
import { runMatrix } from "../lib/apps/matrix.ts";
import { runShmemDemo } from "../lib/apps/shmem.ts";
import type { DemoResult } from "../lib/apps/channel.ts";
import type { MachineProfile } from "../lib/machine/types.ts";
import type { MemoryMap } from "../lib/mem/memory_map.ts";
import { waitUntil } from "../lib/util/wait.ts";
import { processesMapping, QemuRv64Backend } from "../lib/qemu/backend.ts";
import { Remoteproc } from "../lib/remoteproc/remoteproc.ts";
import { HostSession } from "../lib/host/session.ts";
import { openDemoSession } from "../lib/demos/run.ts";
import { liveEntries } from "../lib/runtime/status.ts";
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

/**
 * Type rpmsg_update, attach lib/rpmsg through the fixture, echo `rounds`
 * messages, run `during` while the app runs, end the app with the shutdown
 * message and see the prompt again.
 */
async function echoRounds(
  rp: Remoteproc,
  con: QemuConsole,
  shm: MemoryRegion,
  rounds: number,
  during?: () => Promise<void>,
): Promise<void> {
  await typeDemoCommand(con, shm, "rpmsg_update");
  const host = await attachHost(rp);
  try {
    const got: Uint8Array[] = [];
    const ep = host.dev.createEndpoint({ name: SERVICE, onMessage: (d) => got.push(d.slice()) });
    assert.ok(
      await waitUntil(() => (host.dev.poll(), ep.ready), { deadlineMs: 5000 }),
      "the firmware announced its echo service",
    );
    assert.equal(host.dev.remoteServices.get(SERVICE), 1024);
    for (let i = 0; i < rounds; i++) {
      const p = new Uint8Array(1 + (i * 37) % host.dev.maxPayload).fill((i * 7) & 0xff);
      await ep.send(p, { deadlineMs: 5000 });
      assert.ok(
        await waitUntil(() => (host.dev.poll(), got.length === i + 1), { deadlineMs: 5000 }),
        `echo ${i} came back`,
      );
      assert.deepEqual(got[i], p);
    }
    await during?.();
    const stop = new Uint8Array(4);
    new DataView(stop.buffer).setUint32(0, 0xef56a55a, true);
    await ep.send(stop, { deadlineMs: 5000 });
    await con.expect("shutdown message is received.");
    await waitDemoEnd(con);
    assert.equal(got.length, rounds, "the shutdown message is not echoed");
  } finally {
    host.close();
  }
}

/**
 * Every demo through the host session (lib/host) and the demo runners
 * (lib/apps), each started by its command at the prompt.
 */
async function sessionDemos(
  profile: MachineProfile,
  map: MemoryMap,
  con: QemuConsole,
): Promise<void> {
  const shm = map.get(0x9010_0000, 0x8_0000);
  const viaSession = async (
    command: string,
    run: (s: HostSession) => Promise<DemoResult>,
  ) => {
    await typeDemoCommand(con, shm, command);
    const s = await HostSession.open(profile, { memory: map, timeoutMs: 5000 });
    let r: DemoResult;
    try {
      r = await run(s);
    } finally {
      await s.close(); // destroys the host's endpoint and resets the vdev: the app ends
    }
    assert.ok(r.passed, `${command}: ${r.failures.join("; ")}`);
    await waitDemoEnd(con);
    return r;
  };
  const sample = await viaSession(
    "rpmsg_echo",
    async (s) => runSample(await s.channel(SAMPLE_SERVICE), { timeoutMs: 5000 }),
  );
  assert.equal(sample.received, 100);
  assert.match(con.text, /reach message limit, exit/);
  await viaSession(
    "rpmsg_update",
    async (s) =>
      runMsgTest(await s.channel(ECHO_SERVICE), {
        wordSize: profile.wordSize,
        maxSize: 64,
        timeoutMs: 5000,
      }),
  );
  await viaSession(
    "matrix_multiplyd",
    async (s) => runMatrix(await s.channel(ECHO_SERVICE), { count: 20, timeoutMs: 5000 }),
  );
  await typeDemoCommand(con, shm, "shmem_demod");
  const r = await runShmemDemo(map.get(SHMEM_PA, 0xc00), SHMEM_PA, { count: 5, timeoutMs: 5000 });
  assert.ok(r.passed, r.failures.join("; "));
  await waitDemoEnd(con);
}

Deno.test({
  name: "qemu e2e: CI has qemu-system-riscv64 installed",
  ignore: !IN_CI,
  fn() {
    assert.ok(HAVE_QEMU, "CI=true but qemu-system-riscv64 is not in PATH");
  },
});

Deno.test({
  name:
    "qemu e2e: Remoteproc load/start; every demo typed at the prompt twice (lib/rpmsg, host session); stop; other code; the demo again",
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
      assert.equal(await rp.poll(), "offline"); // SBI HSM STOPPED
      const backend = rp.backend as QemuRv64Backend;
      assert.equal(backend.qemu?.boot, "sbi");
      assert.deepEqual(
        processesMapping(ramFile).sort((a, b) => a - b),
        [backend.qemu!.pid, Deno.pid].sort((a, b) => a - b),
      );
      const map = await rp.memory();
      const shm = map.get(0x9010_0000, 0x8_0000);
      const con = await backend.qemu!.connectConsole();
      try {
        await clearDiag(rp);
        await rp.start();
        assert.equal(await rp.poll(), "running"); // SBI HSM STARTED
        await waitPrompt(con);

        // Twice in a row on the running firmware: lib/rpmsg through the fixture,
        // then every demo through the host session.
        for (let round = 0; round < 2; round++) {
          await echoRounds(rp, con, shm, 40, async () => {
            // Another process's view while the app runs: the same regions
            // mapped from the profile data alone.
            const other = await mapProfileRegions(profile);
            try {
              const trace = readLiveTrace(other, profile);
              assert.match(trace.text, /DRIVER_OK|vdev up/);
              const dump = dumpVdev(other, profile, { last: 4 });
              assert.equal(dump.vdevs[0]?.statusNames.join("|"), "DRIVER_OK");
              const rx = dump.vdevs[0]!.vrings[0]!;
              assert.ok(rx.usedIdx > 0 && rx.lastUsed.length === 4);
              assert.ok(rx.lastUsed.every((m) => m.header?.ok === true && m.header.src === 1024));
            } finally {
              other.close();
            }
          });
          await sessionDemos(profile, map, con);
        }
        assert.equal(con.text.split(PROMPT).length - 1, 11); // boot + 10 demos

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
        map.get(0x9000_0060, 4).setU32(0x9000_0060, 0);
        await rp.load(tagFw, { name: "tag.elf" });
        await rp.start();
        assert.ok(
          await waitUntil(() => map.get(0x9000_0060, 4).u32(0x9000_0060) === 0x5a5a5000, {
            deadlineMs: 5000,
          }),
          "the new program ran instead of the old firmware",
        );
        await rp.stop();
        await rp.load(FW.pathname, { name: "amp-demo.elf" });
        await clearDiag(rp);
        await rp.start();
        await waitPrompt(con);
        await echoRounds(rp, con, shm, 10);
        await rp.stop();
      } finally {
        con.close();
      }
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
        await waitUntil(() => text.includes("running") || exited, { deadlineMs: 30000 }) &&
          !exited,
        `amp load did not start the remote: ${text}`,
      );
      // The firmware waits at its prompt: the demo layer types rpmsg_update (its
      // shell offers it) and waits for the application by protocol.
      const [entry] = await liveEntries({ dir });
      assert.ok(entry?.shell?.includes("rpmsg_update"), JSON.stringify(entry));
      const session = await openDemoSession("test", profile, {
        entry,
        timeoutMs: 5000,
        lockDir: dir,
      });
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
