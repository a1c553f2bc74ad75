/**
 * Priming a remote amp runs: before the remote serves its machine, it serves
 * a private host in its own process for a few hundred echo round trips, so
 * V8 has compiled the receive, echo and send path when the first real host
 * comes. Without it, a new `amp remote` answers its first two host sessions
 * up to 2x slower than later ones (measured: amp's msg-test 25-28 ms, then
 * 18-22 ms, then 12-14 ms; primed: 12-15 ms from the first).
 *
 * The private link has the machine's own layout (the same addresses, ring
 * sizes, buffer pool and table) in one heap region of this process (at most
 * 64 MiB), with an in-process notifier pair: nothing of the machine's shared
 * memory, socket or files is touched, so the remote can be primed before it
 * publishes anything.
 *
 * @module
 */

import { ECHO_SERVICE, maxPingSize, runMsgTest } from "../apps/echo.ts";
import { echoService } from "../apps/services.ts";
import { startDevice } from "../device/runtime.ts";
import { remoteTable } from "../device/upstream_table.ts";
import { AmpError } from "../errors.ts";
import { HostSession } from "../host/session.ts";
import { mapProfileRegions } from "../machine/map.ts";
import type { MachineProfile } from "../machine/types.ts";
import { layoutRanges, validateProfile } from "../machine/validate.ts";
import { hex } from "../mem/region.ts";
import { InProcessNotifier } from "../notify/in_process.ts";

/** Round trips {@linkcode primeRemote} makes by default: two msg-test sweeps. */
export const PRIME_MESSAGES = 960;

/** The most heap a private link may take: its layout's span. */
const MAX_PRIVATE_BYTES = 64 << 20;

/**
 * `p` with one heap region spanning its layout (the table, both vrings, the
 * buffer pool) at the same addresses, and in-process notification: the link
 * as the remote's code sees it, in memory of this process only.
 */
function privateCopy(p: MachineProfile): MachineProfile {
  const ranges = layoutRanges(p.layout);
  const lo = Math.min(...ranges.map((r) => r.pa));
  const hi = Math.max(...ranges.map((r) => r.pa + r.size));
  if (hi - lo > MAX_PRIVATE_BYTES) {
    throw new AmpError(
      "PRIME_FAILED",
      `Cannot prime for machine "${p.name}": its layout spans ${
        hex(hi - lo)
      } bytes, more than the ${hex(MAX_PRIVATE_BYTES)} a private copy may take`,
    );
  }
  return validateProfile({
    ...p,
    name: `${p.name} (private copy)`,
    regions: [{
      name: "private",
      pa: lo,
      size: hi - lo,
      backing: { kind: "heap" },
      roles: ["shm"],
    }],
    notify: { kind: "inproc" },
    demos: undefined,
  }, `private copy of "${p.name}"`);
}

/** Options of {@linkcode primeRemote}. */
export interface PrimeOptions {
  /** The machine whose layout the private link copies (its memory is not touched). */
  profile: MachineProfile;
  /** Echo round trips (default {@linkcode PRIME_MESSAGES}; 0 does nothing). */
  messages?: number;
  /** Longest wait for any one step (the handshake, an echo), ms (default 5000). */
  timeoutMs?: number;
}

/** What {@linkcode primeRemote} did. */
export interface PrimeResult {
  /** Echo round trips made (each echo checked byte for byte). */
  messages: number;
  /** Time taken, ms. */
  ms: number;
}

/**
 * Run `messages` echo round trips between an amp host and an amp remote in
 * this process, over a private heap copy of `profile`'s layout. Throws an
 * `AmpError` ("PRIME_FAILED") when an echo is missing or wrong; a caller
 * that only wants the speed-up may log that and serve anyway.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { primeRemote } from "./prime.ts";
 * import { OPENAMP_LINUX } from "../machine/profiles/openamp_linux.ts";
 * const r = await primeRemote({ profile: OPENAMP_LINUX, messages: 20 });
 * assert.equal(r.messages, 20);
 * ```
 */
export async function primeRemote(options: PrimeOptions): Promise<PrimeResult> {
  const messages = options.messages ?? PRIME_MESSAGES;
  if (!Number.isSafeInteger(messages) || messages < 0) {
    throw new RangeError(`Cannot prime with ${messages} messages: give a whole number >= 0`);
  }
  if (messages === 0) return { messages: 0, ms: 0 };
  const t0 = performance.now();
  const timeoutMs = options.timeoutMs ?? 5000;
  const profile = privateCopy(options.profile);
  const memory = await mapProfileRegions(profile);
  const [hostEnd, remoteEnd] = InProcessNotifier.pair();
  let done = 0;
  try {
    const tablePa = profile.layout.rscTable.pa;
    const table = remoteTable(profile);
    memory.get(tablePa, table.length).write(tablePa, table);
    // Both ends block between messages: in one thread, a spinning wait
    // would only keep the other end from running.
    const remote = await startDevice({
      profile,
      memory,
      rscAddr: tablePa,
      rscSize: table.length,
      services: [echoService()],
      notifier: remoteEnd,
      readyWord: null,
      shmemPa: null,
      activeWindowMs: 0,
    });
    try {
      const s = await HostSession.open(profile, {
        memory,
        notifier: hostEnd,
        timeoutMs,
        activeWindowMs: 0,
      });
      try {
        const ch = await s.channel(ECHO_SERVICE, { timeoutMs });
        while (done < messages) {
          const r = await runMsgTest(ch, {
            wordSize: 8,
            maxSize: Math.min(messages - done, maxPingSize(ch.maxPayload, 8)),
            timeoutMs,
          });
          if (!r.passed) {
            throw new AmpError(
              "PRIME_FAILED",
              `Priming the remote failed: ${r.failures[0] ?? `${r.errors} errors`}`,
            );
          }
          done += r.received;
        }
      } finally {
        await s.close();
      }
    } finally {
      await remote.stop();
    }
  } finally {
    hostEnd.close();
    remoteEnd.close();
    memory.close();
  }
  return { messages: done, ms: performance.now() - t0 };
}
