/**
 * Remote-side (virtio device) demo services: pure message handlers that the
 * simulated remote, `amp remote` and tests attach to rpmsg endpoints.
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";
import type { Channel } from "./channel.ts";
import { decodeMatrices, encodeMatrices, MATRIX_BYTES, MATRIX_N, multiply } from "./matrix.ts";
import { ECHO_SERVICE, SHUTDOWN_MSG } from "./msg_test.ts";
import { SAMPLE_COUNT, SAMPLE_SERVICE } from "./sample.ts";

/** A remote service: answers each message with zero or more replies. */
export interface Service {
  /** Endpoint name announced through the name service. */
  readonly name: string;
  /** Handle one message; return the replies to send back to its source. */
  handle(msg: Uint8Array): Uint8Array[];
  /** Forget per-session state (a new host session started). */
  reset(): void;
  /** True after the shutdown message was received (echo). */
  readonly stopped: boolean;
}

/**
 * True when `msg` is a matrix-multiply request: exactly two encoded matrices
 * of the same order (1..6). A msg-test ping of the same length can never
 * match, because offset 148 always lies in its 0xA5 data.
 */
export function isMatrixRequest(msg: Uint8Array): boolean {
  if (msg.length !== 2 * MATRIX_BYTES) return false;
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const a = dv.getUint32(0, true), b = dv.getUint32(MATRIX_BYTES, true);
  return a >= 1 && a <= MATRIX_N && a === b;
}

/**
 * Echo every message verbatim on "rpmsg-openamp-demo-channel". With
 * `matrix: true` (the default, as the simulated remote runs it) a
 * matrix-multiply request on the same channel is answered with the product,
 * so both upstream demos that share this name work against one remote.
 *
 * @example
 * ```ts
 * import { echoService } from "./services.ts";
 * const s = echoService();
 * console.assert(s.handle(new Uint8Array([1, 2]))[0]?.length === 2);
 * ```
 */
export function echoService(options: { matrix?: boolean; name?: string } = {}): Service {
  const withMatrix = options.matrix ?? true;
  let stopped = false;
  return {
    name: options.name ?? ECHO_SERVICE,
    get stopped() {
      return stopped;
    },
    handle(msg) {
      if (
        msg.length >= 4 &&
        new DataView(msg.buffer, msg.byteOffset, 4).getUint32(0, true) === SHUTDOWN_MSG
      ) {
        stopped = true;
        return [];
      }
      if (withMatrix && isMatrixRequest(msg)) return matrixReply(msg);
      return [msg.slice()];
    },
    reset() {
      stopped = false;
    },
  };
}

function matrixReply(msg: Uint8Array): Uint8Array[] {
  const ms = decodeMatrices(msg, 2);
  if (!ms || ms[0]!.size !== ms[1]!.size) return [];
  return [encodeMatrices([multiply(ms[0]!, ms[1]!)])];
}

/**
 * Matrix multiply only: reply to each valid request with the product;
 * malformed requests get no reply.
 *
 * @example
 * ```ts
 * import { matrixService } from "./services.ts";
 * import { encodeMatrices, randomMatrix } from "./matrix.ts";
 * const out = matrixService().handle(encodeMatrices([randomMatrix(), randomMatrix()]));
 * console.assert(out[0]?.length === 148);
 * ```
 */
export function matrixService(options: { name?: string } = {}): Service {
  return {
    name: options.name ?? ECHO_SERVICE,
    stopped: false,
    handle: (msg) => matrixReply(msg),
    reset() {},
  };
}

/**
 * rpmsg-client-sample responder: echo each message; after 100 it starts a
 * new count, so a second host run works without restarting the remote.
 *
 * @example
 * ```ts
 * import { sampleService } from "./services.ts";
 * const s = sampleService();
 * console.assert(s.handle(new TextEncoder().encode("hi"))[0]?.length === 2);
 * ```
 */
export function sampleService(): Service & { readonly count: number } {
  let count = 0;
  return {
    name: SAMPLE_SERVICE,
    stopped: false,
    get count() {
      return count;
    },
    handle(msg) {
      count = count + 1 >= SAMPLE_COUNT ? 0 : count + 1;
      return [msg.slice()];
    },
    reset() {
      count = 0;
    },
  };
}

/**
 * Serve `service` on a channel until the returned stop function is called;
 * the promise it returns settles when the loop has ended.
 */
export function serve(ch: Channel, service: Service): () => Promise<void> {
  let running = true;
  const done = (async () => {
    while (running) {
      let msg: Uint8Array;
      try {
        msg = await ch.recv(20);
      } catch (e) {
        if (e instanceof TimeoutError) continue;
        throw e;
      }
      for (const reply of service.handle(msg)) await ch.send(reply);
    }
  })();
  return () => {
    running = false;
    return done;
  };
}

/** {@linkcode serve} with {@linkcode echoService}. */
export const serveEcho = (ch: Channel): () => Promise<void> => serve(ch, echoService());
/** {@linkcode serve} with {@linkcode matrixService}. */
export const serveMatrix = (ch: Channel): () => Promise<void> => serve(ch, matrixService());
/** {@linkcode serve} with {@linkcode sampleService}. */
export const serveSample = (ch: Channel): () => Promise<void> => serve(ch, sampleService());
