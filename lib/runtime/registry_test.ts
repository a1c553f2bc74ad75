import assert from "node:assert/strict";
import { AmpError, ConfigError, TimeoutError } from "../errors.ts";
import { isStale, processInfo } from "./process.ts";
import {
  defaultStateDir,
  MAX_END_RECORDS,
  registerRun,
  releaseStale,
  StateFile,
} from "./registry.ts";
import { statusReport, whyStopped } from "./status.ts";

import { deadPid, entry, startScript, withDir } from "./_testing.ts";

const STATE_MODULE = new URL("./registry.ts", import.meta.url).href;

Deno.test("defaultStateDir follows AMP_STATE_DIR, XDG_RUNTIME_DIR, then /tmp/amp-<uid>", () => {
  assert.equal(defaultStateDir({ AMP_STATE_DIR: "/a", XDG_RUNTIME_DIR: "/run/user/1" }), "/a");
  assert.equal(defaultStateDir({ XDG_RUNTIME_DIR: "/run/user/1/" }), "/run/user/1/amp");
  assert.equal(defaultStateDir({}, 1000), "/tmp/amp-1000");
  const saved = Deno.env.get("AMP_STATE_DIR");
  Deno.env.set("AMP_STATE_DIR", "/tmp/x-amp");
  try {
    assert.equal(new StateFile().path, "/tmp/x-amp/state.json");
  } finally {
    if (saved === undefined) Deno.env.delete("AMP_STATE_DIR");
    else Deno.env.set("AMP_STATE_DIR", saved);
  }
});

Deno.test("processInfo and isStale: live, dead, reused pids", async () => {
  const me = processInfo(Deno.pid);
  assert.ok(me.alive && typeof me.start === "number");
  assert.equal(processInfo(await deadPid()).alive, false);
  assert.equal(processInfo(0).alive, false);
  assert.ok(!isStale(entry({ pidStart: me.start! })));
  assert.ok(isStale(entry({ pidStart: me.start! + 1 })), "pid reused by a later process");
  assert.ok(isStale(entry({ pid: await deadPid() })));
});

Deno.test("registerRun records, updates and releases; a second owner is refused", async () => {
  await withDir(async (dir) => {
    const run = await registerRun({ cpu: 1, machine: "sim", firmware: "/fw/a.elf" }, { dir });
    let s = await statusReport({ dir });
    assert.equal(s.length, 1);
    assert.equal(s[0]!.pid, Deno.pid);
    assert.equal(s[0]!.state, "loaded");
    assert.equal(s[0]!.stale, false);
    assert.equal(s[0]!.firmware, "/fw/a.elf");
    assert.ok(!Number.isNaN(Date.parse(s[0]!.startedAt)));
    await run.update("running");
    assert.equal((await statusReport({ dir }))[0]!.state, "running");

    // A live other owner (pid 1 is alive) blocks registration.
    await new StateFile({ dir }).update((st) => {
      st.entries.push(entry({ cpu: 2, pid: 1, machine: "rv64-virt" }));
    });
    await assert.rejects(
      registerRun({ cpu: 2, machine: "rv64-virt", firmware: "b.elf" }, { dir }),
      (e: unknown) => {
        assert.ok(e instanceof AmpError && e.code === "CPU_BUSY");
        assert.match(e.message, /owned by amp process 1 .*run "amp stop 2" first/);
        return true;
      },
    );
    // The same cpu number on another machine is independent.
    const other = await registerRun({ cpu: 2, machine: "sim", firmware: "c.elf" }, { dir });
    s = await statusReport({ dir });
    assert.deepEqual(s.map((e) => [e.machine, e.cpu]), [["rv64-virt", 2], ["sim", 1], ["sim", 2]]);

    await run.release();
    await run.release();
    await other.release();
    s = await statusReport({ dir });
    assert.deepEqual(s.map((e) => [e.machine, e.cpu, e.pid]), [["rv64-virt", 2, 1]]);
  });
});

Deno.test("a stale entry is reported, replaced by a new owner, and pruned on request", async () => {
  await withDir(async (dir) => {
    const dead = await deadPid();
    await new StateFile({ dir }).update((st) => {
      st.entries.push(entry({ pid: dead }), entry({ cpu: 3, pid: dead }));
    });
    const s = await statusReport({ dir });
    assert.deepEqual(s.map((e) => [e.cpu, e.stale]), [[1, true], [3, true]]);
    const run = await registerRun({ cpu: 1, machine: "sim", firmware: "x" }, { dir });
    assert.deepEqual(
      (await statusReport({ dir })).map((e) => [e.cpu, e.pid]),
      [[1, Deno.pid], [3, dead]],
    );
    assert.deepEqual((await statusReport({ dir, prune: true })).map((e) => e.cpu), [1]);
    assert.deepEqual((await new StateFile({ dir }).read()).entries.map((e) => e.cpu), [1]);
    await run.release();
  });
});

Deno.test("corrupt or foreign state files are reported, malformed entries dropped", async () => {
  await withDir(async (dir) => {
    const sf = new StateFile({ dir });
    assert.deepEqual(await sf.read(), { version: 1, entries: [] });
    await Deno.writeTextFile(sf.path, "{ not json");
    await assert.rejects(sf.read(), (e: unknown) => {
      assert.ok(e instanceof ConfigError && e.code === "STATE_FILE_CORRUPT");
      assert.ok(e.message.startsWith(`State file ${sf.path} is not valid JSON`));
      return true;
    });
    // update() does not clobber a file it cannot read.
    await assert.rejects(sf.update(() => {}), { code: "STATE_FILE_CORRUPT" });
    assert.equal(await Deno.readTextFile(sf.path), "{ not json");
    await Deno.writeTextFile(sf.path, JSON.stringify({ version: 2, entries: [] }));
    await assert.rejects(sf.read(), { code: "STATE_FILE_CORRUPT" });
    await Deno.writeTextFile(
      sf.path,
      JSON.stringify({ version: 1, entries: [entry({}), { cpu: -1 }, null, entry({ pid: 0 })] }),
    );
    assert.equal((await sf.read()).entries.length, 1);
  });
});

Deno.test("writes are atomic: no temporary files are left and readers never see partial JSON", async () => {
  await withDir(async (dir) => {
    const sf = new StateFile({ dir });
    let reads = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        await sf.read(); // throws on a torn file
        reads++;
        await new Promise((r) => setTimeout(r, 0));
      }
    })();
    for (let i = 0; i < 40; i++) {
      await sf.update((s) => {
        s.entries = Array.from(
          { length: i % 7 },
          (_, k) => entry({ cpu: k, firmware: "x".repeat(500) }),
        );
      });
    }
    stop = true;
    await reader;
    assert.ok(reads > 0);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["state.json", "state.lock"]);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(sf.path)).mode! & 0o777, 0o600);
  });
});

Deno.test("concurrent writers in this process and in other processes lose nothing", async () => {
  await withDir(async (dir) => {
    const sf = new StateFile({ dir });
    const add = (machine: string, cpu: number) =>
      sf.update((s) => {
        s.entries.push(entry({ machine, cpu }));
      });
    const children = [];
    for (let c = 0; c < 2; c++) {
      children.push(
        await startScript(`
          import { StateFile } from "${STATE_MODULE}";
          const sf = new StateFile({ dir: ${JSON.stringify(dir)}, lockTimeoutMs: 30000 });
          for (let i = 0; i < 15; i++) {
            await sf.update((s) => {
              s.entries.push({ cpu: i, machine: "child${c}", pid: Deno.pid, firmware: "f",
                state: "running", startedAt: "t", updatedAt: "t" });
            });
          }
          console.log("done");
        `),
      );
    }
    await Promise.all(Array.from({ length: 15 }, (_, i) => add("parent", i)));
    for (const ch of children) {
      const { code } = await ch.output();
      assert.equal(code, 0);
    }
    const entries = (await sf.read()).entries;
    for (const m of ["parent", "child0", "child1"]) {
      assert.deepEqual(
        entries.filter((e) => e.machine === m).map((e) => e.cpu).sort((a, b) => a - b),
        Array.from({ length: 15 }, (_, i) => i),
        m,
      );
    }
  });
});

Deno.test("the lock wait has a deadline", async () => {
  await withDir(async (dir) => {
    const sf = new StateFile({ dir, lockTimeoutMs: 50 });
    await sf.update(() => {});
    const holder = await Deno.open(sf.lockPath, { read: true, write: true });
    await holder.lock(true);
    try {
      await assert.rejects(sf.update(() => {}), (e: unknown) => {
        assert.ok(e instanceof TimeoutError && e.code === "TIMEOUT");
        assert.match(e.message, /waiting for the state lock/);
        return true;
      });
    } finally {
      await holder.unlock();
      holder.close();
    }
    await sf.update(() => {});
  });
});

Deno.test("a lock file that cannot be opened is a ConfigError naming it", async () => {
  await withDir(async (dir) => {
    const sf = new StateFile({ dir, lockTimeoutMs: 50 });
    await Deno.mkdir(sf.lockPath); // a directory where the lock file should be
    await assert.rejects(sf.update(() => {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.code, "STATE_LOCK");
      assert.ok(e.message.startsWith(`Cannot open the state lock ${sf.lockPath}: `), e.message);
      return true;
    });
  });
});

Deno.test("a stale owner's leftovers are released: its child killed, its files removed", async () => {
  await withDir(async (dir) => {
    // A child the dead owner started (a stand-in for QEMU): a sleep that must be killed.
    const child = new Deno.Command("sleep", { args: ["60"] }).spawn();
    const reaped = child.status;
    await Deno.writeTextFile(`${dir}/ram-file`, "x");
    await Deno.mkdir(`${dir}/amp-qemu-x`);
    const dead = await deadPid();
    const leftover = entry({
      pid: dead,
      children: [{ what: "QEMU", pid: child.pid, pidStart: processInfo(child.pid).start! }],
      files: [`${dir}/ram-file`, `${dir}/amp-qemu-x`, `${dir}/never-there`],
    });
    await new StateFile({ dir }).update((st) => {
      st.entries.push(leftover);
    });
    const lines: string[] = [];
    const run = await registerRun({ cpu: 1, machine: "sim", firmware: "new.elf" }, {
      dir,
      onStale: (l) => lines.push(l),
    });
    assert.equal((await reaped).signal, "SIGKILL");
    assert.equal(lines.length, 1);
    assert.match(
      lines[0]!,
      new RegExp(
        `^Cleaned up after amp process ${dead}, which died owning cpu 1: killed QEMU \\(pid ${child.pid}\\); removed ${dir}/ram-file; removed ${dir}/amp-qemu-x$`,
      ),
    );
    await assert.rejects(Deno.stat(`${dir}/ram-file`), Deno.errors.NotFound);
    await run.release();

    // A recorded child whose pid now belongs to another process is left alone.
    const other = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      const e = entry({
        pid: await deadPid(),
        children: [{ what: "QEMU", pid: other.pid, pidStart: processInfo(other.pid).start! + 1 }],
      });
      assert.deepEqual(await releaseStale(e), []);
      assert.ok(processInfo(other.pid).alive);
      // A live owner's leftovers are never touched.
      await assert.rejects(releaseStale(entry({})), { code: "STATE" });
    } finally {
      other.kill("SIGKILL");
      await other.status;
    }
  });
});

Deno.test("whyStopped: the owner's record of a crash, a stop, a reload; a dead owner; a missing file", async () => {
  await withDir(async (dir) => {
    // No state file (another directory): only a dead owner can be told.
    const e0 = entry({ pid: Deno.pid, startedAt: new Date().toISOString() });
    assert.equal(whyStopped(e0, { dir }), undefined);
    const dead = await deadPid();
    assert.match(whyStopped(entry({ pid: dead }), { dir })!, /amp process \d+, .* is gone/);

    const run = await registerRun({ cpu: 1, machine: "sim", firmware: "x", state: "running" }, {
      dir,
    });
    const e = { ...run.entry };
    assert.equal(whyStopped(e, { dir }), undefined);
    await run.update("reloading");
    assert.match(whyStopped(e, { dir })!, /being given new firmware/);
    await run.update("stopping", { reason: "stopped by amp process 7 (amp stop)" });
    assert.match(whyStopped(e, { dir })!, /^The remote is being stopped: stopped by amp process 7/);
    await run.update("crashed", { reason: "QEMU (pid 9) was killed by SIGKILL" });
    assert.match(
      whyStopped(e, { dir })!,
      /^The remote stopped: QEMU \(pid 9\) was killed by SIGKILL/,
    );
    await run.release("QEMU (pid 9) was killed by SIGKILL");
    assert.match(whyStopped(e, { dir })!, /^The remote stopped: QEMU \(pid 9\) was killed/);
    // The records are bounded and survive other writers.
    for (let i = 0; i < MAX_END_RECORDS + 5; i++) {
      const r = await registerRun({ cpu: 2, machine: "sim", firmware: "x" }, { dir });
      await r.release(`run ${i}`);
    }
    const st = await new StateFile({ dir }).read();
    assert.equal(st.ended?.length, MAX_END_RECORDS);
    assert.equal(st.ended?.at(-1)?.reason, `run ${MAX_END_RECORDS + 4}`);
  });
});
