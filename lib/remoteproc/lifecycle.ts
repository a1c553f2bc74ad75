/**
 * The remoteproc lifecycle as a transition table:
 *
 * | from \ event | load | start | stop | crash |
 * |---|---|---|---|---|
 * | offline | loaded | | | |
 * | loaded | loaded | running | | |
 * | running | | | stopped | crashed |
 * | stopped | loaded | | | |
 * | crashed | loaded | | stopped | |
 *
 * A stopped core must be loaded again before it starts: the firmware ran and
 * changed its own memory.
 *
 * @module
 */

import { AmpError } from "../errors.ts";
import type { RemoteprocState } from "./types.ts";

/** What can happen to a remote core. */
export type LifecycleEvent = "load" | "start" | "stop" | "crash";

/** Legal transitions: `TRANSITIONS[state][event]` is the next state. */
export const TRANSITIONS: Readonly<
  Record<RemoteprocState, Readonly<Partial<Record<LifecycleEvent, RemoteprocState>>>>
> = {
  offline: { load: "loaded" },
  loaded: { load: "loaded", start: "running" },
  running: { stop: "stopped", crash: "crashed" },
  stopped: { load: "loaded" },
  crashed: { load: "loaded", stop: "stopped" },
};

/** Why an event is refused in a state, for the error message. */
const HINTS: Readonly<Partial<Record<`${RemoteprocState}:${LifecycleEvent}`, string>>> = {
  "offline:start": "load firmware first",
  "offline:stop": "it was never started",
  "loaded:stop": "it has not been started",
  "running:load": "stop it before loading new firmware",
  "running:start": "it is already running",
  "stopped:start": "load the firmware again first (a run changes its memory)",
  "stopped:stop": "it is already stopped",
  "crashed:start": "load the firmware again first",
};

/**
 * Tracks one core's state and refuses illegal transitions with `AmpError`
 * code `STATE`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Lifecycle } from "./lifecycle.ts";
 * const lc = new Lifecycle("cpu 1");
 * lc.apply("load");
 * lc.apply("start");
 * assert(lc.state === "running" && !lc.can("load"));
 * ```
 */
export class Lifecycle {
  /** Subject used in messages, e.g. `"remote cpu 1"`. */
  readonly subject: string;
  #state: RemoteprocState;

  /** Start in `initial` (default `offline`). */
  constructor(subject: string, initial: RemoteprocState = "offline") {
    this.subject = subject;
    this.#state = initial;
  }

  /** The current state. */
  get state(): RemoteprocState {
    return this.#state;
  }

  /** True when `event` is legal now. */
  can(event: LifecycleEvent): boolean {
    return TRANSITIONS[this.#state][event] !== undefined;
  }

  /** Throw `STATE` unless `event` is legal now; returns the state it would lead to. */
  check(event: LifecycleEvent): RemoteprocState {
    const next = TRANSITIONS[this.#state][event];
    if (next === undefined) {
      const hint = HINTS[`${this.#state}:${event}`];
      throw new AmpError(
        "STATE",
        `Cannot ${event} ${this.subject}: it is ${this.#state}${hint ? ` (${hint})` : ""}`,
      );
    }
    return next;
  }

  /** Apply `event` (throws `STATE` if illegal) and return the new state. */
  apply(event: LifecycleEvent): RemoteprocState {
    this.#state = this.check(event);
    return this.#state;
  }
}
