/**
 * The message channel the demo apps run over: an rpmsg endpoint in practice,
 * an in-memory pair in unit tests.
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";

/** A bidirectional message channel with one message per send. */
export interface Channel {
  /** Largest payload one message can carry. */
  readonly maxPayload: number;
  /** Send one message (copied). */
  send(data: Uint8Array): Promise<void>;
  /** Receive the next message, or throw TimeoutError after `timeoutMs`. */
  recv(timeoutMs: number): Promise<Uint8Array>;
  /**
   * Optional: receive the next message into `into` (at least `maxPayload`
   * bytes) and resolve its length, allocating nothing per message. Errors
   * as {@linkcode Channel.recv}.
   */
  recvInto?(into: Uint8Array, timeoutMs: number): Promise<number>;
  /**
   * Optional: send now if the transport has room (true), else false without
   * sending; throws what {@linkcode Channel.send} rejects with. Lets a loop
   * skip an await per message.
   */
  trySend?(data: Uint8Array): boolean;
  /**
   * Optional: {@linkcode Channel.recvInto} without waiting (a brief spin at
   * most): the next message's length, or -1 when none is there.
   */
  tryRecvInto?(into: Uint8Array): number;
}

/** A line sink for progress and report lines. */
export type LogFn = (line: string) => void;

/** The outcome of one demo run, as every demo reports it. */
export interface DemoResult {
  /** Demo name, e.g. `"msg-test"`. */
  demo: string;
  /** True when the run completed with zero errors. */
  passed: boolean;
  /** Errors counted (bad echo, wrong product, timeouts...). */
  errors: number;
  /** Messages sent. */
  sent: number;
  /** Messages received (and checked). */
  received: number;
  /** Wall time of the run in milliseconds. */
  ms: number;
  /** First error messages (at most 10), for the report. */
  failures: string[];
}

/**
 * Book-keeping shared by every demo runner: counts, the first failures, wall
 * time, and the pass rule (no error and every expected reply received).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DemoRun } from "./channel.ts";
 * const run = new DemoRun("x");
 * run.result.sent++;
 * run.fail("no reply");
 * assert.equal(run.finish(1).passed, false);
 * ```
 */
export class DemoRun {
  /** The result being filled in. */
  readonly result: DemoResult;
  #t0 = performance.now();
  #log: LogFn | undefined;

  /** Start a run of `demo`; failures are also logged to `log` when given. */
  constructor(demo: string, log?: LogFn) {
    this.result = { demo, passed: false, errors: 0, sent: 0, received: 0, ms: 0, failures: [] };
    this.#log = log;
  }

  /** Count one error and keep its message (the first 10 are kept). */
  fail(message: string): void {
    this.result.errors++;
    if (this.result.failures.length < 10) this.result.failures.push(message);
    this.#log?.(`ERROR: ${message}`);
  }

  /** Stop the clock and decide: passed when no error and `expected` replies came. */
  finish(expected: number): DemoResult {
    const r = this.result;
    r.ms = performance.now() - this.#t0;
    r.passed = r.errors === 0 && r.received === expected;
    return r;
  }
}

/**
 * Two connected in-memory channels, for tests and for running a service
 * in-process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelPair } from "./channel.ts";
 * const [a, b] = channelPair(496);
 * await a.send(new Uint8Array([1, 2, 3]));
 * const got = await b.recv(1000);
 * assert(got.length === 3);
 * ```
 */
export function channelPair(maxPayload: number): [Channel, Channel] {
  const qa: Uint8Array[] = [];
  const qb: Uint8Array[] = [];
  const wa: Array<() => void> = [];
  const wb: Array<() => void> = [];
  const make = (
    inbox: Uint8Array[],
    waiters: Array<() => void>,
    outbox: Uint8Array[],
    peerWaiters: Array<() => void>,
  ): Channel => ({
    maxPayload,
    send(data: Uint8Array): Promise<void> {
      if (data.length > maxPayload) {
        return Promise.reject(
          new RangeError(`message of ${data.length} B exceeds ${maxPayload} B`),
        );
      }
      outbox.push(data.slice());
      for (const wake of peerWaiters.splice(0)) wake();
      return Promise.resolve();
    },
    async recv(timeoutMs: number): Promise<Uint8Array> {
      const deadline = Date.now() + timeoutMs;
      while (inbox.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new TimeoutError("waiting for a message", timeoutMs);
        let timer: ReturnType<typeof setTimeout> | undefined;
        let wake = (): void => {};
        await new Promise<void>((resolve) => {
          wake = resolve;
          waiters.push(resolve);
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
        const i = waiters.indexOf(wake);
        if (i >= 0) waiters.splice(i, 1);
      }
      return inbox.shift()!;
    },
  });
  return [make(qa, wa, qb, wb), make(qb, wb, qa, wa)];
}
