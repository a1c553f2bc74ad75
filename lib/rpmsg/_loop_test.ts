import assert from "node:assert/strict";
import { type LoopBus, type Quiet, runLoop, spinForWork, waitForWork } from "./_loop.ts";
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
  const q = quietOf((on) => void (muted = on));
  // Work is there during the busy phase: found without a wait, the mute stays on.
  work = true;
  assert.equal(await waitForWork(() => work, n, 5, opts, q), true);
  assert.equal(muted, true, "still muted while messages keep coming");
  // No busy window: the mute is lifted and the rings are looked at once more
  // before blocking; work found then needs no wait at all.
  assert.equal(await waitForWork(() => work, n, 0, opts, q), true);
  assert.equal(muted, false);
  assert.deepEqual(seenAtWait, [], "the look after unmuting found the work");
  // Nothing there: the notifier is only waited on unmuted, and told not to spin.
  work = false;
  await waitForWork(() => work, n, 1, opts, q);
  await waitForWork(() => work, n, 0, opts, q);
  assert.deepEqual(seenAtWait, [false, false]);
});

Deno.test("waitForWork: whether or not the peer polls, a wait in its busy window finds later work itself, muted, without a kick", async () => {
  const n = recorder(true);
  for (const polls of [true, false]) {
    let muted = false;
    const at = performance.now() + 2; // work shows up 2 ms in, within the 5 ms window
    const ok = await waitForWork(
      () => performance.now() >= at,
      n,
      5,
      opts,
      quietOf((on) => void (muted = on), () => polls),
    );
    assert.equal(ok, true);
    assert.equal(muted, true, `muted while looking (peer polls: ${polls})`);
  }
  assert.deepEqual(n.busy, [], "the notifier was never waited on");
});

Deno.test("waitForWork: over a polled notifier the busy phase is the notifier's, unmuted", async () => {
  const n = recorder(false);
  let mutes = 0;
  for (let i = 0; i < 5; i++) await waitForWork(() => false, n, 5, opts, quietOf(() => mutes++));
  assert(n.busy.every((b) => b > 0), n.busy.join(","));
  assert.equal(mutes, 0, "a polled kick is a store: nothing to mute");
});

Deno.test("waitForWork: without a busy window it blocks at once", async () => {
  const n = recorder(true);
  await waitForWork(() => false, n, 0, opts, quietOf(() => {}));
  assert.deepEqual(n.busy, [0]);
});

Deno.test("spinForWork: idle, one look and no mute; busy, muted, and it spins only for a peer that polls", () => {
  const n = recorder(true);
  let muted = false;
  let looks = 0;
  const q = (polls: boolean) => quietOf((on) => void (muted = on), () => polls);
  assert.equal(spinForWork(() => (looks++, false), n, 0, q(true)), false);
  assert.equal(looks, 1);
  assert.equal(muted, false, "an idle bus is not muted");
  assert.equal(spinForWork(() => true, n, 0, q(true)), true);
  // Busy, the peer waits for kicks: muted, one look, no spin.
  looks = 0;
  assert.equal(spinForWork(() => (looks++, false), n, 5, q(false)), false);
  assert.equal(muted, true);
  assert.equal(looks, 1);
  // Busy, the peer polls: work that shows up a few looks into the spin is
  // found (the first 16 looks come before any clock read).
  let k = 0;
  assert.equal(spinForWork(() => ++k > 10, n, 5, q(true)), true);
  assert.equal(k, 11);
  assert.deepEqual(n.busy, [], "never waited on the notifier");
});

Deno.test("runLoop: work the bus's spin finds is polled without a wait", async () => {
  let polls = 0, spins = 0, waits = 0, handled = 0;
  const bus: LoopBus = {
    closed: false,
    poll: () => (polls++, spins > 0 && handled < 3 ? (handled++, 1) : 0),
    spinForWork: () => (spins++, true),
    waitForWork: () => (waits++, Promise.resolve(true)),
  };
  await runLoop(bus, { stop: () => handled >= 3 });
  assert.equal(handled, 3);
  assert.equal(waits, 0);
  assert(spins >= 1 && polls >= 4);
});
