/**
 * The rpmsg-client-sample demo: the host sends 99 x "hello world!" then
 * "goodbye!"; the remote echoes each one; the host checks every echo.
 *
 * @module
 */

import { isAmpError } from "../errors.ts";
import { type Channel, type DemoResult, DemoRun, type LogFn } from "./channel.ts";

/** Service name of the sample. */
export const SAMPLE_SERVICE = "rpmsg-client-sample";
/** Messages in one sample run: 99 greetings and one goodbye. */
export const SAMPLE_COUNT = 100;
/** The greeting payload (12 B, no NUL). */
export const SAMPLE_HELLO = "hello world!";
/** The last payload (8 B). */
export const SAMPLE_GOODBYE = "goodbye!";

/** Options of {@linkcode runSample}. */
export interface SampleOptions {
  /** Messages including the final goodbye (default 100). */
  count?: number;
  /** Wait per echo, ms (default 5000). */
  timeoutMs?: number;
  /** Where the demo's lines go (default: nowhere). */
  log?: LogFn;
  /** Called after each echo with the messages done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Host side of the sample: send, check each echo.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelPair } from "./channel.ts";
 * import { runSample } from "./sample.ts";
 * import { serveSample } from "./services.ts";
 * const [host, remote] = channelPair(496);
 * const stop = serveSample(remote);
 * const r = await runSample(host);
 * await stop();
 * assert(r.passed && r.received === 100);
 * ```
 */
export async function runSample(ch: Channel, options: SampleOptions = {}): Promise<DemoResult> {
  const count = options.count ?? SAMPLE_COUNT;
  const timeoutMs = options.timeoutMs ?? 5000;
  const enc = new TextEncoder(), dec = new TextDecoder("utf-8", { fatal: false });
  const run = new DemoRun("sample");
  const r = run.result;
  for (let i = 1; i <= count; i++) {
    const text = i === count ? SAMPLE_GOODBYE : SAMPLE_HELLO;
    try {
      await ch.send(enc.encode(text));
    } catch (e) {
      if (!isAmpError(e)) throw e;
      run.fail(`message ${i}: ${e.message}`);
      break;
    }
    r.sent++;
    let echo: Uint8Array;
    try {
      echo = await ch.recv(timeoutMs);
    } catch (e) {
      if (!isAmpError(e)) throw e;
      run.fail(`message ${i}: ${e.message}`);
      options.log?.(`ERROR: message ${i}: ${e.message}`);
      break;
    }
    r.received++;
    const got = dec.decode(echo);
    options.log?.(`incoming msg ${i}: "${got}"`);
    if (got !== text) {
      run.fail(`message ${i}: echo "${got}" != "${text}"`);
      options.log?.(`ERROR: message ${i}: echo "${got}" differs from "${text}"`);
    }
    options.onProgress?.(i, count);
  }
  return run.finish(count);
}
