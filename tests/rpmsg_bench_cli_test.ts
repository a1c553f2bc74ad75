/**
 * `amp rpmsg bench` as a user runs it: against a simulated remote started by
 * `amp load` in another process. Its numbers are not asserted (they depend
 * on the machine's load); its output format, its JSON shape and its checks
 * are.
 */

import assert from "node:assert/strict";
import { cleanup, DEMO_ELF, type Env, LoadProcess, runAmp, setup } from "./_cli_env.ts";
import { qemuRv64Profile } from "../lib/machine/profiles/qemu_rv64.ts";
import { qemuAvailable } from "../lib/qemu/qemu.ts";

const amp = (e: Env, ...args: string[]) => runAmp(e, args);

const NUM = String.raw`[0-9]+(\.[0-9]+)?`;

Deno.test({
  name: "rpmsg bench: echo and stream against the sim remote, text and JSON",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("bench", "sim");
    let load: LoadProcess | undefined;
    try {
      load = new LoadProcess(e, [DEMO_ELF, "1", "--machine", "sim"]);
      await load.waitFor(/^Remote cpu 1 running /m);

      const text = await amp(e, "rpmsg", "bench", "--sizes", "16,496", "--count", "300");
      assert.equal(text.code, 0, text.out + text.err);
      const out = text.out;
      assert.match(out, /^rpmsg bench: "rpmsg-openamp-demo-channel" bound .* echo, 300 messages/m);
      for (const size of [16, 496]) {
        assert.match(
          out,
          new RegExp(
            `^echo ${size} B: 300 round trips in ${NUM} ms: ${NUM}[kM]? round trips/s$`,
            "m",
          ),
        );
      }
      assert.equal(
        out.match(
          new RegExp(
            `^  latency µs: min ${NUM}  avg ${NUM}  p50 ${NUM}  p99 ${NUM}  p99\\.9 ${NUM}  max ${NUM}$`,
            "gm",
          ),
        )?.length,
        2,
      );
      // Histogram rows: "<from>-<to> µs |<bar> <count>", counts adding up to the messages.
      const rows = [...out.matchAll(/^ +([0-9.]+(Ki)?)-([0-9.]+(Ki)?) µs \|#* *([0-9]+)$/gm)];
      assert.equal(rows.reduce((a, m) => a + Number(m[5]), 0), 600);
      assert.match(out, /^limit: raw polled u32 ping-pong between two threads, same run: /m);
      assert.match(out, new RegExp(`^echo 16 B: ${NUM}x the limit's time per round trip`, "m"));
      assert.match(out, /^PASS bench: 600 sent, 600 received, 0 errors in [0-9]+ ms$/m);

      const json = await amp(
        e,
        "rpmsg",
        "bench",
        "--mode",
        "stream",
        "--size",
        "64",
        "--count",
        "500",
        "--json",
      );
      assert.equal(json.code, 0, json.out + json.err);
      const r = JSON.parse(json.out);
      assert.equal(r.machine, "sim");
      assert.equal(r.mode, "stream");
      assert.equal(r.passed, true);
      assert.equal(r.results.length, 1);
      const x = r.results[0];
      assert.equal(x.size, 64);
      assert.equal(x.mode, "stream");
      assert.equal(x.count, 500);
      assert.equal(x.errors, 0);
      assert.equal(typeof x.msgsPerS, "number");
      assert.equal(typeof x.mbPerS, "number");
      assert.equal(x.roundTripsPerS, undefined);
      assert.ok(x.warmup > 0 && x.warmup <= 20_000, `warmup ${x.warmup}`); // the default (at most 2 s), not counted
      assert.deepEqual(Object.keys(x.latencyUs).sort(), [
        "avg",
        "max",
        "min",
        "p50",
        "p99",
        "p999",
      ]);
      assert.ok(x.latencyUs.min <= x.latencyUs.p50 && x.latencyUs.p50 <= x.latencyUs.max);
      assert.equal(x.histogram.reduce((a: number, b: { count: number }) => a + b.count, 0), 500);
      assert.equal(typeof r.limit.roundTripsPerS, "number");
      assert.ok(r.limit.count > 0 && r.limit.count <= 20_000);
      assert.deepEqual(Object.keys(r.limit.latencyUs).sort(), Object.keys(x.latencyUs).sort());

      // --no-limit leaves the limit out; a short --duration still runs.
      const noLimit = await amp(
        e,
        "rpmsg",
        "bench",
        "--size",
        "8",
        "--duration",
        "0.2",
        "--no-limit",
        "--warmup",
        "0",
        "--json",
      );
      assert.equal(noLimit.code, 0, noLimit.out + noLimit.err);
      const n = JSON.parse(noLimit.out);
      assert.equal(n.limit, undefined);
      assert.equal(n.results[0].mode, "echo");
      assert.equal(n.results[0].warmup, 0);
      assert.ok(n.results[0].count > 0);
      assert.equal(typeof n.results[0].roundTripsPerS, "number");

      // Usage errors: one line, exit 2.
      for (
        const args of [
          ["--size", "497"],
          ["--mode", "flood"],
          ["--size", "8", "--sizes", "16"],
          ["--count", "5", "--duration", "1"],
          ["--sizes", "16,,32"],
        ]
      ) {
        const bad = await amp(e, "rpmsg", "bench", ...args);
        assert.equal(bad.code, 2, `${args.join(" ")}: ${bad.out}${bad.err}`);
        assert.equal(bad.err.trim().split("\n").length, 1, bad.err);
      }
      const other = await amp(e, "rpmsg", "ping", "--mode", "echo");
      assert.equal(other.code, 2, other.err);
      assert.match(other.err, /--mode applies to rpmsg bench only/);
    } finally {
      await cleanup(e, load);
    }
  },
});

Deno.test({
  name: "rpmsg bench: no remote running is one clear error line, as for the demos",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("bench", "none");
    try {
      const r = await amp(e, "rpmsg", "bench", "--size", "16", "--count", "10", "--no-limit");
      assert.equal(r.code, 1, r.out + r.err);
      assert.match(r.err, /^amp: No running remote/);
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
    } finally {
      await cleanup(e);
    }
  },
});

Deno.test({
  name: "rpmsg bench on qemu-rv64: the firmware's own PING/PONG is the limit, text and JSON",
  ignore: !qemuAvailable() && Deno.env.get("CI") !== "true",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const e = await setup("bench", "qemu");
    const name = `amp-bench-${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
    const profilePath = `${e.dir}/machine.json`;
    await Deno.writeTextFile(profilePath, JSON.stringify(qemuRv64Profile({ name })));
    let load: LoadProcess | undefined;
    try {
      load = new LoadProcess(e, [DEMO_ELF, "1", "--machine", profilePath]);
      await load.waitFor(/^Remote cpu 1 running /m);

      const bench = ["rpmsg", "bench", "--size", "16", "--count", "300", "--warmup", "100"];
      const text = await amp(e, ...bench);
      assert.equal(text.code, 0, text.out + text.err);
      const out = text.out;
      assert.match(out, /^rpmsg bench: "rpmsg-openamp-demo-channel" bound .* "qemu-rv64", echo/m);
      assert.match(
        out,
        new RegExp(`^echo 16 B: 300 round trips in ${NUM} ms: ${NUM}[kM]? round trips/s$`, "m"),
      );
      assert.match(
        out,
        new RegExp(
          `^limit: raw PING/PONG with the firmware's hart .*, same run: ${NUM}[kM]? round trips/s, p50 ${NUM} µs$`,
          "m",
        ),
      );
      assert.match(
        out,
        new RegExp(`^echo 16 B: ${NUM}x the limit's time per round trip \\(p50 ${NUM}x\\)$`, "m"),
      );
      assert.match(out, /^PASS bench: 300 sent, 300 received, 0 errors in [0-9]+ ms$/m);

      const json = await amp(e, ...bench, "--json");
      assert.equal(json.code, 0, json.out + json.err);
      const r = JSON.parse(json.out);
      assert.equal(r.machine, "qemu-rv64");
      assert.equal(r.passed, true);
      assert.equal(r.results.length, 1);
      assert.equal(typeof r.results[0].vsLimit, "number");
      assert.match(r.limit.what, /PING\/PONG/);
      assert.equal(typeof r.limit.roundTripsPerS, "number");
      assert.ok(r.limit.count > 0 && r.limit.count <= 20_000, `limit count ${r.limit.count}`);
      assert.deepEqual(Object.keys(r.limit).sort(), [
        "count",
        "latencyUs",
        "roundTripsPerS",
        "what",
      ]);
      assert.deepEqual(
        Object.keys(r.limit.latencyUs).sort(),
        Object.keys(r.results[0].latencyUs).sort(),
      );

      const noLimit = await amp(e, ...bench, "--no-limit", "--json");
      assert.equal(noLimit.code, 0, noLimit.out + noLimit.err);
      const n = JSON.parse(noLimit.out);
      assert.equal(n.limit, undefined);
      assert.equal(n.results[0].vsLimit, undefined);

      load.child.kill("SIGTERM");
      assert.equal(await load.done, 0, load.out + load.err);
      load = undefined;
    } finally {
      await cleanup(e, load);
      await Deno.remove(`/dev/shm/${name}`).catch(() => {});
    }
  },
});
