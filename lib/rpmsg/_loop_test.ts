import assert from "node:assert/strict";
import { type Pace, type Quiet, SLOW_SHARE, waitForWork } from "./_loop.ts";
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

/** A Quiet that hands each mute to `onMute`; the peer polls when `polls()` says so. */
function quietOf(onMute: (on: boolean) => void, polls = () => false): Quiet {
  return { mute: onMute, peerPolls: polls };
}

Deno.test("waitForWork: a peer that keeps missing the fast spin is waited for by blocking at once", async () => {
  const n = recorder(true);
  const pace: Pace = { slow: 0, waits: 0 };
  const mutes: boolean[][] = [];
  for (let i = 0; i < 40; i++) {
    const m: boolean[] = [];
    mutes.push(m);
    await waitForWork(() => false, n, 5, opts, pace, quietOf((on) => m.push(on)));
  }
  assert(pace.slow > SLOW_SHARE);
  assert.deepEqual(mutes[0], [true, false], "the first slow answer is still spun for, muted");
  assert.deepEqual(mutes.at(-1), [false], "after a run of slow answers the wait blocks at once");
  assert(n.busy.every((b) => b === 0), "the notifier itself never spins: the loop did");
});

Deno.test("waitForWork: a spin mutes the peer's kicks, keeps the mute when work comes, lifts it before blocking", async () => {
  let muted = false;
  let work = false;
  const seenAtWait: boolean[] = [];
  const n: Notifier = {
    eventDriven: true,
    notify() {},
    pending: () => false,
    close() {},
    wait() {
      seenAtWait.push(muted);
      return Promise.resolve(true);
    },
  };
  const pace: Pace = { slow: 0, waits: 0 };
  const mute = quietOf((on) => void (muted = on));
  // Work is there during the spin: found without a wait, the mute stays on.
  work = true;
  assert.equal(await waitForWork(() => work, n, 5, opts, pace, mute), true);
  assert.equal(muted, true, "still muted while messages keep coming");
  // No busy window: the mute is lifted and the rings are looked at once more
  // before blocking; work found then needs no wait at all.
  let looks = 0;
  assert.equal(await waitForWork(() => ++looks > 0 && work, n, 0, opts, pace, mute), true);
  assert.equal(muted, false);
  assert.deepEqual(seenAtWait, [], "the look after unmuting found the work");
  // Nothing there: the notifier is only waited on unmuted.
  work = false;
  await waitForWork(() => work, n, 1, opts, pace, mute);
  await waitForWork(() => work, n, 0, opts, pace, mute);
  assert.deepEqual(seenAtWait, [false, false]);
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

Deno.test("waitForWork: over a polled notifier the busy phase is kept however slow the peer, unmuted", async () => {
  const n = recorder(false);
  const pace: Pace = { slow: 0, waits: 0 };
  let mutes = 0;
  for (let i = 0; i < 40; i++) {
    await waitForWork(() => false, n, 5, opts, pace, quietOf(() => mutes++));
  }
  assert(n.busy.every((b) => b > 0), n.busy.join(","));
  assert.equal(mutes, 0, "a polled kick is a store: nothing to mute");
});

Deno.test("waitForWork: without a busy window it blocks at once and leaves the pace alone", async () => {
  const n = recorder(true);
  const pace: Pace = { slow: 0, waits: 0 };
  await waitForWork(() => false, n, 0, opts, pace);
  assert.deepEqual(n.busy, [0]);
  assert.deepEqual(pace, { slow: 0, waits: 0 });
});

Deno.test("waitForWork: a peer that polls for our messages (its ring muted) is spun for however slow it answers", async () => {
  const n = recorder(true);
  const pace: Pace = { slow: 0, waits: 0 };
  let polls = true;
  const spun: boolean[] = [];
  const q = quietOf((on) => on && spun.push(true), () => polls);
  for (let i = 0; i < 20; i++) await waitForWork(() => false, n, 1, opts, pace, q);
  assert.equal(spun.length, 20, "every wait spun");
  assert.equal(pace.slow, 0, "its slow answers are not held against it");
  // The same slow answers from a peer that does not poll: blocking at once.
  polls = false;
  spun.length = 0;
  for (let i = 0; i < 20; i++) await waitForWork(() => false, n, 1, opts, pace, q);
  assert(pace.slow > SLOW_SHARE);
  assert(spun.length < 20, `${spun.length} of 20 waits spun`);
});
