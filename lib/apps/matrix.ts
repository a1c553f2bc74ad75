/**
 * The matrix-multiply demo: the host sends two 6x6 u32 matrices as
 * `{u32 size; u32 elements[6][6]}` back to back (296 B); the remote replies
 * with their product (148 B); the host checks it.
 *
 * @module
 */

import { isAmpError } from "../errors.ts";
import { type Channel, type DemoResult, DemoRun, type LogFn } from "./channel.ts";

/**
 * Name amp's remotes (simulated and firmware) give the matrix service;
 * upstream's matrix daemon uses "rpmsg-openamp-demo-channel" instead.
 */
export const MATRIX_SERVICE = "rpmsg-openamp-matrix";
/** Matrix order used on the wire. */
export const MATRIX_N = 6;
/** Bytes of one encoded matrix. */
export const MATRIX_BYTES: number = 4 + 4 * MATRIX_N * MATRIX_N;

/** A square matrix of at most 6x6 u32 elements. */
export interface Matrix {
  /** Order of the matrix (rows = columns), at most 6. */
  size: number;
  /** Row-major, always 36 elements (unused ones 0). */
  elements: Uint32Array;
}

/**
 * Encode matrices back to back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMatrices, MATRIX_BYTES } from "./matrix.ts";
 * const m = { size: 6, elements: new Uint32Array(36).fill(1) };
 * assert(encodeMatrices([m, m]).length === 2 * MATRIX_BYTES);
 * ```
 */
export function encodeMatrices(ms: readonly Matrix[]): Uint8Array {
  const out = new Uint8Array(MATRIX_BYTES * ms.length);
  const dv = new DataView(out.buffer);
  ms.forEach((m, k) => {
    const o = k * MATRIX_BYTES;
    dv.setUint32(o, m.size, true);
    for (let i = 0; i < MATRIX_N * MATRIX_N; i++) dv.setUint32(o + 4 + 4 * i, m.elements[i]!, true);
  });
  return out;
}

/**
 * Decode `count` matrices; `null` when the length is not exactly right or a
 * size field is larger than 6.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMatrices, encodeMatrices } from "./matrix.ts";
 * const m = { size: 2, elements: new Uint32Array(36) };
 * assert(decodeMatrices(encodeMatrices([m]), 1)?.[0]?.size === 2);
 * assert(decodeMatrices(new Uint8Array(10), 1) === null);
 * ```
 */
export function decodeMatrices(bytes: Uint8Array, count: number): Matrix[] | null {
  if (bytes.length !== count * MATRIX_BYTES) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Matrix[] = [];
  for (let k = 0; k < count; k++) {
    const o = k * MATRIX_BYTES;
    const size = dv.getUint32(o, true);
    if (size > MATRIX_N) return null;
    const elements = new Uint32Array(MATRIX_N * MATRIX_N);
    for (let i = 0; i < elements.length; i++) elements[i] = dv.getUint32(o + 4 + 4 * i, true);
    out.push({ size, elements });
  }
  return out;
}

/**
 * Product of two matrices of the same size, with u32 wrap-around like C.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { multiply } from "./matrix.ts";
 * const id = new Uint32Array(36); for (let i = 0; i < 6; i++) id[i * 7] = 1;
 * const a = { size: 6, elements: new Uint32Array(36).map((_, i) => i) };
 * assert(multiply(a, { size: 6, elements: id }).elements[35] === 35);
 * ```
 */
export function multiply(a: Matrix, b: Matrix): Matrix {
  const n = a.size;
  const r = new Uint32Array(MATRIX_N * MATRIX_N);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let k = 0; k < n; k++) {
        acc = (acc + Math.imul(a.elements[i * MATRIX_N + k]!, b.elements[k * MATRIX_N + j]!)) >>> 0;
      }
      r[i * MATRIX_N + j] = acc;
    }
  }
  return { size: n, elements: r };
}

/**
 * A random 6x6 matrix with values 0..9 drawn from `random` (default Math.random).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomMatrix } from "./matrix.ts";
 * const m = randomMatrix();
 * assert(m.elements.every((v) => v <= 9));
 * ```
 */
export function randomMatrix(random: () => number = Math.random): Matrix {
  const elements = new Uint32Array(MATRIX_N * MATRIX_N);
  for (let i = 0; i < elements.length; i++) elements[i] = Math.floor(random() * 10) % 10;
  return { size: MATRIX_N, elements };
}

/** Options of {@linkcode runMatrix}. */
export interface MatrixOptions {
  /** Iterations (default 200). */
  count?: number;
  /** Wait per product, ms (default 5000). */
  timeoutMs?: number;
  /** Where the demo's lines go (default: nowhere). */
  log?: LogFn;
  /** Called after each iteration with the iterations done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Source of the matrix elements, uniform in [0, 1) (default `Math.random`). */
  random?: () => number;
}

/**
 * Host side: send `count` random pairs, check every product.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelPair } from "./channel.ts";
 * import { runMatrix } from "./matrix.ts";
 * import { serveMatrix } from "./services.ts";
 * const [host, remote] = channelPair(496);
 * const stop = serveMatrix(remote);
 * const r = await runMatrix(host, { count: 3 });
 * await stop();
 * assert(r.passed && r.received === 3);
 * ```
 */
export async function runMatrix(ch: Channel, options: MatrixOptions = {}): Promise<DemoResult> {
  const count = options.count ?? 200;
  const timeoutMs = options.timeoutMs ?? 5000;
  const run = new DemoRun("matrix", options.log);
  const r = run.result;
  const fail = (msg: string) => run.fail(msg);
  for (let c = 0; c < count; c++) {
    const a = randomMatrix(options.random), b = randomMatrix(options.random);
    const want = multiply(a, b);
    try {
      await ch.send(encodeMatrices([a, b]));
    } catch (e) {
      if (!isAmpError(e)) throw e;
      fail(`iteration ${c}: ${e.message}`);
      break;
    }
    r.sent++;
    options.log?.(`Matrix multiply: sent : ${2 * MATRIX_BYTES}`);
    let reply: Uint8Array;
    try {
      reply = await ch.recv(timeoutMs);
    } catch (e) {
      if (!isAmpError(e)) throw e;
      fail(`iteration ${c}: ${e.message}`);
      break;
    }
    r.received++;
    const got = decodeMatrices(reply, 1)?.[0];
    if (!got) {
      fail(`iteration ${c}: reply of ${reply.length} B is not one matrix (${MATRIX_BYTES} B)`);
    } else if (got.size !== want.size || got.elements.some((v, i) => v !== want.elements[i])) {
      fail(`iteration ${c}: product differs from the expected result`);
    }
    options.onProgress?.(c + 1, count);
  }
  return run.finish(count);
}
