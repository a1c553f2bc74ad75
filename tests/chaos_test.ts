/**
 * Chaos in CI: the simulated remote in chaos mode (`amp load FW 1 --machine
 * sim --chaos SEED`) corrupts its rings, headers, name service, table and
 * status during some host sessions while the demos run in a loop for a
 * bounded time (`AMP_CHAOS_SECONDS`, default 12; `AMP_CHAOS_SEED`, default
 * 20261203, picks the schedule). Every demo must end with
 * its PASS or FAIL line (or one clean `amp:` error line), none may hang, and
 * afterwards a session the chaos leaves alone, and then a fresh clean remote
 * on the same machine, must pass.
 */

import assert from "node:assert/strict";
import { cleanup, CLI, type Env, LoadProcess, runAmp, SEED_ELF, setup } from "./_cli_env.ts";

/** Longest a single demo process may take before it counts as a hang. */
const DEMO_DEADLINE_MS = 60_000;

interface Outcome {
  verb: string;
  code: number;
  out: string;
  err: string;
  verdict: "PASS" | "FAIL" | "error";
}

/** Run one demo verb with a deadline; a hang kills it and fails the test. */
async function demo(e: Env, verb: string[]): Promise<Outcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, ...verb],
    env: e.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hang">((r) => (timer = setTimeout(() => r("hang"), DEMO_DEADLINE_MS)));
  const res = await Promise.race([child.output(), hung]);
  clearTimeout(timer);
  const name = verb.join(" ");
  if (res === "hang") {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`amp ${name} did not end within ${DEMO_DEADLINE_MS} ms (hang)`);
  }
  const dec = new TextDecoder();
  const out = dec.decode(res.stdout), err = dec.decode(res.stderr);
  const last = out.trimEnd().split("\n").at(-1) ?? "";
  const errLines = err.trimEnd() === "" ? [] : err.trimEnd().split("\n");
  let verdict: Outcome["verdict"];
  if (/^PASS \S+: /.test(last)) verdict = "PASS";
  else if (/^FAIL \S+: /.test(last)) verdict = "FAIL";
  else verdict = "error";
  const what = `amp ${name} (exit ${res.code}):\n${out}\n${err}`;
  if (verdict === "PASS") assert.equal(res.code, 0, what);
  else assert.equal(res.code, 1, what);
  if (verdict === "error") {
    // No verdict line: then exactly one clean error line, no stack trace.
    assert.equal(errLines.length, 1, what);
    assert.match(errLines[0]!, /^amp: /, what);
  }
  assert.doesNotMatch(err, /^\s+at /m, `a stack trace: ${what}`);
  return { verb: name, code: res.code, out, err, verdict };
}

const VERBS = [["rpmsg", "ping"], ["rpmsg", "test"], ["rpmsg", "matrix"], ["shmem", "demo"]];

Deno.test({
  name: "chaos: demos against a hostile simulated remote end cleanly, never hang, and recover",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const seconds = Number(Deno.env.get("AMP_CHAOS_SECONDS") ?? 12);
    const e = await setup("chaos", "ci");
    let load: LoadProcess | undefined;
    try {
      const seed = Deno.env.get("AMP_CHAOS_SEED") ?? "20261203";
      load = new LoadProcess(e, [SEED_ELF, "1", "--machine", "sim", "--chaos", `${seed}:20`]);
      await load.waitFor(/^Remote cpu 1 running/m);
      const outcomes: Outcome[] = [];
      const end = Date.now() + seconds * 1000;
      for (let i = 0; Date.now() < end; i++) outcomes.push(await demo(e, VERBS[i % VERBS.length]!));
      const count = (v: Outcome["verdict"]) => outcomes.filter((o) => o.verdict === v).length;
      console.log(
        `chaos: ${outcomes.length} demos in ${seconds} s: ${count("PASS")} PASS, ` +
          `${count("FAIL")} FAIL, ${count("error")} one-line errors`,
      );
      assert.ok(outcomes.length >= 4, "too few demos ran");
      assert.match(load.out, /^chaos: session \d+ gets faults/m, "chaos never struck");

      // The next sessions: one the chaos leaves alone must pass.
      let recovered = false;
      for (let i = 0; i < 12 && !recovered; i++) {
        recovered = (await demo(e, ["rpmsg", "ping"])).verdict === "PASS";
      }
      assert.ok(recovered, `no ping passed after the chaos:\n${load.out}`);

      // Stop the hostile remote; a clean one on the same machine runs every demo.
      const stop = await runAmp(e, ["stop", "1"]);
      assert.equal(stop.code, 0, stop.out + stop.err);
      await load.done;
      load = new LoadProcess(e, [SEED_ELF, "1", "--machine", "sim"]);
      await load.waitFor(/^Remote cpu 1 running/m);
      for (const v of VERBS) assert.equal((await demo(e, v)).verdict, "PASS", v.join(" "));
      const stop2 = await runAmp(e, ["stop", "1"]);
      assert.equal(stop2.code, 0, stop2.out + stop2.err);
      assert.equal(await load.done, 0, load.out + load.err);
      load = undefined;
    } finally {
      await cleanup(e, load);
    }
  },
});
