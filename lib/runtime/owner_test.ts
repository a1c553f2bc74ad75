import assert from "node:assert/strict";
import { buildElf } from "../elf/writer.ts";
import { simProfile } from "../machine/profiles/sim.ts";
import { validateProfile } from "../machine/validate.ts";
import { seedResourceTable } from "../../examples/make_seed_elf.ts";
import { runDemo } from "../demos/run.ts";
import { controlRequest } from "./control.ts";
import { runOwner } from "./owner.ts";
import { processInfo } from "./process.ts";
import { StateFile } from "./registry.ts";
import { statusReport } from "./status.ts";

const SIM_MAIN = new URL("../sim/main.ts", import.meta.url).pathname;

function shmLeft(prefix: string): string[] {
  return [...Deno.readDirSync("/dev/shm")].map((e) => e.name).filter((n) =>
    n.startsWith(prefix + ".")
  );
}

Deno.test({
  name: "runOwner: a 3 MiB image shows progress, the sim child serves, the stop releases all",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const prefix = `amp-lt-${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
    const profile = validateProfile(simProfile({ prefix }), "test sim");
    const fw = `${dir}/big.elf`;
    const big = new Uint8Array(3 << 20).map((_, i) => i & 0xff);
    await Deno.writeFile(
      fw,
      buildElf({
        class: 64,
        entry: 0x9020_0000,
        segments: [{ paddr: 0x9020_1000, data: big }],
        resourceTable: { addr: 0x9020_0100, data: seedResourceTable() },
      }),
    );
    const progress: string[] = [];
    const lines: string[] = [];
    let stop!: (why: string) => void;
    let running!: () => void;
    const isRunning = new Promise<void>((r) => (running = r));
    try {
      const run = runOwner({
        profile,
        firmware: fw,
        cpu: 1,
        out: (l) => lines.push(l),
        detail: (l) => lines.push(l),
        progress: (t, final) => progress.push(`${t}${final ? " (final)" : ""}`),
        until: new Promise((r) => (stop = r)),
        simCommand: [Deno.execPath(), "run", "--allow-all", SIM_MAIN],
        stateDir: dir,
        onRunning: running,
      });
      await Promise.race([isRunning, run]);
      assert.ok(progress.length >= 2, progress.join("\n"));
      assert.match(progress.at(-1)!, /: 100% \(\d+\/\d+ bytes\) \(final\)$/);
      const entry = (await statusReport({ dir }))[0];
      assert.equal(entry?.state, "running");
      const pid = entry?.children?.[0]?.pid ?? -1;
      assert.equal(entry?.children?.[0]?.what, "simulated core");
      assert.ok(processInfo(pid).alive);
      // The loaded bytes are in the shared image, where the remote would run them.
      const img = await Deno.readFile(`/dev/shm/${prefix}.image`);
      assert.equal(img[0x1000 + 12345], 12345 & 0xff);

      const io = { out: () => {}, detail: () => {}, progress: () => {} };
      const r = await runDemo("ping", profile, io, { count: 5, timeoutMs: 20_000 });
      assert.ok(r.passed, r.failures.join("\n"));

      stop("test");
      assert.equal(await run, 0);
      assert.match(lines.join("\n"), /everything released/);
      assert.equal(processInfo(pid).alive, false);
      assert.deepEqual(shmLeft(prefix), []);
      assert.deepEqual(await statusReport({ dir }), []);
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("run-")),
        [],
      );
    } finally {
      stop?.("finally");
      for (const n of shmLeft(prefix)) await Deno.remove(`/dev/shm/${n}`).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "runOwner: a bad image fails before anything runs and leaves nothing behind",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const prefix = `amp-lt-bad-${Deno.pid}`;
    const profile = validateProfile(simProfile({ prefix }), "test sim");
    const fw = `${dir}/outside.elf`;
    await Deno.writeFile(
      fw,
      buildElf({ class: 64, segments: [{ paddr: 0x1000, data: new Uint8Array(16) }] }),
    );
    const lines: string[] = [];
    try {
      await assert.rejects(
        runOwner({
          profile,
          firmware: fw,
          cpu: 1,
          out: (l) => lines.push(l),
          detail: () => {},
          progress: () => {},
          until: new Promise(() => {}),
          stateDir: dir,
        }),
        (e: Error & { code?: string }) => e.code === "LOAD_OUTSIDE_REGIONS",
      );
      // Nothing was started, so nothing claims to have been stopped.
      assert.deepEqual(lines, []);
      assert.deepEqual(shmLeft(prefix), []);
      assert.deepEqual(await statusReport({ dir }), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Ask this process's own `runOwner` to reload, over its control socket. */
async function reloadSelf(
  dir: string,
  firmware: string,
): Promise<{ result: string; message: string }> {
  const e = (await new StateFile({ dir }).read()).entries.find((e) => e.pid === Deno.pid);
  assert.ok(e?.control, "the owner's control socket");
  const r = await controlRequest(e.control, { op: "reload", firmware, pid: Deno.pid }, {
    timeoutMs: 60_000,
  });
  assert.ok(r.ok);
  return { result: String(r.result), message: String(r.message) };
}

Deno.test({
  name: "runOwner reload: a failure after the stop leaves the core stopped, the owner up",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const prefix = `amp-lt-rl-${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
    const profile = validateProfile(simProfile({ prefix }), "test sim");
    const fw = `${dir}/a.elf`;
    const fw2 = `${dir}/b.elf`;
    const elf = (fill: number) =>
      buildElf({
        class: 64,
        entry: 0x9020_0000,
        segments: [{ paddr: 0x9020_1000, data: new Uint8Array(256).fill(fill) }],
        resourceTable: { addr: 0x9020_0100, data: seedResourceTable() },
      });
    await Deno.writeFile(fw, elf(0x11));
    await Deno.writeFile(fw2, elf(0x22));
    // The simulated remote refuses to start while this file exists.
    const flag = `${dir}/no-start`;
    const simCommand = [
      "sh",
      "-c",
      'if [ -e "$0" ]; then exit 7; fi; exec "$@"',
      flag,
      Deno.execPath(),
      "run",
      "--allow-all",
      SIM_MAIN,
    ];
    const lines: string[] = [];
    let stop!: (why: string) => void;
    let running!: () => void;
    const isRunning = new Promise<void>((r) => (running = r));
    try {
      const run = runOwner({
        profile,
        firmware: fw,
        cpu: 1,
        out: (l) => lines.push(l),
        detail: (l) => lines.push(l),
        progress: () => {},
        until: new Promise((r) => (stop = r)),
        simCommand,
        stateDir: dir,
        onRunning: running,
      });
      await Promise.race([isRunning, run]);
      assert.ok((await statusReport({ dir }))[0]?.control);

      await Deno.writeTextFile(flag, "");
      const failed = await reloadSelf(dir, fw2);
      assert.equal(failed.result, "error");
      assert.match(
        failed.message,
        /^Reload of .*b\.elf failed after remote cpu 1 was stopped; it is stopped now: /,
      );
      const stopped = (await statusReport({ dir }))[0];
      assert.equal(stopped?.state, "stopped");
      assert.equal(stopped?.pid, Deno.pid);
      const io = { out: () => {}, detail: () => {}, progress: () => {} };
      const none = await runDemo("ping", profile, io, { count: 1, timeoutMs: 300 }).catch((e) => e);
      assert.ok(none instanceof Error || !none.passed, "nothing answers while stopped");

      // The owner is still up: the next reload starts the core again.
      await Deno.remove(flag);
      const ok = await reloadSelf(dir, fw2);
      assert.equal(ok.result, "ok", ok.message);
      const entry = (await statusReport({ dir }))[0];
      assert.equal(entry?.state, "running");
      assert.equal(entry?.firmware, fw2);
      const img = await Deno.readFile(`/dev/shm/${prefix}.image`);
      assert.equal(img[0x1000], 0x22);
      const r = await runDemo("ping", profile, io, { count: 5, timeoutMs: 20_000 });
      assert.ok(r.passed, r.failures.join("\n"));

      stop("test");
      assert.equal(await run, 0);
      assert.deepEqual(shmLeft(prefix), []);
      assert.deepEqual(await statusReport({ dir }), []);
    } finally {
      stop?.("finally");
      for (const n of shmLeft(prefix)) await Deno.remove(`/dev/shm/${n}`).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
