import assert from "node:assert/strict";
import { AmpError, type AmpErrorCode, isAmpError, TimeoutError } from "../errors.ts";
import { waitFor, waitUntil, yieldThread } from "./wait.ts";

Deno.test("waitFor resolves with the first truthy value", async () => {
  let calls = 0;
  const v = await waitFor(() => (++calls >= 200 ? { calls } : undefined), { deadlineMs: 10_000 });
  assert.equal(v.calls, 200);
  assert.equal(calls, 200, "stops calling once satisfied");
});

Deno.test("waitFor sees a value stored later by a timer (goes past spin and yield phases)", async () => {
  const word = new Uint32Array(1);
  const t = setTimeout(() => Atomics.store(word, 0, 5), 30);
  const v = await waitFor(() => Atomics.load(word, 0), {
    deadlineMs: 10_000,
    spinUs: 4,
    yieldUs: 2,
  });
  clearTimeout(t);
  assert.equal(v, 5);
});

Deno.test("waitFor times out with TimeoutError naming the wait", async () => {
  let calls = 0;
  await assert.rejects(
    waitFor(() => (calls++, false), { deadlineMs: 20, what: "waiting for godot" }),
    (e: unknown) =>
      e instanceof TimeoutError && e.code === "TIMEOUT" && e.ms === 20 &&
      e.message === "Timed out after 20 ms waiting for godot",
  );
  assert.ok(calls >= 2, "checked at the start and again after the last sleep");
  // A zero deadline still checks once.
  assert.equal(await waitFor(() => 1, { deadlineMs: 0 }), 1);
});

Deno.test("waitFor stops on abort and propagates errors from fn", async () => {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 10);
  await assert.rejects(
    waitFor(() => false, { deadlineMs: 60_000, signal: ac.signal, what: "waiting for x" }),
    (e: unknown) =>
      e instanceof AmpError && e.code === "ABORTED" && /waiting for x/.test(e.message),
  );
  clearTimeout(t);
  const ac2 = new AbortController();
  const reason = new TimeoutError("outer", 1);
  ac2.abort(reason);
  await assert.rejects(
    waitFor(() => false, { deadlineMs: 1000, signal: ac2.signal }),
    (e) => e === reason,
  );
  const boom = new AmpError("BOOM" as AmpErrorCode, "boom");
  await assert.rejects(
    waitFor(() => {
      throw boom;
    }, { deadlineMs: 1000 }),
    (e) => e === boom,
  );
});

Deno.test("waitUntil and waitFor reject bad options", async () => {
  const bad = [
    { deadlineMs: NaN },
    { deadlineMs: "10" as unknown as number },
    { deadlineMs: 10, spinUs: -1 },
    { deadlineMs: 10, yieldUs: Infinity },
    { deadlineMs: 10, sleepMs: NaN },
    { deadlineMs: 10, maxSleepMs: 0x8000_0000 },
  ];
  for (const o of bad) {
    for (const f of [waitUntil, waitFor]) {
      await assert.rejects(
        f(() => false, o),
        (e: unknown) =>
          isAmpError(e) && e.code === "WAIT_BAD_OPTION" && e.message.startsWith("Cannot wait: "),
        JSON.stringify(o),
      );
    }
  }
  // A deadline already past is no error: one check, then false.
  let n = 0;
  assert.equal(await waitUntil(() => (n++, false), { deadlineMs: -5 }), false);
  assert.equal(n, 1);
});

Deno.test("waitUntil: true at once without a yield; false at the deadline; abort resolves false", async () => {
  let n = 0;
  assert.equal(await waitUntil(() => ++n === 1, { deadlineMs: 0 }), true);
  assert.equal(n, 1);
  const t0 = performance.now();
  assert.equal(await waitUntil(() => false, { deadlineMs: 30, spinUs: 0, yieldUs: 0 }), false);
  assert.ok(performance.now() - t0 >= 29, "waited until the deadline");
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 10);
  const t1 = performance.now();
  assert.equal(
    await waitUntil(() => false, { deadlineMs: 60_000, signal: ac.signal, sleepMs: 50 }),
    false,
  );
  assert.ok(performance.now() - t1 < 5_000, "the abort ended a sleep step early");
  const aborted = new AbortController();
  aborted.abort();
  let m = 0;
  assert.equal(
    await waitUntil(() => (m++, false), { deadlineMs: 1000, signal: aborted.signal }),
    false,
  );
  assert.equal(m, 1, "an aborted signal still checks once");
});

Deno.test("waitUntil: sleep steps double up to maxSleepMs", async () => {
  const at: number[] = [];
  const t0 = performance.now();
  await waitUntil(() => (at.push(performance.now() - t0), false), {
    deadlineMs: 200,
    spinUs: 0,
    yieldUs: 0,
    sleepMs: 5,
    maxSleepMs: 40,
  });
  // checks: the first one, then after sleeps of about 5, 10, 20, 40, 40, 40... ms
  const gaps = at.slice(1).map((x, i) => x - at[i]!);
  assert.ok(gaps.length >= 4 && gaps.length <= 10, `gaps ${gaps}`);
  assert.ok(gaps[0]! >= 4 && gaps[0]! < 30, `first step ${gaps[0]}`);
  // The last step is cut short by the deadline, so it is left out.
  assert.ok(gaps.slice(1, -1).every((g) => g >= 8), `later steps grow: ${gaps}`);
  assert.ok(gaps.every((g) => g < 40 + 60), `capped: ${gaps}`);
});

Deno.test("waitUntil: a wake event ends a sleep step at once and is unsubscribed after", async () => {
  let wakeFn: (() => void) | null = null;
  let flag = false;
  let subscribed = 0;
  setTimeout(() => {
    flag = true;
    wakeFn?.();
  }, 20);
  const t0 = performance.now();
  const ok = await waitUntil(() => flag, {
    deadlineMs: 60_000,
    spinUs: 0,
    yieldUs: 0,
    sleepMs: 30_000,
    wake: (w) => {
      subscribed++;
      wakeFn = w;
      return () => (wakeFn = null);
    },
  });
  assert.equal(ok, true);
  assert.ok(performance.now() - t0 < 10_000, "woken, not slept for 30 s");
  assert.equal(subscribed, 1);
  assert.equal(wakeFn, null, "unsubscribed");
});

Deno.test("yieldThread reports whether sched_yield ran", () => {
  // The test runs with --allow-all, so FFI is granted and libc has sched_yield.
  assert.equal(yieldThread(), Deno.permissions.querySync({ name: "ffi" }).state === "granted");
});
