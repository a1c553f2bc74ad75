/**
 * Counting and logging what the bus drops: one counter per reason (on the
 * bus and on the endpoint concerned), one log line per reason per second.
 * Internal to the bus (`device.ts`).
 *
 * @module
 */

import type { RpmsgCounters, RpmsgDeviceCounters } from "./types.ts";

/** Shortest time between two log lines of the same reason, ms. */
const NO_LOG_WINDOW_MS = 1000;

/** Fresh counters of a bus, all zero. */
export function deviceCounters(): RpmsgDeviceCounters {
  return {
    rxMessages: 0,
    rxBytes: 0,
    txMessages: 0,
    txBytes: 0,
    drops: new Map(),
    kicks: 0,
    nsCreate: 0,
    nsDestroy: 0,
    resets: 0,
  };
}

/** Add one to `reason` in a drop counter map. */
export function countDrop(drops: Map<string, number>, reason: string): void {
  drops.set(reason, (drops.get(reason) ?? 0) + 1);
}

/** Drop counters plus a rate-limited log. */
export class DropLog {
  readonly #stats: RpmsgCounters;
  readonly #log: (message: string) => void;
  readonly #lastWarn = new Map<string, { at: number; suppressed: number }>();

  /** Count into `stats.drops`, log through `log`. */
  constructor(stats: RpmsgCounters, log: (message: string) => void) {
    this.#stats = stats;
    this.#log = log;
  }

  /**
   * Count a drop under `reason` (also on `ep` when given) and log `message`,
   * unless the same reason was logged less than a second ago: then the line
   * is suppressed and counted in the next one.
   */
  drop(ep: { readonly stats: RpmsgCounters } | null, reason: string, message: string): void {
    countDrop(this.#stats.drops, reason);
    if (ep) countDrop(ep.stats.drops, reason);
    const now = performance.now();
    const w = this.#lastWarn.get(reason);
    if (w && now - w.at < NO_LOG_WINDOW_MS) {
      w.suppressed++;
      return;
    }
    const extra = w && w.suppressed > 0 ? ` (${w.suppressed} similar suppressed)` : "";
    this.#lastWarn.set(reason, { at: now, suppressed: 0 });
    this.#log(`${reason}: ${message}${extra}`);
  }
}
