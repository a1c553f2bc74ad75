/**
 * Soak in CI: `deno task soak` with a small N (20 000 messages with sequence
 * numbers and checksums between amp's host and the simulated remote in other
 * processes): nothing lost, corrupted or out of order, and the RSS lines of
 * the three processes are printed. The long run (default 10M) is
 * `deno task soak` by hand.
 */

import assert from "node:assert/strict";

const SOAK = new URL("./soak.ts", import.meta.url).pathname;

Deno.test({
  name: "soak: 20000 messages through the simulated remote, none lost or corrupted",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const o = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", SOAK, "--messages", "20000"],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    const out = dec.decode(o.stdout), err = dec.decode(o.stderr);
    assert.equal(o.code, 0, out + err);
    assert.match(out, /^soak: 20000 sent, 20000 received, 0 lost, 0 corrupted, 0 out of order/m);
    for (const p of ["host", "owner", "remote"]) {
      assert.match(
        out,
        new RegExp(`^soak: RSS ${p}: [\\d.]+ MiB at start, [\\d.]+ MiB at end`, "m"),
      );
    }
  },
});
