/**
 * The libc symbols behind `lib/sys`: sockets with descriptor passing,
 * eventfds, poll, ioctl, fcntl, read, write. Opened lazily on first use.
 *
 * Constants and struct layouts are the Linux LP64 ones shared by x86_64,
 * aarch64 and riscv64.
 *
 * @module
 */

import { AmpError } from "../errors.ts";

const SYMBOLS = {
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  /** The same `poll`, run on a worker thread: the event loop keeps turning meanwhile. */
  pollAsync: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The loaded symbols. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let lib: Libc | undefined;

/** The libc symbols (loaded on first call). */
export function libc(): Libc {
  if (lib) return lib;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch (e) {
    throw new AmpError(
      "LIBC_UNAVAILABLE",
      `Cannot load libc.so.6 through FFI (needs --allow-ffi and glibc): ${
        e instanceof Error ? e.message : String(e)
      }`,
      { cause: e },
    );
  }
  return lib;
}

/**
 * A zero-copy view of this thread's `errno` (`__errno_location` is fixed for
 * a thread's life; each worker isolate has its own module state and thread).
 * Read through it, `errno` is taken with no FFI call or op between the failed
 * call and the load, so nothing the runtime does in between can change it.
 */
let errnoCell: Int32Array | null | undefined;

/** The calling thread's `errno`; only meaningful right after a failed synchronous call. */
export function errno(): number {
  if (errnoCell === undefined) {
    const p = libc().__errno_location();
    errnoCell = p === null ? null : new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p, 4));
  }
  return errnoCell === null ? 0 : errnoCell[0]!;
}

/** errno values handled specially. */
export const EINTR = 4, EAGAIN = 11, EPIPE = 32, ECONNRESET = 104;

/** Socket constants. */
export const AF_UNIX = 1, SOCK_STREAM = 1, SOCK_NONBLOCK = 0o4000, SOCK_CLOEXEC = 0o2000000;
/** `sendmsg`/`recvmsg` flags. */
export const MSG_CTRUNC = 0x8, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;
/** Mark descriptors received with SCM_RIGHTS close-on-exec. */
export const MSG_CMSG_CLOEXEC = 0x4000_0000;
/** Control message level and type of descriptor passing. */
export const SOL_SOCKET = 1, SCM_RIGHTS = 1;
/** `eventfd` flags. */
export const EFD_CLOEXEC = 0o2000000, EFD_NONBLOCK = 0o4000;
/** `fcntl` commands and the non-blocking status flag. */
export const F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0o4000;
/** `poll` event bits. */
export const POLLIN = 0x1, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;

/** Size of `struct sockaddr_un` (u16 family + 108 path bytes). */
export const SOCKADDR_UN_SIZE = 110;
/** Size of `struct msghdr`. */
export const MSGHDR_SIZE = 56;
/** Size of `struct cmsghdr` (the header before the data). */
export const CMSGHDR_SIZE = 16;

/** `CMSG_SPACE(n)`: a control message of `n` data bytes, padded to 8. */
export function cmsgSpace(n: number): number {
  return CMSGHDR_SIZE + Math.ceil(n / 8) * 8;
}
