/**
 * "Say why": when the remote dies or is stopped while a host verb runs, the
 * verb ends with the cause the owner recorded in the runtime registry (the
 * simulated remote's exit status, `amp stop`, the owner process gone), not
 * with "Timed out after 5000 ms waiting for a message".
 */

import assert from "node:assert/strict";
import {
  cleanup,
  CLI,
  DEMO_ELF,
  type Env,
  LoadProcess,
  runAmp,
  SEED_ELF,
  setup,
} from "./_cli_env.ts";

/** A background `amp rpmsg test --count 1000` with its output collected. */
class HostVerb {
  readonly child: Deno.ChildProcess;
  out = "";
  err = "";
  readonly done: Promise<number>;
  constructor(e: Env) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", CLI, "rpmsg", "test", "--count", "1000"],
      env: e.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (s: ReadableStream<Uint8Array>, k: "out" | "err") => {
      for await (const c of s.pipeThrough(new TextDecoderStream())) this[k] += c;
    };
    const pumps = Promise.all([pump(this.child.stdout, "out"), pump(this.child.stderr, "err")]);
    this.done = this.child.status.then(async (s) => {
      await pumps;
      return s.code;
    });
  }
  /** Wait until the echo channel is bound (the exchange is under way). */
  async bound(ms = 60_000): Promise<void> {
    const end = Date.now() + ms;
    while (!/^Echo test: .* bound/m.test(this.out)) {
      if (Date.now() > end) throw new Error(`never bound:\n${this.out}\n${this.err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function run(
  tag: string,
  kill: (load: LoadProcess, e: Env) => Promise<void>,
  machine = "sim",
): Promise<{ code: number; out: string; err: string }> {
  const e = await setup("saywhy", tag);
  let load: LoadProcess | undefined;
  let verb: HostVerb | undefined;
  try {
    const fw = machine === "sim" ? SEED_ELF : DEMO_ELF;
    load = new LoadProcess(e, [fw, "1", "--machine", machine]);
    await load.waitFor(/^Remote cpu 1 running/m);
    verb = new HostVerb(e);
    await verb.bound();
    await kill(load, e);
    const code = await verb.done;
    const r = { code, out: verb.out, err: verb.err };
    verb = undefined;
    return r;
  } finally {
    try {
      verb?.child.kill("SIGKILL");
    } catch { /* exited */ }
    await cleanup(e, load);
  }
}

function assertCause(r: { code: number; out: string; err: string }, cause: RegExp): void {
  const all = r.out + r.err;
  assert.equal(r.code, 1, all);
  assert.doesNotMatch(all, /Timed out/, "the generic timeout instead of the cause");
  assert.match(r.out, /^FAIL msg-test: .*The remote (stopped|is being stopped): /m, all);
  assert.match(all, cause);
}

const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  ...opts,
  name: "say why: the simulated remote killed during a host verb is named with its exit status",
  fn: async () => {
    const r = await run("sim", (load) => {
      Deno.kill(load.simPid(), "SIGKILL");
      return Promise.resolve();
    });
    assertCause(r, /the simulated remote exited \(code 137\) \(owner: amp process \d+, cpu 1/);
  },
});

Deno.test({
  ...opts,
  name: "say why: amp load killed with SIGKILL during a host verb: the owner is gone",
  fn: async () => {
    const r = await run("owner", (load) => {
      load.child.kill("SIGKILL");
      return Promise.resolve();
    });
    assertCause(r, /amp process \d+, which ran cpu 1 of machine "sim", is gone/);
  },
});

Deno.test({
  ...opts,
  name: "say why: amp stop during a host verb is named as the cause",
  fn: async () => {
    const r = await run("stop", async (_load, e) => {
      const s = await runAmp(e, ["stop", "1"]);
      assert.equal(s.code, 0, s.out + s.err);
    });
    assertCause(r, /stopped by amp process \d+ \(amp stop\)/);
  },
});

function hasQemu(): boolean {
  try {
    return new Deno.Command("qemu-system-riscv64", { args: ["--version"] }).outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  ...opts,
  name: "say why: QEMU killed by a signal during a host verb is named with the signal",
  ignore: !hasQemu(),
  fn: async () => {
    const r = await run("qemu", async (_load, e) => {
      const st = await runAmp(e, ["status", "--json"]);
      const entry = JSON.parse(st.out).entries[0];
      const qemu = entry.children.find((c: { what: string }) => c.what === "QEMU");
      Deno.kill(qemu.pid, "SIGKILL");
    }, "qemu-rv64");
    assertCause(r, /QEMU \(pid \d+\) was killed by SIGKILL \(owner: amp process \d+, cpu 1/);
  },
});
