import assert from "node:assert/strict";
import { AmpError, TimeoutError } from "../errors.ts";
import { liveStatus, requestReload, stopCpu } from "./client.ts";
import { processInfo } from "./process.ts";
import { registerRun, StateFile } from "./registry.ts";
import { statusReport } from "./status.ts";
import { deadPid, entry, startScript, waitForLine, withDir } from "./_testing.ts";

const REGISTRY = new URL("./registry.ts", import.meta.url).href;
const CONTROL = new URL("./control.ts", import.meta.url).href;

/** A child owner: registers cpu 1 with a control socket that stops, reloads and reports. */
function ownerScript(dir: string, opts: { reload?: string; ignoreStop?: boolean } = {}): string {
  return `
    import { registerRun } from "${REGISTRY}";
    import { ControlServer } from "${CONTROL}";
    const dir = ${JSON.stringify(dir)};
    const ctl = dir + "/owner.ctl";
    const run = await registerRun({ cpu: 1, machine: "sim", firmware: "fw.elf", state: "running",
      control: ctl }, { dir });
    const server = ControlServer.listen(ctl, {
      status: () => Promise.resolve({ state: "running", platform: "running" }),
      stop: ${
    opts.ignoreStop ? "() => {}" : `async () => {
        await run.update("stopped");
        await run.release();
        await server.close();
        Deno.exit(0);
      }`
  },
      reload: (fw) => Promise.resolve(${
    opts.reload === "fail"
      ? `{ ok: false, message: "bad image " + fw }`
      : `{ ok: true, message: "now running " + fw }`
  }),
      console: (c) => Promise.resolve(c.close()),
    });
    console.log("ready");
  `;
}

Deno.test("stopCpu: no owner, stale owner (leftovers released), self, ambiguity", async () => {
  await withDir(async (dir) => {
    await assert.rejects(stopCpu(1, { dir }), (e: unknown) => {
      assert.ok(e instanceof AmpError && e.code === "NOT_OWNED");
      assert.equal(e.message, `No amp process owns remote cpu 1 (state file ${dir}/state.json)`);
      return true;
    });
    const dead = await deadPid();
    await Deno.writeTextFile(`${dir}/left`, "");
    await new StateFile({ dir }).update((s) => {
      s.entries.push(entry({ pid: dead, files: [`${dir}/left`] }));
    });
    assert.deepEqual(await stopCpu(1, { dir }), {
      cpu: 1,
      machine: "sim",
      pid: dead,
      outcome: "stale",
      cleaned: [`removed ${dir}/left`],
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

Deno.test("stopCpu asks the owner over its control socket; it releases the cpu and exits", async () => {
  await withDir(async (dir) => {
    const child = await startScript(ownerScript(dir));
    await waitForLine(child, "ready");
    const s = await statusReport({ dir });
    assert.equal(s[0]?.pid, child.pid);
    assert.equal((await liveStatus(s[0]!))?.platform, "running");
    const r = await stopCpu(1, { dir, deadlineMs: 20_000 });
    assert.deepEqual(r, {
      cpu: 1,
      machine: "sim",
      pid: child.pid,
      outcome: "stopped",
      cleaned: [],
    });
    const status = await child.status;
    assert.equal(status.code, 0);
    assert.equal(status.signal, null, "stopped by request, not by a signal");
    assert.equal((await statusReport({ dir })).length, 0);
  });
});

Deno.test("stopCpu falls back to SIGTERM without a control socket, and times out on an owner that ignores both", async () => {
  await withDir(async (dir) => {
    // An owner that SIGTERM kills outright: its entry is left behind and removed.
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    await new StateFile({ dir }).update((s) => {
      s.entries.push(entry({ pid: sleeper.pid, pidStart: processInfo(sleeper.pid).start! }));
    });
    const reaped = sleeper.status;
    const r = await stopCpu(1, { dir, deadlineMs: 20_000 });
    assert.equal(r.outcome, "stopped");
    assert.equal((await reaped).signal, "SIGTERM");
    assert.equal((await statusReport({ dir })).length, 0);

    // An owner whose control socket accepts the stop but never stops: a TimeoutError.
    const stubborn = await startScript(ownerScript(dir, { ignoreStop: true }));
    await waitForLine(stubborn, "ready");
    try {
      await assert.rejects(stopCpu(1, { dir, deadlineMs: 300 }), (e: unknown) => {
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

Deno.test("requestReload: no owner, self, no control socket, the owner's answer both ways", async () => {
  await withDir(async (dir) => {
    await assert.rejects(requestReload(1, "/fw.elf", { dir }), /no running amp process owns it/);
    const sf = new StateFile({ dir });
    await sf.update((s) => {
      s.entries.push(entry({ control: `${dir}/self.ctl` }));
    });
    await assert.rejects(requestReload(1, "/fw.elf", { dir }), { code: "RELOAD_SELF" });
    // A live process without a control socket does not take reloads.
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      await sf.update((s) => {
        s.entries = [entry({ pid: sleeper.pid })];
      });
      await assert.rejects(requestReload(1, "/fw.elf", { dir }), { code: "RELOAD_UNSUPPORTED" });
      // One whose socket is gone: the owner does not answer.
      await sf.update((s) => {
        s.entries = [entry({ pid: sleeper.pid, control: `${dir}/gone.ctl` })];
      });
      await assert.rejects(requestReload(1, "/fw.elf", { dir }), { code: "RELOAD_OWNER_GONE" });
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
    }
    await sf.update((s) => {
      s.entries = [];
    });
    for (const mode of ["ok", "fail"] as const) {
      const owner = await startScript(ownerScript(dir, { reload: mode }));
      await waitForLine(owner, "ready");
      try {
        const r = await requestReload(1, "/new.elf", { dir, deadlineMs: 20_000 });
        assert.equal(r.pid, owner.pid);
        assert.equal(r.result, mode === "ok" ? "ok" : "error");
        assert.equal(r.message, mode === "ok" ? "now running /new.elf" : "bad image /new.elf");
      } finally {
        owner.kill("SIGKILL");
        await owner.status;
        await sf.update((s) => {
          s.entries = [];
        });
      }
    }
  });
});
