/**
 * The Linux kernel's rpmsg stack from user space (machines.md section 3):
 * the channels the kernel knows (`/sys/bus/rpmsg/devices/*`), and endpoints
 * made through `rpmsg_char` — `RPMSG_CREATE_EPT_IOCTL` on `/dev/rpmsg_ctrlN`
 * creates `/dev/rpmsgN`, where each `write` sends one message and each `read`
 * returns one; `RPMSG_DESTROY_EPT_IOCTL` on it destroys the endpoint.
 *
 * {@linkcode RpmsgCharEndpoint} implements the demo apps' `Channel`, so
 * `runSample`, `runMsgTest` and `runMatrix` run over the kernel unchanged.
 * Reads never block the event loop: the device is opened non-blocking and
 * waited on with `poll` off-thread, always under a deadline.
 *
 * Every path is relative to `root` (default `/`), so tests can run against a
 * fake sysfs tree.
 *
 * @module
 */

import { ConfigError, OsError, RpmsgError, TimeoutError } from "../errors.ts";
import type { Channel } from "../apps/channel.ts";
import {
  closeFd,
  ioctlFd,
  openFd,
  POLLERR,
  pollFdsAsync,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  readFd,
  writeFd,
} from "../sys/posix.ts";
import { sleep } from "../util/wait.ts";
import { RPMSG_ADDR_ANY } from "../rpmsg/mod.ts";
import { encodeEndpointInfo, RPMSG_CREATE_EPT_IOCTL, RPMSG_DESTROY_EPT_IOCTL } from "./uapi.ts";

const O_RDWR = 0o2, O_NONBLOCK = 0o4000, O_CLOEXEC = 0o2000000;
/** The payload of the kernel's 512-byte rpmsg buffers (512 - 16-byte header). */
export const KERNEL_RPMSG_MAX_PAYLOAD = 496;

/** One rpmsg channel device of the kernel's rpmsg bus. */
export interface KernelChannel {
  /** Device name, e.g. `virtio0.rpmsg-client-sample.-1.1025`. */
  device: string;
  /** Service name. */
  name: string;
  /** Local address (RPMSG_ADDR_ANY when none). */
  src: number;
  /** Remote address (the announcing endpoint). */
  dst: number;
  /** Bound driver (e.g. `rpmsg_ctrl`, `rpmsg_client_sample`), or "" when none. */
  driver: string;
}

/** Where the kernel's files are (tests point it at a fake tree). */
export interface KernelPaths {
  /** Prefix of `/sys` and `/dev` (default `/`). */
  root?: string;
}

function rootOf(o: KernelPaths | undefined): string {
  const r = o?.root ?? "/";
  return r.endsWith("/") ? r : r + "/";
}

/**
 * Parse an rpmsg sysfs address: `0x400`, `1024` or `-1` (ANY); undefined when malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRpmsgAddr } from "./rpmsg_char.ts";
 * assert.equal(parseRpmsgAddr("0x400\n"), 1024);
 * assert.equal(parseRpmsgAddr("-1"), 0xffff_ffff);
 * assert.equal(parseRpmsgAddr("0x1zz"), undefined);
 * ```
 */
export function parseRpmsgAddr(text: string): number | undefined {
  const t = text.trim();
  let v: number;
  if (/^0x[0-9a-f]{1,8}$/i.test(t)) v = parseInt(t.slice(2), 16);
  else if (t === "-1") v = RPMSG_ADDR_ANY;
  else if (/^-?[0-9]{1,10}$/.test(t)) v = Number(t);
  else return undefined;
  if (v < 0) v += 2 ** 32;
  return v >= 0 && v <= 0xffff_ffff ? v : undefined;
}

function readAttr(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).replace(/\n$/, "");
  } catch {
    return undefined;
  }
}

/**
 * The channels on the kernel's rpmsg bus, sorted by device name; `[]` when
 * the bus does not exist. Devices whose attributes cannot be read or parsed
 * are skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listRpmsgChannels } from "./rpmsg_char.ts";
 * const root = Deno.makeTempDirSync();
 * const dev = `${root}/sys/bus/rpmsg/devices/virtio0.rpmsg-client-sample.-1.1025`;
 * Deno.mkdirSync(dev, { recursive: true });
 * Deno.writeTextFileSync(`${dev}/name`, "rpmsg-client-sample\n");
 * Deno.writeTextFileSync(`${dev}/src`, "0xffffffff\n");
 * Deno.writeTextFileSync(`${dev}/dst`, "0x401\n");
 * const [c] = listRpmsgChannels({ root });
 * assert(c !== undefined && c.name === "rpmsg-client-sample" && c.dst === 0x401);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function listRpmsgChannels(paths?: KernelPaths): KernelChannel[] {
  const dir = `${rootOf(paths)}sys/bus/rpmsg/devices`;
  let entries: string[];
  try {
    entries = [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
  const out: KernelChannel[] = [];
  for (const device of entries.sort()) {
    const name = readAttr(`${dir}/${device}/name`);
    const src = parseRpmsgAddr(readAttr(`${dir}/${device}/src`) ?? "");
    const dst = parseRpmsgAddr(readAttr(`${dir}/${device}/dst`) ?? "");
    if (name === undefined || src === undefined || dst === undefined) continue;
    let driver = "";
    try {
      const link = Deno.readLinkSync(`${dir}/${device}/driver`);
      driver = link.slice(link.lastIndexOf("/") + 1);
    } catch { /* unbound */ }
    out.push({ device, name, src, dst, driver });
  }
  return out;
}

/** One rpmsg_char endpoint device (`/sys/class/rpmsg/rpmsgN`). */
export interface KernelEndpointDevice {
  /** `rpmsgN`. */
  device: string;
  /** Service name. */
  name: string;
  /** Source address as created (ANY when the kernel chose). */
  src: number;
  /** Destination address. */
  dst: number;
}

/**
 * The endpoint devices rpmsg_char exposes (`/sys/class/rpmsg/rpmsgN`, not
 * the `rpmsg_ctrlN` control devices); `[]` when there are none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listRpmsgEndpoints } from "./rpmsg_char.ts";
 * const root = Deno.makeTempDirSync();
 * const dev = `${root}/sys/class/rpmsg/rpmsg0`;
 * Deno.mkdirSync(dev, { recursive: true });
 * Deno.mkdirSync(`${root}/sys/class/rpmsg/rpmsg_ctrl0`);
 * Deno.writeTextFileSync(`${dev}/name`, "rpmsg-client-sample\n");
 * Deno.writeTextFileSync(`${dev}/src`, "0x400\n");
 * Deno.writeTextFileSync(`${dev}/dst`, "0x401\n");
 * const eps = listRpmsgEndpoints({ root });
 * assert.deepEqual(eps, [{ device: "rpmsg0", name: "rpmsg-client-sample", src: 0x400, dst: 0x401 }]);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function listRpmsgEndpoints(paths?: KernelPaths): KernelEndpointDevice[] {
  const dir = `${rootOf(paths)}sys/class/rpmsg`;
  let entries: string[];
  try {
    entries = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /^rpmsg\d+$/.test(n));
  } catch {
    return [];
  }
  const out: KernelEndpointDevice[] = [];
  for (const device of entries.sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))) {
    const name = readAttr(`${dir}/${device}/name`);
    const src = parseRpmsgAddr(readAttr(`${dir}/${device}/src`) ?? "");
    const dst = parseRpmsgAddr(readAttr(`${dir}/${device}/dst`) ?? "");
    if (name === undefined || src === undefined || dst === undefined) continue;
    out.push({ device, name, src, dst });
  }
  return out;
}

/**
 * The control devices (`/dev/rpmsg_ctrlN`) present, sorted by N.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listRpmsgControls } from "./rpmsg_char.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${root}/dev`);
 * for (const n of ["rpmsg_ctrl10", "rpmsg_ctrl2", "rpmsg0"]) Deno.writeTextFileSync(`${root}/dev/${n}`, "");
 * assert.deepEqual(listRpmsgControls({ root }), [`${root}/dev/rpmsg_ctrl2`, `${root}/dev/rpmsg_ctrl10`]);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function listRpmsgControls(paths?: KernelPaths): string[] {
  const dir = `${rootOf(paths)}dev`;
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /^rpmsg_ctrl\d+$/.test(n))
      .sort((a, b) => Number(a.slice(10)) - Number(b.slice(10))).map((n) => `${dir}/${n}`);
  } catch {
    return [];
  }
}

/** Options for {@linkcode findRpmsgChannel}. */
export interface FindChannelOptions extends KernelPaths {
  /** How long to wait for the remote to announce the service, ms (default 5000). */
  timeoutMs?: number;
  /** Stops the wait (TimeoutError). */
  signal?: AbortSignal;
}

/**
 * Wait until the kernel has a channel named `name` (the remote announced it)
 * and return it. Polls sysfs every few ms, under the deadline.
 *
 * @throws {TimeoutError} when no such channel appears in time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findRpmsgChannel } from "./rpmsg_char.ts";
 * const root = Deno.makeTempDirSync();
 * await assert.rejects(() => findRpmsgChannel("rpmsg-client-sample", { root, timeoutMs: 20 }), /none/);
 * const dev = `${root}/sys/bus/rpmsg/devices/virtio0.rpmsg-client-sample.-1.1025`;
 * Deno.mkdirSync(dev, { recursive: true });
 * Deno.writeTextFileSync(`${dev}/name`, "rpmsg-client-sample\n");
 * Deno.writeTextFileSync(`${dev}/src`, "-1\n");
 * Deno.writeTextFileSync(`${dev}/dst`, "0x401\n");
 * const c = await findRpmsgChannel("rpmsg-client-sample", { root, timeoutMs: 1000 });
 * assert.equal(c.dst, 0x401);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function findRpmsgChannel(
  name: string,
  options: FindChannelOptions = {},
): Promise<KernelChannel> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const end = performance.now() + timeoutMs;
  let step = 1;
  for (;;) {
    const c = listRpmsgChannels(options).find((c) => c.name === name && c.dst !== RPMSG_ADDR_ANY);
    if (c) return c;
    if (performance.now() >= end || options.signal?.aborted) {
      const have = listRpmsgChannels(options).map((c) => c.name);
      throw new TimeoutError(
        `waiting for the kernel's rpmsg channel "${name}" in ${
          rootOf(options)
        }sys/bus/rpmsg/devices (channels: ${have.length ? have.join(", ") : "none"})`,
        timeoutMs,
      );
    }
    await sleep(Math.min(step, Math.max(1, end - performance.now())), options.signal);
    step = Math.min(step * 2, 50);
  }
}

/** Options for {@linkcode RpmsgCharEndpoint.open}. */
export interface RpmsgCharOptions extends FindChannelOptions {
  /** Remote address; default: the `dst` of the kernel's channel named `name` (waited for). */
  dst?: number;
  /** Local address (default ANY: the kernel allocates one). */
  src?: number;
  /** Control device (default: the first `/dev/rpmsg_ctrlN`). */
  control?: string;
  /** Largest payload (default 496, the kernel's 512-byte buffers less the header). */
  maxPayload?: number;
  /** How long a send retries while the kernel has no free buffer, ms (default 15000). */
  sendTimeoutMs?: number;
}

/**
 * An rpmsg endpoint created through rpmsg_char: a {@linkcode Channel} whose
 * `send` is one `write` and whose `recv` is one `read` of `/dev/rpmsgN`.
 *
 * @example
 * ```ts ignore
 * import { RpmsgCharEndpoint } from "./rpmsg_char.ts";
 * import { runSample } from "../apps/sample.ts";
 * const ep = await RpmsgCharEndpoint.open("rpmsg-client-sample");
 * try {
 *   console.log((await runSample(ep)).passed);
 * } finally {
 *   ep.close();
 * }
 * ```
 */
export class RpmsgCharEndpoint implements Channel {
  /** Service name. */
  readonly name: string;
  /** Remote address. */
  readonly dst: number;
  /** The endpoint device, e.g. `/dev/rpmsg0`. */
  readonly path: string;
  /** The control device it was created on. */
  readonly control: string;
  /** Largest payload of one message. */
  readonly maxPayload: number;
  readonly #sendTimeoutMs: number;
  #ctrlFd: number;
  #fd: number;
  #closed = false;
  #buf = new Uint8Array(0x10000);

  private constructor(
    name: string,
    dst: number,
    path: string,
    control: string,
    ctrlFd: number,
    fd: number,
    maxPayload: number,
    sendTimeoutMs: number,
  ) {
    this.name = name;
    this.dst = dst;
    this.path = path;
    this.control = control;
    this.#ctrlFd = ctrlFd;
    this.#fd = fd;
    this.maxPayload = maxPayload;
    this.#sendTimeoutMs = sendTimeoutMs;
  }

  /**
   * Create an endpoint named `name` talking to the remote address `dst`
   * (default: the announced channel's) and open its device.
   *
   * @throws {ConfigError} `RPMSG_NO_CONTROL` when no `/dev/rpmsg_ctrlN` exists
   *   (rpmsg_ctrl not loaded, or no rpmsg bus); {@linkcode OsError} from
   *   open/ioctl; {@linkcode TimeoutError} when the channel or the new device
   *   does not appear in time.
   */
  static async open(name: string, options: RpmsgCharOptions = {}): Promise<RpmsgCharEndpoint> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const root = rootOf(options);
    const dst = options.dst ?? (await findRpmsgChannel(name, options)).dst;
    const control = options.control ?? listRpmsgControls(options)[0];
    if (!control) {
      throw new ConfigError(
        "RPMSG_NO_CONTROL",
        `No rpmsg control device in ${root}dev (is the kernel's rpmsg_ctrl driver loaded and an rpmsg bus up?)`,
      );
    }
    const info = encodeEndpointInfo(name, options.src ?? RPMSG_ADDR_ANY, dst);
    const before = new Set(listRpmsgEndpoints(options).map((e) => e.device));
    const ctrlFd = openFd(control, O_RDWR | O_CLOEXEC);
    let fd = -1;
    try {
      ioctlFd(ctrlFd, RPMSG_CREATE_EPT_IOCTL, info, `${control} RPMSG_CREATE_EPT_IOCTL "${name}"`);
      // The ioctl does not say which rpmsgN it made: the new one with our name and dst.
      const end = performance.now() + timeoutMs;
      let dev: KernelEndpointDevice | undefined;
      for (let step = 1;; step = Math.min(step * 2, 20)) {
        dev = listRpmsgEndpoints(options).filter((e) =>
          !before.has(e.device) && e.name === name && e.dst === dst
        ).at(-1);
        if (dev) {
          try {
            fd = openFd(`${root}dev/${dev.device}`, O_RDWR | O_NONBLOCK | O_CLOEXEC);
            break;
          } catch (e) {
            // devtmpfs may not have made the node yet
            if (!(e instanceof OsError && e.errno === 2)) throw e;
          }
        }
        if (performance.now() >= end) {
          throw new TimeoutError(
            `waiting for the rpmsg_char device of endpoint "${name}" (dst ${dst}) after RPMSG_CREATE_EPT_IOCTL on ${control}`,
            timeoutMs,
          );
        }
        await sleep(step);
      }
      return new RpmsgCharEndpoint(
        name,
        dst,
        `${root}dev/${dev.device}`,
        control,
        ctrlFd,
        fd,
        options.maxPayload ?? KERNEL_RPMSG_MAX_PAYLOAD,
        options.sendTimeoutMs ?? 15_000,
      );
    } catch (e) {
      closeFd(fd);
      closeFd(ctrlFd);
      throw e;
    }
  }

  #check(op: string): void {
    if (this.#closed) {
      throw new RpmsgError("RPMSG_CLOSED", `Cannot ${op} on ${this.path}: the endpoint is closed`);
    }
  }

  /**
   * Send one message now if the kernel has a free TX buffer (one non-blocking
   * `write`); false when it has none.
   *
   * @throws {RpmsgError} `RPMSG_TOO_LONG`, `RPMSG_SHORT_WRITE`, `RPMSG_CLOSED`;
   *   {@linkcode OsError} (e.g. EPIPE when the endpoint was destroyed).
   */
  trySend(data: Uint8Array): boolean {
    this.#check("send");
    if (data.length > this.maxPayload) {
      throw new RpmsgError(
        "RPMSG_TOO_LONG",
        `Cannot send ${data.length} bytes on "${this.name}": at most ${this.maxPayload} per message`,
      );
    }
    const n = writeFd(this.#fd, data, this.path);
    if (n === null) return false;
    if (n !== data.length) {
      throw new RpmsgError(
        "RPMSG_SHORT_WRITE",
        `${this.path}: wrote ${n} of ${data.length} bytes of one message`,
      );
    }
    return true;
  }

  /**
   * Send one message (one `write`). While the kernel has no free TX buffer
   * it retries every ~1 ms up to `sendTimeoutMs`.
   *
   * @throws {RpmsgError} `RPMSG_TOO_LONG`, `RPMSG_NO_BUFFER`, `RPMSG_CLOSED`;
   *   {@linkcode OsError} (e.g. EPIPE when the endpoint was destroyed).
   */
  async send(data: Uint8Array): Promise<void> {
    const end = performance.now() + this.#sendTimeoutMs;
    while (!this.trySend(data)) {
      if (performance.now() >= end) {
        throw new RpmsgError(
          "RPMSG_NO_BUFFER",
          `No free rpmsg TX buffer for "${this.name}" within ${this.#sendTimeoutMs} ms`,
        );
      }
      await sleep(1);
    }
  }

  /**
   * Receive the next message (one `read`), waiting at most `timeoutMs`.
   *
   * @throws {TimeoutError} when no message came in time; {@linkcode OsError}
   *   from read; {@linkcode RpmsgError} `RPMSG_ENDPOINT_GONE` when the kernel
   *   tore the endpoint down (the channel's device went away).
   */
  async recv(timeoutMs: number): Promise<Uint8Array> {
    this.#check("recv");
    const end = performance.now() + timeoutMs;
    for (;;) {
      const n = readFd(this.#fd, this.#buf, this.path);
      if (n !== null) return this.#buf.slice(0, n);
      const left = end - performance.now();
      if (left <= 0) {
        throw new TimeoutError(`waiting for a message on ${this.path} ("${this.name}")`, timeoutMs);
      }
      const [ev = 0] = await pollFdsAsync(
        [{ fd: this.#fd, events: POLLIN }],
        Math.min(Math.ceil(left), 100),
      );
      this.#check("recv");
      if ((ev & (POLLERR | POLLHUP | POLLNVAL)) !== 0 && (ev & POLLIN) === 0) {
        throw new RpmsgError(
          "RPMSG_ENDPOINT_GONE",
          `${this.path} ("${this.name}") reports an error: the kernel destroyed the endpoint`,
        );
      }
    }
  }

  /** Destroy the endpoint (`RPMSG_DESTROY_EPT_IOCTL`) and close both devices. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      ioctlFd(this.#fd, RPMSG_DESTROY_EPT_IOCTL, null, `${this.path} RPMSG_DESTROY_EPT_IOCTL`);
    } catch { /* already gone with its channel */ }
    closeFd(this.#fd);
    closeFd(this.#ctrlFd);
    this.#fd = -1;
    this.#ctrlFd = -1;
  }
}
