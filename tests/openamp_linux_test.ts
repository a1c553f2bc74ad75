/**
 * amp on both sides of the openamp-linux machine (machines.md section 2) as
 * two real processes: the shm object laid out as upstream's Linux port does,
 * kicks as single bytes over the UNIX socket. Each test uses its own shm
 * name and socket path. No upstream OpenAMP is needed.
 */

import assert from "node:assert/strict";
import { runMatrix } from "../lib/apps/matrix.ts";
import { runMsgTest } from "../lib/apps/echo.ts";
import { runSample } from "../lib/apps/sample.ts";
import { HostSession } from "../lib/host/session.ts";
import { openampLinuxProfile } from "../lib/machine/profiles/openamp_linux.ts";
import { UnixSocketNotifier } from "../lib/notify/unix_socket.ts";
import { remoteServices, startLinuxRemote } from "../lib/device/mod.ts";
import { sleep } from "../lib/util/wait.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const WAIT_MS = 60_000;

function setup(tag: string) {
  const dir = Deno.makeTempDirSync({ prefix: `amp-oal-${tag}-` });
  const shmName = `amp-oal-${tag}-${Deno.pid}.shm`;
  const socketPath = `${dir}/event`;
  const profile = openampLinuxProfile({ shmName, socketPath });
  const machineFile = `${dir}/machine.json`;
  Deno.writeTextFileSync(machineFile, JSON.stringify(profile));
  return { dir, shmName, socketPath, profile, machineFile, shmPath: `/dev/shm/${shmName}` };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const end = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Start `amp ARGS` in the background. */
function spawnAmp(args: string[]) {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = p.output();
  return {
    async result(): Promise<{ code: number; out: string }> {
      const r = await output;
      const dec = new TextDecoder();
      return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
    },
    kill(signal: Deno.Signal = "SIGKILL") {
      try {
        p.kill(signal);
      } catch { /* exited */ }
    },
  };
}

/** Run `amp ARGS` to completion. */
function amp(args: string[]): Promise<{ code: number; out: string }> {
  return spawnAmp(args).result();
}

/** Start `amp remote SERVICES --shm-name ... --socket ... [--sessions N]` in the background. */
function ampRemote(t: ReturnType<typeof setup>, services: string[], sessions?: number) {
  const args = ["remote", ...services, "--shm-name", t.shmName, "--socket", t.socketPath];
  if (sessions !== undefined) args.push("--sessions", String(sessions));
  return spawnAmp(args);
}

/** The `finally` of every test with a remote process: stop it, remove its files. */
async function cleanUp(t: ReturnType<typeof setup>, remote: ReturnType<typeof spawnAmp>) {
  remote.kill();
  await remote.result();
  try {
    Deno.removeSync(t.shmPath);
  } catch { /* removed by the remote */ }
  Deno.removeSync(t.dir, { recursive: true });
}

Deno.test({
  name: "openamp-linux: amp remote and amp rpmsg as two processes (CLI on both sides)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t = setup("cli");
    const remote = ampRemote(t, ["echo", "sample", "matrix"], 3);
    try {
      await waitFor("the remote's socket", () => exists(t.socketPath));
      const common = ["--machine", t.machineFile, "--timeout", "30000"];
      const test = await amp(["rpmsg", "test", ...common]);
      assert.equal(test.code, 0, test.out);
      assert.match(test.out, /Test Results: Error count = 0/);
      assert.match(test.out, /PASS msg-test: 480 sent, 480 received, 0 errors/);
      const ping = await amp(["rpmsg", "ping", ...common]);
      assert.equal(ping.code, 0, ping.out);
      assert.match(ping.out, /PASS sample: 100 sent, 100 received, 0 errors/);
      const matrix = await amp(["rpmsg", "matrix", ...common]);
      assert.equal(matrix.code, 0, matrix.out);
      assert.match(matrix.out, /PASS matrix: 200 sent, 200 received, 0 errors/);
      const r = await remote.result();
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /stopped after 3 session\(s\)/);
      assert.equal(exists(t.socketPath), false, "socket file removed");
      assert.equal(exists(t.shmPath), false, "shm object removed");
    } finally {
      await cleanUp(t, remote);
    }
  },
});

Deno.test({
  name: "openamp-linux: the host verbs take --shm-name and --socket, as amp remote does",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t = setup("names");
    const remote = ampRemote(t, ["echo", "sample"], 3);
    try {
      await waitFor("the remote's socket", () => exists(t.socketPath));
      const names = [
        "--machine",
        "openamp-linux",
        "--shm-name",
        t.shmName,
        "--socket",
        t.socketPath,
      ];
      const test = await amp(["rpmsg", "test", ...names, "--timeout", "30000"]);
      assert.equal(test.code, 0, test.out);
      assert.match(test.out, /PASS msg-test: 480 sent, 480 received, 0 errors/);
      const ping = await amp(["rpmsg", "ping", ...names, "--timeout", "30000"]);
      assert.match(ping.out, /PASS sample: 100 sent, 100 received, 0 errors/);
      const dump = await amp(["vring", "dump", ...names]);
      assert.equal(dump.code, 0, dump.out);
      assert.match(dump.out, /vdev 0 at 0x14: id 7 \(rpmsg\)/);
      // Another machine has no socket to rename: refused in one line.
      const bad = await amp(["rpmsg", "ping", "--machine", "sim", "--socket", t.socketPath]);
      assert.equal(bad.code, 1, bad.out);
      assert.match(bad.out, /--socket: machine "sim" notifies by "poll-word", not a socket/);
    } finally {
      await cleanUp(t, remote);
    }
  },
});

Deno.test({
  name:
    "openamp-linux: amp rpmsg matrix finds a matrix daemon on the demo channel, like upstream's",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t = setup("mxd");
    // `matrix` alone takes "rpmsg-openamp-demo-channel", as upstream's matrix_multiplyd does.
    const remote = ampRemote(t, ["matrix"], 1);
    try {
      await waitFor("the remote's socket", () => exists(t.socketPath));
      const r = await amp(["rpmsg", "matrix", "--machine", t.machineFile, "--timeout", "30000"]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /Matrix multiply: "rpmsg-openamp-demo-channel" bound/);
      assert.match(r.out, /PASS matrix: 200 sent, 200 received, 0 errors/);
      assert.equal((await remote.result()).code, 0);
    } finally {
      await cleanUp(t, remote);
    }
  },
});

Deno.test({
  name: "openamp-linux: amp remote process, amp host in this process (socket kicks counted)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t = setup("host");
    const remote = ampRemote(t, ["matrix", "sample"], 1);
    try {
      await waitFor("the remote's socket", () => exists(t.socketPath));
      const notifier = await UnixSocketNotifier.connect(t.socketPath);
      const s = await HostSession.open(t.profile, { notifier, timeoutMs: 30_000 });
      // matrix alone with sample: it takes the demo channel's name, as upstream's daemon.
      const ch = await s.channel("rpmsg-openamp-demo-channel");
      // Longer than the remote's active window (5 ms): it has stopped looking at
      // the rings and lifted its NO_NOTIFY, so the first message must be kicked.
      // Without the pause a remote quick enough (a primed one) may poll through
      // the whole session and need no kick from this side.
      await sleep(100);
      const m = await runMatrix(ch, { timeoutMs: 30_000 });
      assert.equal(m.errors, 0, m.failures.join("; "));
      assert.equal(m.received, 200);
      const sm = await runSample(await s.channel("rpmsg-client-sample"), { timeoutMs: 30_000 });
      assert.equal(sm.errors, 0, sm.failures.join("; "));
      assert.equal(sm.received, 100);
      // At most one kick per message each way: none while the remote drains
      // vring1 with NO_NOTIFY set (every message still arrived, see above);
      // the remote's kick bytes reach this side (the remote never kicks more
      // often than it sends).
      assert.ok(s.device.stats.kicks > 0);
      assert.ok(s.device.stats.kicks <= s.device.stats.txMessages);
      await waitFor("a kick byte from the remote", () => notifier.bytesReceived > 0);
      assert.ok(notifier.bytesReceived <= s.device.stats.rxMessages + 2);
      await s.close();
      const r = await remote.result();
      assert.equal(r.code, 0, r.out);
    } finally {
      await cleanUp(t, remote);
    }
  },
});

Deno.test({
  name: "openamp-linux: amp remote in this process, amp rpmsg host process",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t = setup("dev");
    const remote = await startLinuxRemote({
      profile: t.profile,
      services: remoteServices(["echo", "sample", "matrix"]),
      // No active window: the remote blocks between messages instead of
      // polling (a polling remote mutes the host's kicks and may need none in
      // a whole session), so the host's kicks must cross the socket.
      activeWindowMs: 0,
    });
    try {
      const common = ["--machine", t.machineFile, "--timeout", "30000"];
      const test = await amp(["rpmsg", "test", ...common]);
      assert.equal(test.code, 0, test.out);
      assert.match(test.out, /PASS msg-test: 480 sent, 480 received, 0 errors/);
      const ping = await amp(["rpmsg", "ping", ...common]);
      assert.equal(ping.code, 0, ping.out);
      assert.match(ping.out, /PASS sample: 100 sent, 100 received, 0 errors/);
      await waitFor("two sessions to end", () => remote.sessionsEnded >= 2);
      assert.equal(remote.sessions, 2);
      assert.equal(remote.device.stats.drops.size, 0);
      // The driver's kicks arrived over the socket.
      assert.ok(remote.kickBytesReceived > 0, `${remote.kickBytesReceived} kick bytes`);
    } finally {
      await remote.stop();
      Deno.removeSync(t.dir, { recursive: true });
    }
    assert.equal(exists(t.socketPath), false);
    assert.equal(exists(t.shmPath), false);
  },
});

Deno.test({
  name: "openamp-linux: msg-test sweep 1..480 with the host in this process; SIGTERM cleans up",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t = setup("sweep");
    const remote = ampRemote(t, ["echo"]);
    try {
      await waitFor("the remote's socket", () => exists(t.socketPath));
      const s = await HostSession.open(t.profile, { timeoutMs: 30_000 });
      const r = await runMsgTest(await s.channel("rpmsg-openamp-demo-channel"), {
        wordSize: 8,
        minSize: 1,
        maxSize: 480,
        timeoutMs: 30_000,
      });
      await s.close();
      assert.equal(r.errors, 0, r.failures.join("; "));
      assert.equal(r.sent, 480);
      assert.equal(r.received, 480);
      // Ctrl+C: the remote exits 0 and removes its socket file and shm object.
      remote.kill("SIGTERM");
      const done = await remote.result();
      assert.equal(done.code, 0, done.out);
      assert.match(done.out, /stopped after 1 session\(s\)/);
      assert.equal(exists(t.socketPath), false);
      assert.equal(exists(t.shmPath), false);
    } finally {
      await cleanUp(t, remote);
    }
  },
});
