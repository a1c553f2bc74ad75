/**
 * The whole story across real processes on the `sim` machine: `amp load`
 * (which starts the simulated remote as a child process), every demo verb run
 * twice from other processes, `amp status --json`, `amp stop`, and checks that
 * nothing is left behind (shm objects, the remote process, state entries).
 */

import assert from "node:assert/strict";
import { processInfo } from "../lib/runtime/process.ts";
import {
  cleanup,
  DEMO_ELF,
  type Env,
  LoadProcess,
  runAmp,
  SEED_ELF,
  setup as setupEnv,
  shmLeft,
} from "./_cli_env.ts";

const setup = (tag: string) => setupEnv("e2e", tag);
const amp = (e: Env, ...args: string[]) => runAmp(e, args);

function checkDemo(
  r: { code: number; out: string; err: string },
  demo: string,
  extra?: string,
): void {
  assert.equal(r.code, 0, `${demo}: exit ${r.code}\n${r.out}\n${r.err}${extra ?? ""}`);
  assert.match(r.out, new RegExp(`^PASS ${demo}: `, "m"), r.out);
  assert.doesNotMatch(r.out, /^FAIL/m);
}

Deno.test({
  name: "e2e sim: amp load seed-layout.elf 1, every demo twice, status, stop, nothing left",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("seed");
    let load: LoadProcess | undefined;
    try {
      // No remote yet: a demo fails clearly.
      const none = await amp(e, "rpmsg", "ping");
      assert.equal(none.code, 1, none.out + none.err);
      assert.match(none.err, /^amp: No running remote/);

      load = new LoadProcess(e, [SEED_ELF, "1", "--machine", "sim"]);
      await load.waitFor(/^Remote cpu 1 running .*seed-layout\.elf on machine "sim"/m);
      assert.match(load.out, /the firmware's code is not executed/);
      assert.match(load.out, /vring0: 0x90160000 \(assigned\), 256 entries/);
      const simPid = load.simPid();
      assert.ok(processInfo(simPid).alive);
      assert.equal(shmLeft(e.prefix).length, 3);

      // A second load of the same cpu is refused while the first owns it.
      const busy = await amp(e, "load", SEED_ELF, "1", "--machine", "sim");
      assert.equal(busy.code, 1);
      assert.match(busy.err, /is owned by amp process/);

      for (let round = 1; round <= 2; round++) {
        const ping = await amp(e, "rpmsg", "ping");
        checkDemo(ping, "sample");
        assert.match(ping.out, /100 sent, 100 received, 0 errors/);
        const test = await amp(e, "rpmsg", "test");
        checkDemo(test, "msg-test");
        assert.match(test.out, /^ Test Results: Error count = 0$/m);
        assert.match(test.out, /480 sent, 480 received/);
        const matrix = await amp(e, "rpmsg", "matrix");
        checkDemo(matrix, "matrix");
        assert.match(matrix.out, /200 sent, 200 received/);
        const shm = await amp(e, "shmem", "demo");
        checkDemo(shm, "shmem", load.out);
        assert.match(shm.out, /^Shared memory demo: Passed\.$/m);
      }

      const json = await amp(e, "rpmsg", "test", "--size", "16", "--count", "2", "--json");
      assert.equal(json.code, 0, json.err);
      const r = JSON.parse(json.out);
      assert.equal(r.passed, true);
      assert.equal(r.received, 32);

      const send = await amp(
        e,
        "rpmsg",
        "send",
        "rpmsg-openamp-demo-channel",
        "hi",
        "there",
        "--replies",
        "1",
      );
      assert.equal(send.code, 0, send.out + send.err);
      assert.match(send.out, /^reply 1: 8 bytes: hi there$/m);

      const missing = await amp(e, "rpmsg", "listen", "no-such-service", "--timeout", "300");
      assert.equal(missing.code, 1);
      assert.match(missing.err, /announce "no-such-service".*"rpmsg-openamp-demo-channel"/);

      const st = await amp(e, "status", "--json");
      assert.equal(st.code, 0, st.err);
      const entries = JSON.parse(st.out).entries;
      assert.equal(entries.length, 1);
      assert.equal(entries[0].cpu, 1);
      assert.equal(entries[0].machine, "sim");
      assert.equal(entries[0].state, "running");
      assert.equal(entries[0].stale, false);
      assert.match(entries[0].firmware, /seed-layout\.elf$/);

      const stop = await amp(e, "stop", "1");
      assert.equal(stop.code, 0, stop.err);
      assert.match(stop.out, /Remote cpu 1 \(sim\) stopped/);
      assert.equal(await load.done, 0, load.out + load.err);
      assert.match(load.out, /Remote cpu 1 stopped; everything released\./);
      // 2 rounds x 3 rpmsg demos + json test + send + listen = 9 host sessions.
      assert.match(load.out, /sim: stopped after 9 host session\(s\)/);
      assert.equal(processInfo(simPid).alive, false, `sim process ${simPid} still alive`);
      assert.deepEqual(shmLeft(e.prefix), []);
      const after = await amp(e, "status", "--json");
      assert.deepEqual(JSON.parse(after.out).entries, []);
      const again = await amp(e, "stop", "1");
      assert.equal(again.code, 1);
      assert.match(again.err, /No amp process owns remote cpu 1/);
      load = undefined;
    } finally {
      await cleanup(e, load);
    }
  },
});

Deno.test({
  name: "e2e sim: the rv64 demo firmware's table; SIGINT to amp load stops and releases",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("fw");
    let load: LoadProcess | undefined;
    try {
      load = new LoadProcess(e, [DEMO_ELF, "1", "--machine", "sim"]);
      await load.waitFor(/^Remote cpu 1 running .*amp-demo\.elf/m);
      assert.match(load.out, /trace "trace0" at 0x90240000, 4096 bytes/);
      const simPid = load.simPid();
      checkDemo(await amp(e, "rpmsg", "ping", "--cpu", "1"), "sample");
      checkDemo(await amp(e, "rpmsg", "matrix", "--count", "5"), "matrix");
      checkDemo(await amp(e, "shmem", "demo", "--count", "3"), "shmem");
      load.child.kill("SIGINT");
      assert.equal(await load.done, 0, load.out + load.err);
      assert.match(load.out, /everything released/);
      assert.equal(processInfo(simPid).alive, false);
      assert.deepEqual(shmLeft(e.prefix), []);
      load = undefined;
    } finally {
      await cleanup(e, load);
    }
  },
});

Deno.test({
  name: "e2e sim: amp demo runs the whole story in one command",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("demo");
    try {
      const r = await amp(e, "demo", DEMO_ELF, "--machine", "sim");
      assert.equal(r.code, 0, r.out + r.err);
      for (const d of ["sample", "msg-test", "matrix", "shmem"]) {
        assert.match(r.out, new RegExp(`^PASS ${d}: `, "m"));
      }
      assert.match(r.out, /^== summary: 4\/4 demos passed/m);
      assert.match(r.out, /^PASS demo$/m);
      assert.deepEqual(shmLeft(e.prefix), []);
      const st = await amp(e, "status", "--json");
      assert.deepEqual(JSON.parse(st.out).entries, []);
    } finally {
      await cleanup(e);
    }
  },
});

async function waitGone(pid: number, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (processInfo(pid).alive) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

Deno.test({
  name: "e2e sim: a crashed remote process makes amp load exit 1 after releasing everything",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("crash");
    let load: LoadProcess | undefined;
    try {
      load = new LoadProcess(e, [SEED_ELF, "1", "--machine", "sim"]);
      await load.waitFor(/^Remote cpu 1 running/m);
      Deno.kill(load.simPid(), "SIGKILL");
      assert.equal(await load.done, 1, load.out + load.err);
      assert.match(load.out, /Remote cpu 1 stopped unexpectedly: the simulated remote exited/);
      assert.deepEqual(shmLeft(e.prefix), []);
      const st = await amp(e, "status", "--json");
      assert.deepEqual(JSON.parse(st.out).entries, []);
      load = undefined;
    } finally {
      await cleanup(e, load);
    }
  },
});

Deno.test({
  name: "e2e sim: when amp load is killed the remote process exits; the stale entry is reported",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("kill");
    let load: LoadProcess | undefined;
    try {
      load = new LoadProcess(e, [SEED_ELF, "1", "--machine", "sim"]);
      await load.waitFor(/^Remote cpu 1 running/m);
      const simPid = load.simPid();
      load.child.kill("SIGKILL");
      await load.done;
      assert.ok(await waitGone(simPid), `sim process ${simPid} outlived its parent`);
      const st = await amp(e, "status", "--json");
      const entries = JSON.parse(st.out).entries;
      assert.equal(entries.length, 1);
      assert.equal(entries[0].stale, true);
      assert.equal(entries[0].state, "stale");
      const stop = await amp(e, "stop", "1");
      assert.equal(stop.code, 0, stop.err);
      assert.match(stop.out, /was already gone; entry removed/);
      // A new load on the same machine takes over the left-over shm objects and removes them.
      load = new LoadProcess(e, [SEED_ELF, "1", "--machine", "sim"]);
      await load.waitFor(/^Remote cpu 1 running/m);
      checkDemo(await amp(e, "rpmsg", "ping"), "sample");
      load.child.kill("SIGTERM");
      assert.equal(await load.done, 0, load.out + load.err);
      assert.deepEqual(shmLeft(e.prefix), []);
      load = undefined;
    } finally {
      await cleanup(e, load);
    }
  },
});
