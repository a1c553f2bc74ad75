/**
 * POSIX calls through FFI that Deno has no API for: UNIX sockets with
 * descriptor passing, eventfds, pipes, poll, ioctl.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, eventFd, POLLIN, pollFds } from "./mod.ts";
 * const fd = eventFd(1);
 * assert.equal(pollFds([{ fd, events: POLLIN }], 0)[0]! & POLLIN, POLLIN);
 * closeFd(fd);
 * ```
 *
 * @module
 */

export {
  closeFd,
  eventFd,
  ioctlFd,
  MAX_FDS_PER_MESSAGE,
  openFd,
  pipeFds,
  POLLERR,
  pollFds,
  pollFdsAsync,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  type PollRequest,
  readFd,
  type Received,
  recvWithFds,
  sendWithFds,
  setNonBlocking,
  shutdownFd,
  unixAccept,
  unixConnect,
  unixListen,
  unixSocketPair,
  writeFd,
} from "./posix.ts";
