/**
 * vhost-user messages on a non-blocking UNIX socket: a reader that gathers
 * header, payload and passed descriptors across partial reads and decodes
 * each complete message, and a sender with a deadline.
 *
 * @module
 */

import { closeFd, pollFdsAsync, POLLOUT, recvWithFds, sendWithFds } from "../sys/posix.ts";
import {
  decodeHeader,
  decodeRequest,
  HEADER_SIZE,
  requestName,
  VhostError,
  type VhostHeader,
  type VhostRequest,
} from "./protocol.ts";

/** Longest time a reply may wait for room in the socket. */
const SEND_DEADLINE_MS = 5000;
/** Most descriptors taken with one read (no request passes more). */
const MAX_FDS_PER_READ = 8;

/**
 * Reads messages from one front-end's socket. Descriptors that arrive with a
 * message are owned by the decoded request; those of a message never
 * completed are closed by {@linkcode MessageReader.release}.
 */
export class MessageReader {
  readonly #fd: number;
  #hdrBuf = new Uint8Array(HEADER_SIZE);
  #hdrHave = 0;
  #header: VhostHeader | null = null;
  #payload = new Uint8Array(0);
  #payloadHave = 0;
  #fds: number[] = [];

  /** Read from socket `fd` (not owned). */
  constructor(fd: number) {
    this.#fd = fd;
  }

  /**
   * The next complete request; `"wait"` when the socket has no more bytes
   * now, `"end"` at a clean end of stream (between messages).
   *
   * @throws {VhostError} `VHOST_TRUNCATED` (the stream ended inside a
   *   message), `VHOST_BAD_FDS`, and the decoder's errors (the message's
   *   descriptors are closed first).
   */
  read(): VhostRequest | "wait" | "end" {
    for (;;) {
      if (this.#header === null) {
        const got = recvWithFds(
          this.#fd,
          this.#hdrBuf.subarray(this.#hdrHave),
          MAX_FDS_PER_READ,
          "vhost-user socket",
        );
        if (got === null) return "wait";
        this.#takeFds(got.fds, got.fdsTruncated);
        if (got.n === 0) {
          if (this.#hdrHave > 0) {
            throw new VhostError(
              "VHOST_TRUNCATED",
              `The front-end closed the connection inside a message header (${this.#hdrHave} of ${HEADER_SIZE} bytes)`,
            );
          }
          return "end";
        }
        this.#hdrHave += got.n;
        if (this.#hdrHave < HEADER_SIZE) continue;
        this.#header = decodeHeader(this.#hdrBuf);
        this.#payload = new Uint8Array(this.#header.size);
        this.#payloadHave = 0;
      }
      const h = this.#header;
      if (this.#payloadHave < h.size) {
        const got = recvWithFds(
          this.#fd,
          this.#payload.subarray(this.#payloadHave),
          MAX_FDS_PER_READ,
          "vhost-user socket",
        );
        if (got === null) return "wait";
        this.#takeFds(got.fds, got.fdsTruncated);
        if (got.n === 0) {
          throw new VhostError(
            "VHOST_TRUNCATED",
            `The front-end closed the connection inside ${
              requestName(h.request)
            } (${this.#payloadHave} of ${h.size} payload bytes)`,
          );
        }
        this.#payloadHave += got.n;
        if (this.#payloadHave < h.size) continue;
      }
      const fds = this.#fds;
      this.#fds = [];
      this.#header = null;
      this.#hdrHave = 0;
      try {
        return decodeRequest(h, this.#payload, fds);
      } catch (e) {
        for (const fd of fds) closeFd(fd);
        throw e;
      }
    }
  }

  /** Close the descriptors of a message that never completed. */
  release(): void {
    for (const fd of this.#fds) closeFd(fd);
    this.#fds = [];
  }

  #takeFds(fds: number[], truncated: boolean): void {
    this.#fds.push(...fds);
    if (truncated) {
      throw new VhostError(
        "VHOST_BAD_FDS",
        "The front-end passed more descriptors with one message than any request takes",
      );
    }
  }
}

/**
 * Write all of `bytes` to socket `fd`, waiting for room while the front-end
 * reads; `VHOST_REPLY_STUCK` when it is not all written within 5 s.
 */
export async function sendAll(fd: number, bytes: Uint8Array): Promise<void> {
  let off = 0;
  const end = performance.now() + SEND_DEADLINE_MS;
  while (off < bytes.length) {
    const n = sendWithFds(fd, bytes.subarray(off), [], "vhost-user socket");
    if (n !== null) {
      off += n;
      continue;
    }
    if (performance.now() >= end) {
      throw new VhostError(
        "VHOST_REPLY_STUCK",
        `The front-end read no reply for ${SEND_DEADLINE_MS} ms`,
      );
    }
    await pollFdsAsync([{ fd, events: POLLOUT }], 50);
  }
}
