/**
 * The echo / msg-test demo (openamp-wire.md section 5): the host sends
 * `{unsigned long num; unsigned long size; u8 data[size]}` with data bytes
 * 0xA5 for every size from 1 up to what fits one buffer, and checks each echo.
 *
 * @module
 */

import { isAmpError } from "../errors.ts";
import { type Channel, type DemoResult, DemoRun, type LogFn } from "./channel.ts";

/** Service name the echo side announces. */
export const ECHO_SERVICE = "rpmsg-openamp-demo-channel";
/** First u32 of a message asking the echo side to shut down. */
export const SHUTDOWN_MSG = 0xef56a55a;
/** Fill byte of the payload data. */
export const PAYLOAD_FILL = 0xa5;

/** Width of `unsigned long` on the remote: 8 on RV64/AArch64, 4 on 32-bit cores. */
export type WordSize = 4 | 8;

/**
 * The largest `size` a ping can carry: the payload room of one buffer minus
 * the two header words (496 - 16 = 480 on a 64-bit remote with 512 B buffers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maxPingSize } from "./echo.ts";
 * assert(maxPingSize(496, 8) === 480);
 * assert(maxPingSize(496, 4) === 488);
 * ```
 */
export function maxPingSize(maxPayload: number, wordSize: WordSize): number {
  return maxPayload - 2 * wordSize;
}

/**
 * Encode one ping: `num`, `size` as little-endian words, then `size` x 0xA5.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePing } from "./echo.ts";
 * const p = encodePing(3, 2, 8);
 * assert(p.length === 18 && p[0] === 3 && p[8] === 2 && p[17] === 0xa5);
 * ```
 */
export function encodePing(num: number, size: number, wordSize: WordSize): Uint8Array {
  const out = new Uint8Array(2 * wordSize + size);
  writePingHeader(new DataView(out.buffer), num, size, wordSize);
  out.fill(PAYLOAD_FILL, 2 * wordSize);
  return out;
}

/** Write `num` and `size` (safe integers >= 0) as the two little-endian header words. */
function writePingHeader(dv: DataView, num: number, size: number, wordSize: WordSize): void {
  if (wordSize === 8) {
    dv.setUint32(0, num % 0x1_0000_0000, true);
    dv.setUint32(4, Math.floor(num / 0x1_0000_0000), true);
    dv.setUint32(8, size % 0x1_0000_0000, true);
    dv.setUint32(12, Math.floor(size / 0x1_0000_0000), true);
  } else {
    dv.setUint32(0, num >>> 0, true);
    dv.setUint32(4, size >>> 0, true);
  }
}

/**
 * Decode a ping header; `null` when the message is too short to hold one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePing, encodePing } from "./echo.ts";
 * assert(decodePing(encodePing(7, 5, 4), 4)?.size === 5);
 * ```
 */
export function decodePing(
  msg: Uint8Array,
  wordSize: WordSize,
): { num: number; size: number } | null {
  if (msg.length < 2 * wordSize) return null;
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  if (wordSize === 8) {
    const num = dv.getBigUint64(0, true), size = dv.getBigUint64(8, true);
    if (num > BigInt(Number.MAX_SAFE_INTEGER) || size > BigInt(Number.MAX_SAFE_INTEGER)) {
      return null;
    }
    return { num: Number(num), size: Number(size) };
  }
  return { num: dv.getUint32(0, true), size: dv.getUint32(4, true) };
}

/**
 * `a[0, len)` equals `b` byte for byte. With `a32` and `b32` (word views of
 * the same bytes from offset 0) whole words are compared first: a quarter of
 * the loop's turns.
 */
function equalPrefix(
  a: Uint8Array,
  len: number,
  b: Uint8Array,
  a32: Uint32Array | null = null,
  b32: Uint32Array | null = null,
): boolean {
  if (len !== b.length) return false;
  let i = 0;
  if (a32 !== null && b32 !== null) {
    const words = Math.min(len >>> 2, a32.length, b32.length);
    for (; i < words; i++) if (a32[i] !== b32[i]) return false;
    i <<= 2;
  }
  for (; i < len; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A word view of `a`'s bytes from its start, or null when they do not start on a word boundary. */
function wordView(a: Uint8Array): Uint32Array | null {
  return (a.byteOffset & 3) === 0 ? new Uint32Array(a.buffer, a.byteOffset, a.length >>> 2) : null;
}

/** Options of {@linkcode runMsgTest}. */
export interface MsgTestOptions {
  /** The remote's word size (header width). */
  wordSize: WordSize;
  /** Smallest data size (default 1). */
  minSize?: number;
  /** Largest data size (default {@linkcode maxPingSize} of the channel's payload). */
  maxSize?: number;
  /** How many rounds of the whole size sweep (default 1). */
  rounds?: number;
  /** Wait per echo, ms (default 5000). */
  timeoutMs?: number;
  /** Per-message lines ("sending payload number ...") when set. */
  log?: LogFn;
  /** Called after each echo with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Host side of msg-test: send every size, compare every echo byte for byte,
 * count errors. Never throws for a bad or missing echo; it counts it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelPair } from "./channel.ts";
 * import { runMsgTest } from "./echo.ts";
 * import { serveEcho } from "./services.ts";
 * const [host, remote] = channelPair(496);
 * const stop = serveEcho(remote);
 * const r = await runMsgTest(host, { wordSize: 8, maxSize: 8 });
 * await stop();
 * assert(r.passed && r.sent === 8);
 * ```
 */
export async function runMsgTest(ch: Channel, options: MsgTestOptions): Promise<DemoResult> {
  const { wordSize, log } = options;
  const min = options.minSize ?? 1;
  const max = options.maxSize ?? maxPingSize(ch.maxPayload, wordSize);
  const rounds = options.rounds ?? 1;
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!(min >= 1 && max >= min && max <= maxPingSize(ch.maxPayload, wordSize))) {
    throw new RangeError(
      `msg-test sizes ${min}..${max} do not fit 1..${maxPingSize(ch.maxPayload, wordSize)}`,
    );
  }
  const total = (max - min + 1) * rounds;
  const run = new DemoRun("msg-test", log);
  const r = run.result;
  const fail = (msg: string) => run.fail(msg);
  // One ping buffer (the fill never changes; only the two header words are
  // rewritten) and one view of it per size, made on first use, and one
  // receive buffer: nothing is allocated per message after the first round.
  const hdr = 2 * wordSize;
  const pingBuf = new Uint8Array(hdr + max).fill(PAYLOAD_FILL, hdr);
  const pingView = new DataView(pingBuf.buffer);
  const views: Uint8Array[] = [];
  const rx = ch.recvInto ? new Uint8Array(ch.maxPayload) : null;
  const ping32 = wordView(pingBuf), rx32 = rx === null ? null : wordView(rx);
  let num = 0;
  for (let round = 0; round < rounds; round++) {
    for (let size = min; size <= max; size++, num++) {
      writePingHeader(pingView, num, size, wordSize);
      const ping = views[size] ??= pingBuf.subarray(0, hdr + size);
      log?.(`sending payload number ${num} of size ${ping.length}`);
      try {
        // The synchronous forms first, where the channel has them: each
        // await costs more than the message while the code is still cold.
        if (ch.trySend?.(ping) !== true) await ch.send(ping);
      } catch (e) {
        if (!isAmpError(e)) throw e;
        fail(`payload ${num}: ${e.message}`);
        return run.finish(total);
      }
      r.sent++;
      let echo: Uint8Array, len: number;
      try {
        if (rx !== null) {
          len = ch.tryRecvInto?.(rx) ?? -1;
          if (len < 0) len = await ch.recvInto!(rx, timeoutMs);
          echo = rx;
        } else {
          echo = await ch.recv(timeoutMs);
          len = echo.length;
        }
      } catch (e) {
        if (!isAmpError(e)) throw e;
        fail(`payload ${num}: ${e.message}`);
        return run.finish(total); // the channel is stuck: later pings would only time out too
      }
      r.received++;
      log?.(
        ` received payload number ${
          decodePing(echo.subarray(0, len), wordSize)?.num ?? "?"
        } of size ${len}`,
      );
      if (!equalPrefix(echo, len, ping, echo === rx ? rx32 : null, ping32)) {
        const h = decodePing(echo.subarray(0, len), wordSize);
        fail(
          `payload ${num} of size ${ping.length}: echo differs (got ${len} B, num ${
            h?.num ?? "?"
          }, size ${h?.size ?? "?"})`,
        );
      }
      options.onProgress?.(r.sent, total);
    }
  }
  return run.finish(total);
}
