import assert from "node:assert/strict";
import {
  closeFd,
  eventFd,
  pipeFds,
  pollFds,
  pollFdsAsync,
  POLLIN,
  readFd,
  recvWithFds,
  sendWithFds,
  unixAccept,
  unixConnect,
  unixListen,
  unixSocketPair,
  writeFd,
} from "./posix.ts";
import { OsError } from "../errors.ts";

const one = () => new Uint8Array(new BigUint64Array([1n]).buffer);

Deno.test("listen, connect, accept and talk over a UNIX socket", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/s`;
  const l = unixListen(path);
  try {
    assert.equal(unixAccept(l, path), null);
    const c = unixConnect(path);
    const s = unixAccept(l, path);
    assert(s !== null);
    assert.equal(sendWithFds(c, new Uint8Array([1, 2, 3]), [], "c"), 3);
    const buf = new Uint8Array(8);
    const got = recvWithFds(s, buf, 0, "s");
    assert.deepEqual([got?.n, got?.fds], [3, []]);
    closeFd(c);
    // The end of stream comes once no process holds the other end. A child
    // that another test is spawning holds a copy of every descriptor of this
    // process until it execs (close-on-exec), so it may come a moment later.
    pollFds([{ fd: s, events: POLLIN }], 10_000);
    assert.equal(recvWithFds(s, buf, 0, "s")?.n, 0, "end of stream after the peer closed");
    closeFd(s);
  } finally {
    closeFd(l);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("passed descriptors refer to the same eventfd; extra ones are reported as truncated", () => {
  const [a, b] = unixSocketPair();
  const evs = [eventFd(), eventFd(), eventFd(), eventFd()];
  try {
    sendWithFds(a, new Uint8Array([9]), evs, "a");
    const got = recvWithFds(b, new Uint8Array(1), 1, "b")!;
    // Room for one descriptor is padded to 8 bytes, so two fit; the other two are dropped.
    assert(got.fds.length >= 1 && got.fds.length < 4);
    assert(got.fdsTruncated);
    writeFd(got.fds[0]!, one(), "passed");
    assert.equal(readFd(evs[0]!, new Uint8Array(8), "original"), 8);
    for (const fd of got.fds) closeFd(fd);
  } finally {
    for (const fd of [a, b, ...evs]) closeFd(fd);
  }
});

Deno.test("pollFdsAsync wakes when a pipe becomes readable and times out otherwise", async () => {
  const [r, w] = pipeFds();
  try {
    assert.deepEqual(await pollFdsAsync([{ fd: r, events: POLLIN }], 1), [0]);
    const p = pollFdsAsync([{ fd: r, events: POLLIN }], 10_000);
    setTimeout(() => writeFd(w, one(), "pipe"), 5);
    const ev = await p;
    assert.equal(ev[0]! & POLLIN, POLLIN);
    assert.equal(pollFds([{ fd: r, events: POLLIN }], 0)[0]! & POLLIN, POLLIN);
  } finally {
    closeFd(r);
    closeFd(w);
  }
});

Deno.test("a failed call throws OsError with the errno", () => {
  assert.throws(() => readFd(987654, new Uint8Array(1), "fd 987654"), (e) => {
    assert(e instanceof OsError);
    assert.equal(e.code, "EBADF");
    return true;
  });
});
