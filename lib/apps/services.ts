/**
 * Remote-side (virtio device) demo services: pure message handlers that the
 * simulated remote, `amp remote` and tests attach to rpmsg endpoints.
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";
import type { Channel } from "./channel.ts";
import { decodeMatrices, encodeMatrices, MATRIX_SERVICE, multiply } from "./matrix.ts";
import { ECHO_SERVICE, SHUTDOWN_MSG } from "./echo.ts";
import { SAMPLE_COUNT, SAMPLE_SERVICE } from "./sample.ts";

/** A remote service: answers each message with zero or more replies. */
export interface Service {
  /** Endpoint name announced through the name service. */
  readonly name: string;
  /** Handle one message; return the replies to send back to its source. */
  handle(msg: Uint8Array): Uint8Array[];
  /**
   * Optional fast path of a service whose one reply is the message itself
   * (echo): true when `msg` is to be sent back unchanged, and the caller may
   * copy it straight from the receive buffer into a send buffer instead of
   * calling {@linkcode handle} (no allocation per message). False: call
   * `handle` as usual.
   */
  echoes?(msg: Uint8Array): boolean;
  /** Forget per-session state (a new host session started). */
  reset(): void;
  /** True after the shutdown message was received (echo). */
  readonly stopped: boolean;
}

function isShutdown(msg: Uint8Array): boolean {
  return msg.length >= 4 &&
    (msg[0]! | (msg[1]! << 8) | (msg[2]! << 16) | (msg[3]! << 24)) >>> 0 === SHUTDOWN_MSG;
}

/**
 * Echo every message verbatim on "rpmsg-openamp-demo-channel". The shutdown
 * message (first u32 0xEF56A55A) is not echoed; it sets `stopped`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { echoService } from "./services.ts";
 * const s = echoService();
 * assert(s.handle(new Uint8Array([1, 2]))[0]?.length === 2);
 * assert(s.echoes?.(new Uint8Array([1, 2])) === true);
 * ```
 */
export function echoService(options: { name?: string } = {}): Service {
  let stopped = false;
  return {
    name: options.name ?? ECHO_SERVICE,
    get stopped() {
      return stopped;
    },
    handle(msg) {
      if (isShutdown(msg)) {
        stopped = true;
        return [];
      }
      return [msg.slice()];
    },
    echoes(msg) {
      return !isShutdown(msg);
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
 * Matrix multiply: reply to each valid request with the product; malformed
 * requests get no reply. amp's remotes announce it as "rpmsg-openamp-matrix"
 * next to the echo; upstream's matrix daemon uses the demo channel's name,
 * which `name` selects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matrixService } from "./services.ts";
 * import { encodeMatrices, randomMatrix } from "./matrix.ts";
 * const out = matrixService().handle(encodeMatrices([randomMatrix(), randomMatrix()]));
 * assert(out[0]?.length === 148);
 * ```
 */
export function matrixService(options: { name?: string } = {}): Service {
  return {
    name: options.name ?? MATRIX_SERVICE,
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
 * import assert from "node:assert/strict";
 * import { sampleService } from "./services.ts";
 * const s = sampleService();
 * assert(s.handle(new TextEncoder().encode("hi"))[0]?.length === 2);
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelPair } from "./channel.ts";
 * import { echoService, serve } from "./services.ts";
 * const [host, remote] = channelPair(496);
 * const stop = serve(remote, echoService());
 * await host.send(new Uint8Array([1, 2, 3]));
 * assert.deepEqual([...await host.recv(1000)], [1, 2, 3]);
 * await stop();
 * ```
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

/**
 * {@linkcode serve} with {@linkcode echoService}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelPair } from "./channel.ts";
 * import { serveEcho } from "./services.ts";
 * const [host, remote] = channelPair(496);
 * const stop = serveEcho(remote);
 * await host.send(new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode(await host.recv(1000)), "hello");
 * await stop();
 * ```
 */
export const serveEcho = (ch: Channel): () => Promise<void> => serve(ch, echoService());
/**
 * {@linkcode serve} with {@linkcode matrixService}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelPair } from "./channel.ts";
 * import { encodeMatrices, randomMatrix } from "./matrix.ts";
 * import { serveMatrix } from "./services.ts";
 * const [host, remote] = channelPair(496);
 * const stop = serveMatrix(remote);
 * await host.send(encodeMatrices([randomMatrix(), randomMatrix()]));
 * assert.equal((await host.recv(1000)).length, 148);
 * await stop();
 * ```
 */
export const serveMatrix = (ch: Channel): () => Promise<void> => serve(ch, matrixService());
/**
 * {@linkcode serve} with {@linkcode sampleService}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelPair } from "./channel.ts";
 * import { serveSample } from "./services.ts";
 * const [host, remote] = channelPair(496);
 * const stop = serveSample(remote);
 * await host.send(new TextEncoder().encode("hello world!"));
 * assert.equal((await host.recv(1000)).length, 12);
 * await stop();
 * ```
 */
export const serveSample = (ch: Channel): () => Promise<void> => serve(ch, sampleService());
