/**
 * The libmetal shared-memory demo (no rpmsg), as openamp-wire.md section 5
 * lays it out: a control word, two counters and two message buffers in one
 * shared region. The host writes a message; the remote copies it back.
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";
import type { MemoryRegion } from "../mem/region.ts";
import { type DemoResult, DemoRun, type LogFn } from "./channel.ts";
import { waitFor } from "../util/wait.ts";

/** Offsets from the demo area's base. */
export const SHM_CONTROL = 0x00, SHM_TX_AVAIL = 0x04, SHM_RX_AVAIL = 0x0c;
/** Host -> remote message and remote -> host reply. */
export const SHM_TX_BUFFER = 0x14, SHM_RX_BUFFER = 0x800;
/** Bytes the demo area spans (reply buffer of 0x400 included). */
export const SHM_DEMO_SIZE = 0xc00;
/** Control word values. */
export const DEMO_STATUS_IDLE = 0, DEMO_STATUS_START = 1;
/** The demo's text; sent with its terminating NUL. */
export const SHM_TEST_MSG = "Hello World - libmetal shared memory demo";
/** Size of each message buffer; the responder never copies more. */
export const SHM_BUFFER_SIZE = 0x400;

/**
 * Encode one demo message: `{u32 index; u32 len}` then the text and a NUL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeShmMessage } from "./shmem.ts";
 * const m = encodeShmMessage(0);
 * assert(m.length === 8 + 42 && m[4] === 42 && m[m.length - 1] === 0);
 * ```
 */
export function encodeShmMessage(index: number, text = SHM_TEST_MSG): Uint8Array {
  const body = new TextEncoder().encode(text + "\0");
  const out = new Uint8Array(8 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, index, true);
  dv.setUint32(4, body.length, true);
  out.set(body, 8);
  return out;
}

/** Options of {@linkcode runShmemDemo}. */
export interface ShmemDemoOptions {
  /** Messages to exchange (default 1, like the original demo). */
  count?: number;
  /** Wait for each step of the peer, ms (default 5000). */
  timeoutMs?: number;
  /** Where the demo's lines go (default: nowhere). */
  log?: LogFn;
  /** Called after each message with the messages done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Host side: reset the counters, start the demo, send `count` messages and
 * compare each copy the remote writes back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapRegion } from "../mem/region.ts";
 * import { runShmemDemo, ShmemResponder } from "./shmem.ts";
 * const r = heapRegion(0x9000_0000, 0x1000);
 * const remote = new ShmemResponder(r, 0x9000_0000);
 * const timer = setInterval(() => remote.poll(), 1);
 * const res = await runShmemDemo(r, 0x9000_0000, { count: 2 });
 * clearInterval(timer);
 * assert(res.passed);
 * ```
 */
export async function runShmemDemo(
  mem: MemoryRegion,
  base: number,
  options: ShmemDemoOptions = {},
): Promise<DemoResult> {
  const count = options.count ?? 1;
  const timeoutMs = options.timeoutMs ?? 5000;
  const log = options.log;
  mem.offsetOf(base, SHM_DEMO_SIZE); // the whole area must be mapped
  const run = new DemoRun("shmem", log);
  const r = run.result;
  log?.("Setting up shared memory demo.");
  mem.atomicStoreU32(base + SHM_CONTROL, DEMO_STATUS_IDLE);
  mem.atomicStoreU32(base + SHM_TX_AVAIL, 0);
  mem.atomicStoreU32(base + SHM_RX_AVAIL, 0);
  log?.("Starting shared memory demo.");
  mem.atomicStoreU32(base + SHM_CONTROL, DEMO_STATUS_START);
  try {
    for (let i = 0; i < count; i++) {
      const msg = encodeShmMessage(i);
      log?.(`Sending message: ${SHM_TEST_MSG}`);
      mem.write(base + SHM_TX_BUFFER, msg);
      mem.atomicStoreU32(base + SHM_TX_AVAIL, i + 1);
      r.sent++;
      try {
        await waitFor(() => mem.atomicLoadU32(base + SHM_RX_AVAIL) >= i + 1, {
          deadlineMs: timeoutMs,
          what: `waiting for the remote to copy message ${i} back`,
        });
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
        run.fail(e.message);
        break;
      }
      r.received++;
      const back = mem.read(base + SHM_RX_BUFFER, msg.length);
      if (back.some((b, k) => b !== msg[k])) {
        run.fail(`message ${i}: received data verification failed`);
      } else {
        log?.(`Message Received: ${SHM_TEST_MSG}`);
      }
      options.onProgress?.(i + 1, count);
    }
  } finally {
    mem.atomicStoreU32(base + SHM_CONTROL, DEMO_STATUS_IDLE);
  }
  run.finish(count);
  log?.(`Shared memory demo: ${r.passed ? "Passed" : "Failed"}.`);
  return r;
}

/**
 * Remote side: call {@linkcode poll} regularly; each new message is copied
 * (header and bounded length) to the reply buffer and the reply counter is
 * bumped. Everything read from the area is bounds-checked first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapRegion } from "../mem/region.ts";
 * import { ShmemResponder } from "./shmem.ts";
 * const r = heapRegion(0, 0x1000);
 * assert(new ShmemResponder(r, 0).poll() === false);
 * ```
 */
export class ShmemResponder {
  #mem: MemoryRegion;
  #base: number;
  #seen = 0;
  /** Messages copied back since start. */
  copied = 0;

  /** Serve the demo area at `base` in `mem`. */
  constructor(mem: MemoryRegion, base: number) {
    mem.offsetOf(base, SHM_DEMO_SIZE);
    this.#mem = mem;
    this.#base = base;
  }

  /**
   * True when the host started the demo and posted a message not yet copied
   * (cheap; for idle loops).
   */
  pending(): boolean {
    const m = this.#mem, b = this.#base;
    return m.atomicLoadU32(b + SHM_CONTROL) === DEMO_STATUS_START &&
      m.atomicLoadU32(b + SHM_TX_AVAIL) !== m.atomicLoadU32(b + SHM_RX_AVAIL);
  }

  /** Handle at most one pending message; true if one was copied. */
  poll(): boolean {
    const m = this.#mem, b = this.#base;
    if (m.atomicLoadU32(b + SHM_CONTROL) !== DEMO_STATUS_START) return false;
    const avail = m.atomicLoadU32(b + SHM_TX_AVAIL);
    // A new host run zeroes both counters, then posts again within
    // microseconds: a poller that slept through it sees the reply counter
    // (written only by this side) below what it published.
    if (avail < this.#seen || m.atomicLoadU32(b + SHM_RX_AVAIL) < this.#seen) this.#seen = 0;
    if (avail === this.#seen) return false;
    const len = m.u32(b + SHM_TX_BUFFER + 4);
    const total = 8 + Math.min(len, SHM_BUFFER_SIZE - 8);
    m.write(b + SHM_RX_BUFFER, m.read(b + SHM_TX_BUFFER, total));
    this.#seen++;
    this.copied++;
    m.atomicStoreU32(b + SHM_RX_AVAIL, this.#seen);
    return true;
  }
}
