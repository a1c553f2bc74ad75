import assert from "node:assert/strict";
import { AmpError, isAmpError, TimeoutError } from "../errors.ts";
import { pollUntil } from "./poll.ts";

Deno.test("pollUntil resolves with the first truthy value", async () => {
  let calls = 0;
  const v = await pollUntil(() => (++calls >= 200 ? { calls } : undefined), { deadlineMs: 10_000 });
  assert.equal(v.calls, 200);
  assert.equal(calls, 200, "stops calling once satisfied");
});

Deno.test("pollUntil sees a value stored later by a timer (goes past spin and yield phases)", async () => {
  const word = new Uint32Array(1);
  const t = setTimeout(() => Atomics.store(word, 0, 5), 30);
  const v = await pollUntil(() => Atomics.load(word, 0), {
    deadlineMs: 10_000,
    spin: 4,
    yields: 2,
  });
  clearTimeout(t);
  assert.equal(v, 5);
});

Deno.test("pollUntil times out with TimeoutError naming the wait", async () => {
  let calls = 0;
  await assert.rejects(
    pollUntil(() => (calls++, false), { deadlineMs: 20, what: "waiting for godot" }),
    (e: unknown) =>
      e instanceof TimeoutError && e.code === "TIMEOUT" && e.ms === 20 &&
      e.message === "Timed out after 20 ms waiting for godot",
  );
  assert.ok(calls >= 1);
  // A zero deadline still checks once.
  assert.equal(await pollUntil(() => 1, { deadlineMs: 0 }), 1);
});

Deno.test("pollUntil stops on abort and propagates errors from fn", async () => {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 10);
  await assert.rejects(
    pollUntil(() => false, { deadlineMs: 60_000, signal: ac.signal, what: "waiting for x" }),
    (e: unknown) =>
      e instanceof AmpError && e.code === "ABORTED" && /waiting for x/.test(e.message),
  );
  clearTimeout(t);
  const ac2 = new AbortController();
  const reason = new TimeoutError("outer", 1);
  ac2.abort(reason);
  await assert.rejects(
    pollUntil(() => false, { deadlineMs: 1000, signal: ac2.signal }),
    (e) => e === reason,
  );
  const boom = new AmpError("BOOM", "boom");
  await assert.rejects(
    pollUntil(() => {
      throw boom;
    }, { deadlineMs: 1000 }),
    (e) => e === boom,
  );
});

Deno.test("pollUntil rejects bad options", async () => {
  for (
    const o of [{ deadlineMs: -1 }, { deadlineMs: NaN }, { deadlineMs: 10, spin: -1 }, {
      deadlineMs: 10,
      yields: 1.5,
    }]
  ) {
    await assert.rejects(
      pollUntil(() => true, o),
      (e: unknown) => isAmpError(e) && e.code === "POLL_BAD_OPTION",
      JSON.stringify(o),
    );
  }
});
