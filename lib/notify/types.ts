/**
 * The notification contract: how one side of a shared-memory link tells the
 * other that it put something in a ring ("a kick"), and how it waits for one.
 *
 * @module
 */

/** Options for {@linkcode Notifier.wait}. */
export interface NotifyWaitOptions {
  /** Longest time to wait, in milliseconds from the call (0 = only check). */
  deadlineMs: number;
  /** Stops the wait early (the wait then resolves `false`). */
  signal?: AbortSignal;
  /**
   * Extra wake-up condition checked at every poll step (for example "a ring has
   * work"). When it returns true the wait resolves `true` even without a kick.
   * Must be cheap and must not throw.
   */
  until?: () => boolean;
  /**
   * Microseconds to keep spinning and yielding (re-checking `until` and the
   * kick) before the wait sleeps or blocks; default: the notifier's own
   * (about 1 ms). Callers that just saw traffic pass a few ms so that the
   * next message is picked up in µs; callers idle for a while pass 0 so that
   * an idle side costs next to no CPU.
   */
  busyUs?: number;
}

/**
 * One side's end of a notification channel.
 *
 * `wait` consumes the kicks that arrived since the last consuming call: several
 * kicks before a wait coalesce into one `true`. A kick sent before `wait` is
 * called is never lost.
 */
export interface Notifier {
  /** Kick the peer. `id` is the vring notify id (ignored by channels that have one signal). */
  notify(id: number): void;
  /**
   * Wait for a kick (or `until()`), spinning briefly, then yielding, then sleeping,
   * never longer than `deadlineMs`. Resolves true if woken, false on deadline or abort.
   */
  wait(options: NotifyWaitOptions): Promise<boolean>;
  /** True when a kick is waiting to be consumed. Cheap; does not consume it. */
  pending(): boolean;
  /** Release resources; later `wait`s resolve false and `notify` does nothing. */
  close(): void;
  /**
   * True when a wait past its busy phase blocks on an event that a kick sets
   * at once (a socket or eventfd read, an in-process wake-up); absent or
   * false when a sleeping wait only looks again after a timer (a polled
   * word). A bus stops spinning for a peer that answers slowly only over an
   * event-driven notifier: anything else would answer it a timer tick late.
   */
  readonly eventDriven?: boolean;
}
