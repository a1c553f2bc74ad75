/**
 * POSIX calls Deno has no API for, through FFI to libc: UNIX stream sockets
 * with descriptor passing (`SCM_RIGHTS`), eventfds, pipes, `poll` (also
 * off-thread, so the event loop keeps turning while it blocks), `ioctl`,
 * `fcntl`, and raw `read`/`write` on descriptors.
 *
 * Descriptors are plain numbers owned by the caller; every function that
 * fails throws {@linkcode OsError} with the real `errno`, except the
 * non-blocking reads and writes, which return `null` for `EAGAIN`.
 * Needs `--allow-ffi`.
 *
 * @module
 */

import { ConfigError, OsError } from "../errors.ts";
import {
  AF_UNIX,
  CMSGHDR_SIZE,
  cmsgSpace,
  EAGAIN,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EINTR,
  errno,
  F_GETFL,
  F_SETFL,
  libc,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSGHDR_SIZE,
  O_NONBLOCK,
  SCM_RIGHTS,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOCKADDR_UN_SIZE,
  SOL_SOCKET,
} from "./_libc.ts";

export { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from "./_libc.ts";

/** Most descriptors one message may carry (`SCM_MAX_FD` is 253; vhost-user uses at most 8). */
export const MAX_FDS_PER_MESSAGE = 16;

const encoder = new TextEncoder();

function ptrValue(buf: Uint8Array | BigUint64Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>)));
}

/** `close(fd)`; errors are ignored unless `strict` (a close never leaves the fd open on Linux). */
export function closeFd(fd: number, strict = false): void {
  if (fd < 0) return;
  if (libc().close(fd) !== 0 && strict) throw new OsError("close", errno(), `fd ${fd}`);
}

/**
 * One non-blocking `read(fd, buf)`: the byte count (0 at end of file), or
 * `null` when nothing is there (`EAGAIN`). `EINTR` is retried.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, eventFd, readFd, writeFd } from "./posix.ts";
 * const fd = eventFd();
 * const buf = new Uint8Array(8);
 * assert.equal(readFd(fd, buf, "eventfd"), null);
 * writeFd(fd, new Uint8Array(new BigUint64Array([2n]).buffer), "eventfd");
 * assert.equal(readFd(fd, buf, "eventfd"), 8);
 * assert.equal(new DataView(buf.buffer).getBigUint64(0, true), 2n);
 * closeFd(fd);
 * ```
 */
export function readFd(fd: number, buf: Uint8Array, target: string): number | null {
  for (;;) {
    const n = Number(libc().read(fd, buf as Uint8Array<ArrayBuffer>, BigInt(buf.length)));
    if (n >= 0) return n;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new OsError("read", e, target);
  }
}

/** One `write(fd, buf)`: bytes written, or `null` for `EAGAIN`. `EINTR` is retried. */
export function writeFd(fd: number, buf: Uint8Array, target: string): number | null {
  for (;;) {
    const n = Number(libc().write(fd, buf as Uint8Array<ArrayBuffer>, BigInt(buf.length)));
    if (n >= 0) return n;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new OsError("write", e, target);
  }
}

/** A close-on-exec eventfd with counter `initial`, non-blocking unless `blocking`. */
export function eventFd(initial = 0, blocking = false): number {
  const fd = libc().eventfd(initial, (blocking ? 0 : EFD_NONBLOCK) | EFD_CLOEXEC);
  if (fd < 0) throw new OsError("eventfd", errno(), "new eventfd");
  return fd;
}

/** A pipe `[readEnd, writeEnd]`, both non-blocking and close-on-exec. */
export function pipeFds(): [number, number] {
  const fds = new Int32Array(2);
  if (libc().pipe2(new Uint8Array(fds.buffer), O_NONBLOCK | 0o2000000) !== 0) {
    throw new OsError("pipe2", errno(), "new pipe");
  }
  return [fds[0]!, fds[1]!];
}

/** Set `O_NONBLOCK` on `fd` (affects every descriptor sharing its open file). */
export function setNonBlocking(fd: number, target: string): void {
  const fl = libc().fcntl(fd, F_GETFL, 0n);
  if (fl < 0) throw new OsError("fcntl", errno(), target);
  if ((fl & O_NONBLOCK) !== 0) return;
  if (libc().fcntl(fd, F_SETFL, BigInt(fl | O_NONBLOCK)) < 0) {
    throw new OsError("fcntl", errno(), target);
  }
}

/** `ioctl(fd, request, arg)`; returns the call's non-negative result. */
export function ioctlFd(
  fd: number,
  request: number,
  arg: Uint8Array | null,
  target: string,
): number {
  const r = libc().ioctl(fd, BigInt(request), arg as Uint8Array<ArrayBuffer> | null);
  if (r < 0) throw new OsError("ioctl", errno(), target);
  return r;
}

/** `open(path, flags)`; returns the descriptor. */
export function openFd(path: string, flags: number, target = path): number {
  if (path.includes("\0")) throw new OsError("open", 22, JSON.stringify(path));
  const p = encoder.encode(path + "\0");
  const fd = libc().open(p, flags, 0);
  if (fd < 0) throw new OsError("open", errno(), target);
  return fd;
}

/** One descriptor to wait on with {@linkcode pollFds}. */
export interface PollRequest {
  fd: number;
  /** `POLLIN`, `POLLOUT`, ... */
  events: number;
}

function pollBuffer(reqs: readonly PollRequest[]): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(8 * Math.max(1, reqs.length));
  const v = new DataView(buf.buffer);
  reqs.forEach((r, i) => {
    v.setInt32(8 * i, r.fd, true);
    v.setInt16(8 * i + 4, r.events, true);
  });
  return buf;
}

function revents(buf: Uint8Array<ArrayBuffer>, n: number): number[] {
  const v = new DataView(buf.buffer);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(v.getUint16(8 * i + 6, true));
  return out;
}

/**
 * `poll` on the descriptors for at most `timeoutMs` (0 = just look), on this
 * thread. Returns each descriptor's `revents` (0 = nothing happened).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, eventFd, POLLIN, pollFds, writeFd } from "./posix.ts";
 * const fd = eventFd();
 * assert.deepEqual(pollFds([{ fd, events: POLLIN }], 0), [0]);
 * writeFd(fd, new Uint8Array(new BigUint64Array([1n]).buffer), "eventfd");
 * assert.equal(pollFds([{ fd, events: POLLIN }], 0)[0]! & POLLIN, POLLIN);
 * closeFd(fd);
 * ```
 */
export function pollFds(reqs: readonly PollRequest[], timeoutMs: number): number[] {
  const buf = pollBuffer(reqs);
  for (;;) {
    const r = libc().poll(buf, BigInt(reqs.length), Math.max(0, Math.floor(timeoutMs)));
    if (r >= 0) return revents(buf, reqs.length);
    const e = errno();
    if (e !== EINTR) throw new OsError("poll", e, `${reqs.length} descriptor(s)`);
  }
}

/**
 * {@linkcode pollFds} on a worker thread: resolves with the `revents` when a
 * descriptor is ready or `timeoutMs` passed, while the event loop runs. The
 * wait cannot be cancelled: keep `timeoutMs` short, or include an eventfd
 * that the canceller writes. An interrupted poll resolves as "nothing
 * happened" (errno is not readable across threads).
 */
export async function pollFdsAsync(
  reqs: readonly PollRequest[],
  timeoutMs: number,
): Promise<number[]> {
  const buf = pollBuffer(reqs);
  const r = await libc().pollAsync(buf, BigInt(reqs.length), Math.max(0, Math.floor(timeoutMs)));
  return r > 0 ? revents(buf, reqs.length) : reqs.map(() => 0);
}

function sockaddrUn(path: string): Uint8Array<ArrayBuffer> {
  const p = encoder.encode(path);
  if (p.length === 0 || p.length >= SOCKADDR_UN_SIZE - 2 || path.includes("\0")) {
    throw new ConfigError(
      "SOCKET_PATH",
      `UNIX socket path ${JSON.stringify(path)} must be 1..${
        SOCKADDR_UN_SIZE - 3
      } bytes without NUL`,
    );
  }
  const a = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(a.buffer).setUint16(0, AF_UNIX, true);
  a.set(p, 2);
  return a;
}

/**
 * A non-blocking UNIX stream socket listening on `path` (a stale socket file
 * there is removed first). Returns the listening descriptor.
 */
export function unixListen(path: string, backlog = 4): number {
  const addr = sockaddrUn(path);
  try {
    if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
  } catch { /* nothing there */ }
  const fd = libc().socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new OsError("socket", errno(), path);
  if (libc().bind(fd, addr, addr.length) !== 0) {
    const e = errno();
    closeFd(fd);
    throw new OsError("bind", e, path);
  }
  if (libc().listen(fd, backlog) !== 0) {
    const e = errno();
    closeFd(fd);
    throw new OsError("listen", e, path);
  }
  return fd;
}

/** Accept one connection (non-blocking, close-on-exec), or `null` when none waits. */
export function unixAccept(listenFd: number, target: string): number | null {
  for (;;) {
    const fd = libc().accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new OsError("accept", e, target);
  }
}

/** Connect a new non-blocking UNIX stream socket to `path`. */
export function unixConnect(path: string): number {
  const addr = sockaddrUn(path);
  const fd = libc().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new OsError("socket", errno(), path);
  if (libc().connect(fd, addr, addr.length) !== 0) {
    const e = errno();
    closeFd(fd);
    throw new OsError("connect", e, path);
  }
  setNonBlocking(fd, path);
  return fd;
}

/** A connected pair of non-blocking UNIX stream sockets (for tests). */
export function unixSocketPair(): [number, number] {
  const fds = new Int32Array(2);
  const r = libc().socketpair(
    AF_UNIX,
    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
    0,
    new Uint8Array(fds.buffer),
  );
  if (r !== 0) throw new OsError("socketpair", errno(), "new pair");
  return [fds[0]!, fds[1]!];
}

/** What {@linkcode recvWithFds} got. */
export interface Received {
  /** Bytes read into the buffer (0 = the peer closed the connection). */
  n: number;
  /** Descriptors that came with them (now owned by the caller). */
  fds: number[];
  /** True when the kernel dropped descriptors for lack of room (`MSG_CTRUNC`). */
  fdsTruncated: boolean;
}

/**
 * One non-blocking `recvmsg` into `buf` with room for at least `maxFds`
 * passed descriptors (the control buffer is padded to 8 bytes); `null` when
 * nothing waits. Descriptors past the room are closed by the kernel and
 * reported as `fdsTruncated`. Received descriptors are
 * close-on-exec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, eventFd, recvWithFds, sendWithFds, unixSocketPair } from "./posix.ts";
 * const [a, b] = unixSocketPair();
 * const ev = eventFd();
 * assert.equal(sendWithFds(a, new Uint8Array([7]), [ev], "a"), 1);
 * const got = recvWithFds(b, new Uint8Array(4), 4, "b")!;
 * assert(got.n === 1 && got.fds.length === 1 && !got.fdsTruncated);
 * for (const fd of [a, b, ev, ...got.fds]) closeFd(fd);
 * ```
 */
export function recvWithFds(
  fd: number,
  buf: Uint8Array,
  maxFds: number,
  target: string,
): Received | null {
  const nFds = Math.min(Math.max(0, Math.floor(maxFds)), MAX_FDS_PER_MESSAGE);
  const ctlLen = nFds > 0 ? cmsgSpace(4 * nFds) : 0;
  const ctl = new Uint8Array(Math.max(8, ctlLen));
  const iov = new BigUint64Array([ptrValue(buf), BigInt(buf.length)]);
  const msg = new Uint8Array(MSGHDR_SIZE);
  const mv = new DataView(msg.buffer);
  mv.setBigUint64(16, ptrValue(new Uint8Array(iov.buffer)), true);
  mv.setBigUint64(24, 1n, true);
  if (ctlLen > 0) {
    mv.setBigUint64(32, ptrValue(ctl), true);
    mv.setBigUint64(40, BigInt(ctlLen), true);
  }
  let n: number;
  for (;;) {
    n = Number(libc().recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n >= 0) break;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new OsError("recvmsg", e, target);
  }
  const fds: number[] = [];
  const flags = mv.getInt32(48, true);
  const got = Number(mv.getBigUint64(40, true));
  // Walk the control messages the kernel wrote: every SCM_RIGHTS descriptor is
  // collected (to be closed by the caller if unwanted), anything else skipped.
  const cv = new DataView(ctl.buffer);
  let off = 0;
  while (ctlLen > 0 && off + CMSGHDR_SIZE <= Math.min(got, ctlLen)) {
    const len = Number(cv.getBigUint64(off, true));
    if (len < CMSGHDR_SIZE || len > ctlLen - off) break;
    if (cv.getInt32(off + 8, true) === SOL_SOCKET && cv.getInt32(off + 12, true) === SCM_RIGHTS) {
      for (let p = off + CMSGHDR_SIZE; p + 4 <= off + len; p += 4) fds.push(cv.getInt32(p, true));
    }
    off += cmsgSpace(len - CMSGHDR_SIZE);
  }
  return { n, fds, fdsTruncated: (flags & MSG_CTRUNC) !== 0 };
}

/**
 * One non-blocking `sendmsg` of `buf` with `fds` attached (SCM_RIGHTS) and
 * no SIGPIPE; bytes sent, or `null` when the socket buffer is full.
 */
export function sendWithFds(
  fd: number,
  buf: Uint8Array,
  fds: readonly number[],
  target: string,
): number | null {
  if (fds.length > MAX_FDS_PER_MESSAGE) {
    throw new ConfigError(
      "SOCKET_TOO_MANY_FDS",
      `${target}: ${fds.length} descriptors in one message (at most ${MAX_FDS_PER_MESSAGE})`,
    );
  }
  const ctlLen = fds.length > 0 ? cmsgSpace(4 * fds.length) : 0;
  const ctl = new Uint8Array(Math.max(8, ctlLen));
  if (ctlLen > 0) {
    const cv = new DataView(ctl.buffer);
    cv.setBigUint64(0, BigInt(CMSGHDR_SIZE + 4 * fds.length), true);
    cv.setInt32(8, SOL_SOCKET, true);
    cv.setInt32(12, SCM_RIGHTS, true);
    fds.forEach((f, i) => cv.setInt32(CMSGHDR_SIZE + 4 * i, f, true));
  }
  const iov = new BigUint64Array([ptrValue(buf), BigInt(buf.length)]);
  const msg = new Uint8Array(MSGHDR_SIZE);
  const mv = new DataView(msg.buffer);
  mv.setBigUint64(16, ptrValue(new Uint8Array(iov.buffer)), true);
  mv.setBigUint64(24, 1n, true);
  if (ctlLen > 0) {
    mv.setBigUint64(32, ptrValue(ctl), true);
    mv.setBigUint64(40, BigInt(ctlLen), true);
  }
  for (;;) {
    const n = Number(libc().sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL));
    if (n >= 0) return n;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new OsError("sendmsg", e, target);
  }
}

/** `shutdown(fd, SHUT_RDWR)`: wakes anything polling the socket; errors ignored. */
export function shutdownFd(fd: number): void {
  libc().shutdown(fd, 2);
}
