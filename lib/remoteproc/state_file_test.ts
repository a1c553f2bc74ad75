import assert from "node:assert/strict";
import { AmpError, ConfigError, TimeoutError } from "../errors.ts";
import {
  type CpuEntry,
  defaultStateDir,
  isStale,
  processInfo,
  registerRun,
  requestReload,
  StateFile,
  statusReport,
  stopCpu,
} from "./state_file.ts";

const STATE_MODULE = new URL("./state_file.ts", import.meta.url).href;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "amp-state-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function entry(over: Partial<CpuEntry>): CpuEntry {
  return {
    cpu: 1,
    machine: "sim",
    pid: Deno.pid,
    firmware: "fw.elf",
    state: "running",
    startedAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ...over,
  };
}

/** A pid that certainly is not running: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

/** Run a Deno script (fed on stdin) in a child process. */
async function startScript(code: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(code));
  await w.close();
  return child;
}

/** Read the child's stdout until `marker` appears (with a deadline). */
async function waitFor(child: Deno.ChildProcess, marker: string, ms = 30_000): Promise<void> {
  const reader = child.stdout.getReader();
  let text = "";
  const deadline = Date.now() + ms;
  try {
    while (!text.includes(marker)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`child did not print ${marker}: ${text}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        reader.read(),
        new Promise<{ done: true; value: undefined }>((res) => {
          timer = setTimeout(() => res({ done: true, value: undefined }), left);
        }),
      ]);
      clearTimeout(timer);
      if (r.done) throw new Error(`child ended before printing ${marker}: ${text}`);
      text += new TextDecoder().decode(r.value);
    }
  } finally {
    reader.releaseLock();
  }
}

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

Deno.test("stopCpu: no owner, stale owner, self, ambiguity", async () => {
  await withDir(async (dir) => {
    await assert.rejects(stopCpu(1, { dir }), (e: unknown) => {
      assert.ok(e instanceof AmpError && e.code === "NOT_OWNED");
      assert.equal(e.message, `No amp process owns remote cpu 1 (state file ${dir}/state.json)`);
      return true;
    });
    const dead = await deadPid();
    await new StateFile({ dir }).update((s) => {
      s.entries.push(entry({ pid: dead }));
    });
    assert.deepEqual(await stopCpu(1, { dir }), {
      cpu: 1,
      machine: "sim",
      pid: dead,
      outcome: "stale",
    });
    assert.equal((await statusReport({ dir })).length, 0);

    const run = await registerRun({ cpu: 1, machine: "sim", firmware: "x" }, { dir });
    await assert.rejects(stopCpu(1, { dir }), { code: "STOP_SELF" });
    await new StateFile({ dir }).update((s) => {
      s.entries.push(entry({ machine: "rv64-virt", pid: 1 }));
    });
    await assert.rejects(stopCpu(1, { dir }), { code: "AMBIGUOUS_CPU" });
    await run.release();
  });
});

Deno.test("stopCpu signals the owner, which releases the cpu and exits", async () => {
  await withDir(async (dir) => {
    const child = await startScript(`
      import { registerRun } from "${STATE_MODULE}";
      const run = await registerRun({ cpu: 1, machine: "sim", firmware: "fw.elf", state: "running" },
        { dir: ${JSON.stringify(dir)} });
      Deno.addSignalListener("SIGTERM", async () => {
        await run.update("stopped");
        await run.release();
        Deno.exit(0);
      });
      console.log("ready");
      setTimeout(() => {}, 60000);
    `);
    await waitFor(child, "ready");
    const s = await statusReport({ dir });
    assert.equal(s[0]?.pid, child.pid);
    assert.equal(s[0]?.stale, false);
    const r = await stopCpu(1, { dir, deadlineMs: 20_000 });
    assert.deepEqual(r, { cpu: 1, machine: "sim", pid: child.pid, outcome: "stopped" });
    const status = await child.status;
    assert.equal(status.code, 0);
    assert.equal((await statusReport({ dir })).length, 0);
  });
});

Deno.test("stopCpu cleans up after an owner that dies without releasing, and times out on one that ignores SIGTERM", async () => {
  await withDir(async (dir) => {
    // An owner that SIGTERM kills outright: the entry is left behind and removed by stopCpu.
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    await new StateFile({ dir }).update((s) => {
      s.entries.push(entry({ pid: sleeper.pid, pidStart: processInfo(sleeper.pid).start! }));
    });
    const reaped = sleeper.status; // reap so the pid does not linger as a zombie
    const r = await stopCpu(1, { dir, deadlineMs: 20_000 });
    assert.equal(r.outcome, "stopped");
    assert.equal((await reaped).signal, "SIGTERM");
    assert.equal((await statusReport({ dir })).length, 0);

    // An owner that ignores SIGTERM: a TimeoutError, and its entry stays.
    const stubborn = await startScript(`
      Deno.addSignalListener("SIGTERM", () => {});
      console.log("ready");
      setTimeout(() => {}, 60000);
    `);
    await waitFor(stubborn, "ready");
    await new StateFile({ dir }).update((s) => {
      s.entries.push(entry({ pid: stubborn.pid }));
    });
    try {
      await assert.rejects(stopCpu(1, { dir, deadlineMs: 200 }), (e: unknown) => {
        assert.ok(e instanceof TimeoutError);
        assert.match(
          e.message,
          new RegExp(`waiting for amp process ${stubborn.pid} to stop remote cpu 1`),
        );
        return true;
      });
      assert.equal((await statusReport({ dir }))[0]?.pid, stubborn.pid);
    } finally {
      stubborn.kill("SIGKILL");
      await stubborn.status;
    }
  });
});

Deno.test("registerRun: update keeps a pending reload request; takeReloadRequest hands it over once", async () => {
  await withDir(async (dir) => {
    const run = await registerRun({ cpu: 1, machine: "sim", firmware: "a.elf" }, { dir });
    await run.update("running", { reloadable: true });
    const sf = new StateFile({ dir });
    await sf.update((s) => {
      s.entries[0]!.reloadRequest = { firmware: "/b.elf", requestId: "r1", pid: 42 };
    });
    await run.update("running");
    assert.equal((await sf.read()).entries[0]?.reloadRequest?.requestId, "r1");
    assert.deepEqual(await run.takeReloadRequest(), {
      firmware: "/b.elf",
      requestId: "r1",
      pid: 42,
    });
    assert.equal(await run.takeReloadRequest(), undefined);
    await run.update("running", {
      firmware: "/b.elf",
      reloadResult: { requestId: "r1", result: "ok", message: "fine" },
    });
    const e = (await sf.read()).entries[0]!;
    assert.equal(e.firmware, "/b.elf");
    assert.equal(e.reloadResult?.result, "ok");
    assert.equal(e.reloadRequest, undefined);
    // A malformed request is dropped on read; the entry stays.
    await sf.update((s) => {
      (s.entries[0] as unknown as Record<string, unknown>).reloadRequest = { firmware: 1 };
    });
    const kept = (await sf.read()).entries;
    assert.equal(kept.length, 1);
    assert.equal(kept[0]?.reloadRequest, undefined);
    assert.equal(kept[0]?.reloadResult?.requestId, "r1");
    await run.release();
  });
});

Deno.test("requestReload: no owner, self, owner not accepting, busy, owner killed by SIGHUP, timeout", async () => {
  await withDir(async (dir) => {
    const sf = new StateFile({ dir });
    await assert.rejects(requestReload(1, "/fw.elf", { dir }), /no running amp process owns it/);
    await sf.update((s) => {
      s.entries.push(entry({ reloadable: true }));
    });
    await assert.rejects(
      requestReload(1, "/fw.elf", { dir }),
      (e: unknown) => e instanceof AmpError && e.code === "RELOAD_SELF",
    );

    // A process that does not handle SIGHUP: refused unless it says it accepts reloads.
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    const reaped = sleeper.status;
    await sf.update((s) => {
      s.entries = [entry({ pid: sleeper.pid })];
    });
    await assert.rejects(
      requestReload(1, "/fw.elf", { dir }),
      (e: unknown) => e instanceof AmpError && e.code === "RELOAD_UNSUPPORTED",
    );
    assert.ok(processInfo(sleeper.pid).alive, "no signal was sent");
    // Another live requester's pending request: busy.
    await sf.update((s) => {
      s.entries = [
        entry({
          pid: sleeper.pid,
          reloadable: true,
          reloadRequest: { firmware: "/x.elf", requestId: "x", pid: Deno.pid },
        }),
      ];
    });
    await assert.rejects(
      requestReload(1, "/fw.elf", { dir }),
      (e: unknown) => e instanceof AmpError && e.code === "RELOAD_BUSY",
    );
    // An owner that claims to accept reloads but dies of SIGHUP.
    await sf.update((s) => {
      delete s.entries[0]!.reloadRequest;
    });
    await assert.rejects(
      requestReload(1, "/fw.elf", { dir, deadlineMs: 20_000 }),
      (e: unknown) => e instanceof AmpError && e.code === "RELOAD_OWNER_GONE",
    );
    assert.equal((await reaped).signal, "SIGHUP");

    // An owner that never answers: a TimeoutError, and the request is withdrawn.
    const silent = await startScript(`
      Deno.addSignalListener("SIGHUP", () => {});
      console.log("ready");
      setTimeout(() => {}, 60000);
    `);
    await waitFor(silent, "ready");
    await sf.update((s) => {
      s.entries = [entry({ pid: silent.pid, reloadable: true })];
    });
    try {
      await assert.rejects(
        requestReload(1, "/fw.elf", { dir, deadlineMs: 200 }),
        (e: unknown) => e instanceof TimeoutError && /to reload remote cpu 1/.test(e.message),
      );
      assert.equal((await sf.read()).entries[0]?.reloadRequest, undefined);
    } finally {
      silent.kill("SIGKILL");
      await silent.status;
    }
  });
});
