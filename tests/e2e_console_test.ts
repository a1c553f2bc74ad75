/**
 * The remote's console and application start, across real processes on the
 * `sim` machine, driven exactly as the seed firmware is driven: `amp load`,
 * `amp console 1 --expect 'msh />'`, each demo with `--start <the seed's
 * command>` and without it, twice, `amp trace` falling back to the console
 * log, and the errors a user meets (no console, no match).
 */

import assert from "node:assert/strict";
import {
  cleanup,
  type Env,
  LoadProcess,
  type Result,
  runAmp,
  SEED_ELF,
  setup as setupEnv,
} from "./_cli_env.ts";

const setup = (tag: string) => setupEnv("console", tag);
const amp = (e: Env, ...args: string[]) => runAmp(e, args);

function pass(r: Result, demo: string): void {
  assert.equal(r.code, 0, `${demo}: exit ${r.code}\n${r.out}\n${r.err}`);
  assert.match(r.out, new RegExp(`^PASS ${demo}: `, "m"), r.out);
}

Deno.test({
  name:
    "e2e console: the seed's commands on the sim console start each demo, twice; plain verbs too",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("seed");
    let load: LoadProcess | undefined;
    try {
      load = new LoadProcess(e, [SEED_ELF, "1", "--machine", "sim"]);
      await load.waitFor(/^Remote cpu 1 running /m);

      const up = await amp(e, "console", "1", "--expect", "msh />");
      assert.equal(up.code, 0, up.err);
      const help = await amp(e, "console", "1", "--send", "help", "--expect", "shmem_demod");
      assert.equal(help.code, 0, help.err);
      for (const cmd of ["rpmsg_echo", "rpmsg_update", "matrix_multiplyd", "shmem_demod"]) {
        assert.match(help.out, new RegExp(`^${cmd} `, "m"), help.out);
      }

      // The simulated core serves all the time: a host finds an application
      // waiting, and an explicit --start is then not typed (on a real remote
      // the shell is busy while an application waits: the line would queue).
      const started = await amp(e, "-v", "rpmsg", "ping", "--start", "rpmsg_echo");
      pass(started, "sample");
      assert.match(
        started.out,
        /not starting "rpmsg_echo" typed on the console of cpu 1: an application already waits/,
      );
      for (let round = 1; round <= 2; round++) {
        pass(await amp(e, "rpmsg", "ping", "--start", "rpmsg_echo"), "sample");
        pass(await amp(e, "rpmsg", "test", "--start", "rpmsg_update"), "msg-test");
        pass(await amp(e, "rpmsg", "matrix", "--start", "matrix_multiplyd"), "matrix");
        pass(await amp(e, "shmem", "demo", "--start", "shmem_demod"), "shmem");
        pass(await amp(e, "rpmsg", "ping"), "sample");
        pass(await amp(e, "rpmsg", "test", "--no-start"), "msg-test");
        pass(await amp(e, "shmem", "demo"), "shmem");
      }
      // Typed commands are in the console log, with the simulated shell's answers:
      // shmem_demod each time (its start is seen by the control word), twice with --start
      // and twice because the console offers it.
      const log = await amp(e, "console", "1");
      assert.equal(log.code, 0);
      assert.equal(
        log.out.match(/msh \/>shmem_demod\r\nStarting application\.\.\./g)?.length,
        4,
        JSON.stringify(log.out),
      );
      // Typed by hand, an rpmsg command restarts the simulated application (table copied again).
      const typed = await amp(e, "console", "1", "--send", "rpmsg_update", "--expect", "DRIVER_OK");
      assert.equal(typed.code, 0, typed.err);
      pass(await amp(e, "rpmsg", "test"), "msg-test");

      // No match: exit 1 with the last lines.
      const miss = await amp(e, "console", "1", "--expect", "no such text", "--timeout", "300");
      assert.equal(miss.code, 1);
      assert.match(
        miss.err,
        /^amp: Timed out after 300 ms waiting for the console to print .*last lines: .*msh \/>/,
      );
      // The seed layout has no trace buffer: trace shows the console log, saying so.
      const trace = await amp(e, "trace", "1");
      assert.equal(trace.code, 0, trace.err);
      assert.match(trace.err, /no trace buffer.*showing its console log/);
      assert.match(trace.out, /msh \/>/);

      // --start and --no-start together are a usage error.
      const both = await amp(e, "rpmsg", "ping", "--start", "x", "--no-start");
      assert.equal(both.code, 2);

      assert.equal((await amp(e, "stop", "1")).code, 0);
      assert.equal(await load.done, 0);
    } finally {
      await cleanup(e, load);
    }
  },
});

Deno.test({
  name: "e2e console: machines without a console say so for amp console and --start",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("none");
    try {
      const con = await amp(e, "console", "0", "--machine", "openamp-linux");
      assert.equal(con.code, 1);
      assert.match(con.err, /^amp: Machine "openamp-linux" has no console amp can reach/);
      const start = await amp(
        e,
        "rpmsg",
        "ping",
        "--machine",
        "openamp-linux",
        "--start",
        "rpmsg_echo",
      );
      assert.equal(start.code, 1);
      assert.match(start.err, /Cannot type "rpmsg_echo": machine "openamp-linux" has no console/);
    } finally {
      await cleanup(e);
    }
  },
});
