import assert from "node:assert/strict";
import { type Pace, SLOW_SHARE, waitForWork } from "./_loop.ts";
import type { Notifier, NotifyWaitOptions } from "../notify/types.ts";

/** A notifier that records the busy phase each wait was given and resolves at once. */
function recorder(eventDriven: boolean): Notifier & { busy: number[] } {
  const busy: number[] = [];
  return {
    busy,
    eventDriven,
    notify() {},
    pending: () => false,
    close() {},
    wait(o: NotifyWaitOptions) {
      busy.push(o.busyUs ?? -1);
      return Promise.resolve(true);
    },
  };
}

const opts = { deadlineMs: 100 };

Deno.test("waitForWork: a peer that keeps missing the fast spin is waited for by blocking at once", async () => {
  const n = recorder(true);
  const pace: Pace = { slow: 0, waits: 0 };
  for (let i = 0; i < 40; i++) await waitForWork(() => false, n, 5, opts, pace);
  assert(pace.slow > SLOW_SHARE);
  assert(n.busy[0]! > 0, "the first slow answer still gets the busy phase");
  assert.equal(n.busy.at(-1), 0, "after a run of slow answers the wait blocks at once");
});

Deno.test("waitForWork: a blocking-at-once bus notices a fast peer again through its probes", async () => {
  const n = recorder(true);
  const pace: Pace = { slow: 1, waits: 0 };
  let calls = 0;
  // The peer now answers at once: only the probes spin and see it.
  for (let i = 0; i < 400 && pace.slow > SLOW_SHARE; i++) {
    await waitForWork(() => ++calls > 0, n, 5, opts, pace);
  }
  assert(pace.slow <= SLOW_SHARE, `slow share ${pace.slow}`);
  const before = n.busy.length;
  assert.equal(await waitForWork(() => true, n, 5, opts, pace), true);
  assert.equal(n.busy.length, before, "a fast answer is served by the spin, not by a wait");
});

Deno.test("waitForWork: over a polled notifier the busy phase is kept however slow the peer", async () => {
  const n = recorder(false);
  const pace: Pace = { slow: 0, waits: 0 };
  for (let i = 0; i < 40; i++) await waitForWork(() => false, n, 5, opts, pace);
  assert(n.busy.every((b) => b > 0), n.busy.join(","));
});

Deno.test("waitForWork: without a busy window it blocks at once and leaves the pace alone", async () => {
  const n = recorder(true);
  const pace: Pace = { slow: 0, waits: 0 };
  await waitForWork(() => false, n, 0, opts, pace);
  assert.deepEqual(n.busy, [0]);
  assert.deepEqual(pace, { slow: 0, waits: 0 });
});
