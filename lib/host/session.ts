/**
 * A host (virtio driver) rpmsg session with a running remote, in named steps:
 *
 * 1. **connect** — on a socket-notified machine, connect first (the remote
 *    listens once its table is published; retried while nothing listens);
 * 2. **map** — map the machine's existing shared memory;
 * 3. **attach** — find out what the remote does ({@linkcode probeRemote}) and,
 *    when no application waits for a host, have one started (an
 *    {@linkcode AppStarter}, e.g. a command typed on the remote's console),
 *    then wait until it waits, by protocol;
 * 4. **reset** — a session left running is reset (status 0, held until the
 *    remote leaves it);
 * 5. **table** — the host's copy of the resource table (vring addresses);
 * 6. **rings** — fresh vrings and buffers, RX buffers posted;
 * 7. **DRIVER_OK** — features, then DRIVER_OK.
 *
 * One process may open a session while another (`amp load`) owns the core:
 * the session only touches the shared memory and the notify channel.
 *
 * @module
 */

import { AmpError, ResourceTableError, TimeoutError, VirtioError } from "../errors.ts";
import { mapExistingMemory } from "../link/memory.ts";
import { profileNotifier } from "../link/notifier.ts";
import {
  type HostResourceTable,
  type HostVdev,
  prepareHostTable,
  writeHostTable,
} from "../link/placement.ts";
import { READY_IDLE, READY_WAITING, ReadyWord } from "../link/ready_word.ts";
import type { MachineProfile } from "../machine/types.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import type { Notifier } from "../notify/types.ts";
import { VIRTIO_ID_RPMSG, VIRTIO_RPMSG_F_NS } from "../rsc/layout.ts";
import { parseResourceTable } from "../rsc/table.ts";
import { createRpmsgDevice } from "../rpmsg/create.ts";
import type { RpmsgDriverBus } from "../rpmsg/mod.ts";
import { sleep, waitUntil } from "../util/wait.ts";
import { SharedVdev } from "../virtio/vdev.ts";
import { RpmsgChannel } from "./channel.ts";
import type {
  AppStarter,
  ChannelOptions,
  HostSessionOptions,
  PickServiceOptions,
} from "./types.ts";
import { probeRemote, type RemoteProbe } from "./probe.ts";

/** Features the host accepts (name service). */
export const HOST_FEATURES: number = VIRTIO_RPMSG_F_NS;

export type {
  AppStarter,
  ChannelOptions,
  HostSessionOptions,
  PickServiceOptions,
} from "./types.ts";

/** How long a fresh table must stay unchanged before the host writes over it, ms. */
const TABLE_SETTLE_MS = 2;
/** How long after DRIVER_OK, and how often, the host's table is written again if the remote overwrote it. */
const GUARD_MS = 2000, MAX_TABLE_REWRITES = 3;

/**
 * An open host session.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostSession } from "./session.ts";
 * import { sampleService } from "../apps/services.ts";
 * import { runSample } from "../apps/sample.ts";
 * import { simTestSetup } from "../sim/_testing.ts";
 * await using t = await simTestSetup({ services: [sampleService()] });
 * const s = await HostSession.open(t.profile, { memory: t.memory });
 * const r = await runSample(await s.channel("rpmsg-client-sample"), { count: 3 });
 * assert(r.passed && s.features === 1);
 * await s.close();
 * ```
 */
export class HostSession {
  /** The machine. */
  readonly profile: MachineProfile;
  readonly #o: HostSessionOptions;
  readonly #timeoutMs: number;
  readonly #log: (line: string) => void;
  #notifier: Notifier | undefined;
  #memory: MemoryMap | undefined;
  #probe: RemoteProbe | undefined;
  #vdevAccess: SharedVdev | undefined;
  #table: HostResourceTable | undefined;
  #vdev: HostVdev | undefined;
  #device: RpmsgDriverBus | undefined;
  #features = 0;
  #okAt = 0;
  #rewrites = 0;
  readonly #channels: RpmsgChannel[] = [];
  #closed = false;

  private constructor(profile: MachineProfile, options: HostSessionOptions) {
    this.profile = profile;
    this.#o = options;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#log = options.log ?? (() => {});
    this.#notifier = options.notifier;
  }

  /**
   * Attach to the remote of `profile` as the virtio driver (the steps in the
   * module doc). The table in shared memory is written by the remote: it is
   * parsed with every check, bounded by `layout.rscTable.size`.
   *
   * Errors: `ResourceTableError` (bad table), `VirtioError`
   * `HOST_NO_RPMSG_VDEV` / `HOST_VRING_COUNT` / `HOST_SPLIT_REGIONS`,
   * `AmpError` `REMOTE_IDLE` (no application waits and none can be started),
   * `TimeoutError` (the remote does not acknowledge the reset, a started
   * application never waits, a socket never listens), `LoadError` from the
   * vring placement, OS errors from mapping, whatever `check` throws.
   */
  static async open(
    profile: MachineProfile,
    options: HostSessionOptions = {},
  ): Promise<HostSession> {
    const s = new HostSession(profile, options);
    try {
      await s.#connect();
      await s.#map();
      await s.#attach();
      await s.#reset();
      s.#writeTable();
      await s.#rings();
      s.#driverOk();
      return s;
    } catch (e) {
      s.#abandon();
      throw e;
    }
  }

  /** The processed table as written by this host. */
  get table(): HostResourceTable {
    return this.#table!;
  }
  /** The rpmsg vdev used. */
  get vdev(): HostVdev {
    return this.#vdev!;
  }
  /** The rpmsg bus (driver role). */
  get device(): RpmsgDriverBus {
    return this.#device!;
  }
  /** The mapped memory. */
  get memory(): MemoryMap {
    return this.#memory!;
  }
  /** Features written to `gfeatures`. */
  get features(): number {
    return this.#features;
  }
  /** What the remote was doing when the session attached. */
  get probe(): RemoteProbe {
    return this.#probe!;
  }

  /** Services announced by the remote so far (name -> address). */
  services(): ReadonlyMap<string, number> {
    return this.device.remoteServices;
  }

  /** Process pending bus work once; returns items handled. */
  poll(): number {
    return this.device.poll();
  }

  // ------------------------------------------------------------------ steps

  /** 1. Socket machines: connect first, retrying while nothing listens. */
  async #connect(): Promise<void> {
    if (this.#notifier !== undefined || this.profile.notify.kind !== "socket") return;
    this.#notifier = await profileNotifier(this.profile, new MemoryMap(), "host", {
      retryMs: this.#timeoutMs,
    });
  }

  /** 2. The machine's memory (a host session never creates it: the remote's owner did). */
  async #map(): Promise<void> {
    this.#memory = this.#o.memory ?? await mapExistingMemory(this.profile);
  }

  /** 3. Find out what the remote does; have an application started when none waits. */
  async #attach(): Promise<void> {
    const probe = this.#look();
    const starter = this.#o.starter;
    this.#log(`remote: ${probe.state} (${probe.reason})`);
    if (probe.state === "waiting") {
      if (starter?.explicit) {
        this.#log(`not starting ${starter.what}: an application already waits for a host`);
      }
    } else if (probe.state === "idle" && starter) {
      await this.#startApp(starter);
    } else if (probe.state === "idle" && probe.ready !== undefined) {
      throw new AmpError(
        "REMOTE_IDLE",
        `The remote runs no application that waits for a host (${probe.reason}); start one with --start CMD or on its console`,
      );
    }
    const now = this.#look();
    if (!now.table) {
      // Nothing to attach to: report what the table check says.
      this.#readTableOrThrow();
    }
    if (now.vdevOffset === undefined) {
      throw new VirtioError(
        "HOST_NO_RPMSG_VDEV",
        `The remote's resource table at ${
          hex(this.profile.layout.rscTable.pa)
        } has no rpmsg vdev (id ${VIRTIO_ID_RPMSG}) among its ${now.table!.entries.length} entries`,
      );
    }
  }

  #look(): RemoteProbe {
    const fw = this.#o.firmwareTable;
    const p = probeRemote(this.profile, this.#memory!, fw ? { firmwareTable: fw } : {});
    this.#probe = p;
    return p;
  }

  /** Throw what the table check says, with a hint (the table was found invalid). */
  #readTableOrThrow(): never {
    const { pa, size } = this.profile.layout.rscTable;
    try {
      parseResourceTable(this.#memory!.get(pa, size).read(pa, size), {
        name: `the resource table at ${hex(pa)}`,
      });
    } catch (e) {
      if (!(e instanceof ResourceTableError)) throw e;
      throw new ResourceTableError(
        e.code,
        `${e.message} (no remote application has published its table there: start one with --start CMD, or on the remote's console)`,
        { cause: e },
      );
    }
    throw new AmpError("STATE", `The resource table at ${hex(pa)} changed while it was read`);
  }

  /**
   * Invalidate the table copy (its `ver` word), start the application, and
   * wait until a fresh table is there and has stopped changing.
   */
  async #startApp(starter: AppStarter): Promise<void> {
    const { pa } = this.profile.layout.rscTable;
    this.#memory!.get(pa, 4).atomicStoreU32(pa, 0);
    this.#log(`starting ${starter.what}`);
    await starter.start();
    // The table was invalidated: any valid table that appears now, with no
    // DRIVER_OK in its rpmsg vdev, was written by the application just started.
    let last: Uint8Array | undefined;
    let since = 0;
    const ok = await waitUntil(() => {
      this.#o.check?.();
      const p = this.#look();
      const usable = p.bytes !== undefined && p.vdevOffset !== undefined &&
        (p.state === "waiting" || (p.state !== "active" && p.ready === undefined));
      if (!usable) {
        last = undefined;
        return false;
      }
      const now = performance.now();
      if (!last || !sameBytes(last, p.bytes!)) {
        last = p.bytes;
        since = now;
        return false;
      }
      return now - since >= TABLE_SETTLE_MS;
    }, {
      deadlineMs: this.#timeoutMs,
      signal: this.#o.signal,
      spinUs: 0,
      yieldUs: 200,
      sleepMs: 1,
      maxSleepMs: 4,
    });
    if (!ok) {
      const tail = (await starter.tail?.().catch(() => "")) ?? "";
      throw new TimeoutError(
        `waiting for the application started by ${starter.what} to wait for a host (${this.#probe?.reason})${
          tail ? `; the remote printed: ${tail}` : ""
        }`,
        this.#timeoutMs,
      );
    }
    // What the application wrote is what the session attaches to.
    this.#probe = {
      ...this.#probe!,
      state: "waiting",
      reason: `${starter.what} published its table`,
    };
    this.#log(`${starter.what}: the application waits for a host`);
  }

  /** 4. Reset a session left running; hold status 0 until the remote leaves it. */
  async #reset(): Promise<void> {
    const { pa, size } = this.profile.layout.rscTable;
    const region = this.#memory!.get(pa, size);
    const probe = this.#probe!;
    this.#vdevAccess = new SharedVdev(region, pa + probe.vdevOffset!, { name: "rpmsg vdev" });
    if (probe.state === "waiting") return;
    this.#vdevAccess.reset();
    this.#log(`vdev reset (status 0) at ${hex(this.#vdevAccess.pa + 24)}`);
    const held = performance.now();
    const word = ReadyWord.find(this.#memory!, this.profile.demos?.readyWord);
    if (word?.read() !== undefined) {
      // The remote answers a reset by waiting for a host again, or (amp's
      // firmware, when its application ends with the session) by going idle.
      let answer: number | undefined;
      const ok = await waitUntil(() => {
        this.#o.check?.();
        answer = word.read();
        return answer === READY_WAITING || answer === READY_IDLE;
      }, { deadlineMs: this.#timeoutMs, signal: this.#o.signal, spinUs: 0 });
      if (ok && answer === READY_IDLE) {
        const starter = this.#o.starter;
        if (!starter) {
          throw new AmpError(
            "REMOTE_IDLE",
            "The remote's application ended on the vdev reset and none waits for a host; start one with --start CMD or on its console",
          );
        }
        this.#log("the remote's application ended on the vdev reset");
        await this.#startApp(starter);
        return this.#reset(); // the new application waits: only its vdev is taken
      }
      if (!ok) {
        throw new TimeoutError(
          `waiting for the remote to acknowledge the vdev reset (readiness word at ${
            hex(word.pa)
          } is ${word.read()}, want ${READY_WAITING})`,
          this.#timeoutMs,
        );
      }
    }
    const left = (this.profile.demos?.resetHoldMs ?? 5) - (performance.now() - held);
    if (left > 0) await sleep(left);
    this.#look();
  }

  /** 5. The host's table: vring addresses from the layout, status 0. */
  #writeTable(): void {
    const probe = this.#probe!;
    if (!probe.table || !probe.bytes || probe.vdevOffset === undefined) this.#readTableOrThrow();
    const layout = this.profile.layout;
    const table = prepareHostTable(
      { imageAddr: layout.rscTable.pa, bytes: probe.bytes!, table: probe.table! },
      this.profile,
      this.#memory!,
      "remote",
    );
    const vdev = table.vdevs.find((v) => v.offset === probe.vdevOffset)!;
    if (vdev.vrings.length !== 2) {
      throw new VirtioError(
        "HOST_VRING_COUNT",
        `The remote's rpmsg vdev has ${vdev.vrings.length} vrings; rpmsg needs 2`,
      );
    }
    writeHostTable(table, this.#memory!);
    this.#table = table;
    this.#vdev = vdev;
  }

  /** 6. Vrings and buffers (zeroed, RX buffers posted). */
  async #rings(): Promise<void> {
    const layout = this.profile.layout;
    const [r0, r1] = [this.#vdev!.vrings[0]!, this.#vdev!.vrings[1]!];
    const lo = Math.min(r0.pa, r1.pa, layout.pool.pa);
    const hi = Math.max(r0.pa, r1.pa, layout.pool.pa + layout.pool.size);
    const region: MemoryRegion | undefined = this.#memory!.find(lo, hi - lo);
    if (!region) {
      throw new VirtioError(
        "HOST_SPLIT_REGIONS",
        `vrings at ${hex(r0.pa)}, ${hex(r1.pa)} and the buffer pool [${hex(layout.pool.pa)}, +${
          hex(layout.pool.size)
        }) are not inside one mapped region`,
      );
    }
    this.#notifier ??= await profileNotifier(this.profile, this.#memory!, "host");
    this.#features = (this.#vdev!.dfeatures & HOST_FEATURES) >>> 0;
    this.#device = createRpmsgDevice({
      role: "driver",
      region,
      notifier: this.#notifier,
      vring0: { pa: r0.pa, num: r0.num, align: r0.align },
      vring1: { pa: r1.pa, num: r1.num, align: r1.align },
      pool: { base: layout.pool.pa, size: layout.pool.size },
      rxBufSize: layout.bufSize.rx,
      txBufSize: layout.bufSize.tx,
      features: this.#features,
      notifyIds: [r0.notifyid, r1.notifyid],
      log: this.#log,
      activeWindowMs: this.#o.activeWindowMs,
    });
  }

  /** 7. Features, then DRIVER_OK. */
  #driverOk(): void {
    const v = this.#vdevAccess!;
    v.writeGuestFeatures(this.#features);
    v.setDriverOk();
    this.#okAt = performance.now();
    const [r0, r1] = this.#vdev!.vrings;
    const dev = this.#device!;
    this.#log(
      `DRIVER_OK: vrings ${hex(r0!.pa)}/${hex(r1!.pa)} (${
        r0!.num
      } entries), ${dev.rxBuffers}+${dev.txBuffers} buffers, features ${hex(this.#features)}`,
    );
  }

  /**
   * The host's copy wins: a remote application that still writes its table
   * after the host's DRIVER_OK (it copied it, then its parser touched it)
   * can clear the status or the vring addresses. Until the remote has said
   * anything, and for a short while, such a table is written again.
   */
  #guard(): void {
    if (this.#rewrites >= MAX_TABLE_REWRITES || this.#device!.stats.rxMessages > 0) return;
    if (performance.now() - this.#okAt > GUARD_MS) return;
    const v = this.#vdevAccess!;
    const { pa } = this.profile.layout.rscTable;
    const r0 = this.#vdev!.vrings[0]!;
    const daAt = this.#vdev!.statusPa - 24 + 28;
    const region = this.#memory!.get(pa, this.profile.layout.rscTable.size);
    if (v.driverOk() && region.u32(daAt) === r0.pa) return;
    this.#rewrites++;
    this.#log("the remote rewrote its table after DRIVER_OK: writing the host's copy again");
    writeHostTable(this.#table!, this.#memory!);
    v.writeGuestFeatures(this.#features);
    v.setDriverOk();
  }

  /**
   * Why the remote's side of this open session is gone, read from shared
   * memory, or undefined: the vdev status lost DRIVER_OK (the remote reset
   * the device: it restarted, was reloaded or stopped). One status read; for
   * a wait's check, so it ends with this reason instead of a timeout.
   */
  remoteReset(): string | undefined {
    const v = this.#vdevAccess;
    if (this.#closed || !v || this.#okAt === 0) return undefined;
    // Early rewrites are the guard's business (a remote still copying its table).
    if (this.#device!.stats.rxMessages === 0 && performance.now() - this.#okAt <= GUARD_MS) {
      return undefined;
    }
    const status = v.status();
    if (!v.driverOk()) {
      return `reset its vdev during the session (status ${hex(status)}, DRIVER_OK gone)`;
    }
    return undefined;
  }

  // --------------------------------------------------------------- services

  #checkOpen(): void {
    if (this.#closed) throw new AmpError("STATE", `The host session is closed`);
  }

  #announced(): string {
    const known = [...this.device.remoteServices.keys()];
    return known.length ? known.map((k) => `"${k}"`).join(", ") : "none";
  }

  /**
   * Wait until the remote announced `name` (before or after this call) and
   * return a channel bound to it. `TimeoutError` when it never comes.
   */
  async channel(name: string, options: ChannelOptions = {}): Promise<RpmsgChannel> {
    this.#checkOpen();
    const wait = options.timeoutMs ?? this.#timeoutMs;
    const dev = this.device;
    const ch = new RpmsgChannel(dev, name, {
      ...(this.#o.signal ? { signal: this.#o.signal } : {}),
      ...(this.#o.check ? { check: this.#o.check } : {}),
    });
    this.#channels.push(ch);
    if (!ch.endpoint.ready) {
      const ok = await waitUntil(() => {
        this.#o.check?.();
        this.#guard();
        if (!ch.endpoint.ready) dev.poll();
        return ch.endpoint.ready;
      }, { deadlineMs: wait, signal: this.#o.signal, spinUs: 0 });
      if (!ok) {
        ch.close();
        throw new TimeoutError(
          `waiting for the remote to announce "${name}" (announced: ${this.#announced()})`,
          wait,
        );
      }
    }
    this.#log(`channel "${name}": local ${ch.endpoint.addr} -> remote ${ch.endpoint.dst}`);
    return ch;
  }

  /**
   * Wait until the remote announced one of `names` and return the most
   * preferred one announced (earlier in the list wins). Once a less preferred
   * name is seen, a better one still has `graceMs` to come: a remote
   * announces all its services at once. `TimeoutError` when none comes.
   */
  async pickService(names: readonly string[], options: PickServiceOptions = {}): Promise<string> {
    this.#checkOpen();
    const wait = options.timeoutMs ?? this.#timeoutMs;
    const grace = options.graceMs ?? 300;
    const dev = this.device;
    const best = () => names.find((n) => dev.remoteServices.has(n));
    let firstSeen = -1;
    const ok = await waitUntil(() => {
      this.#o.check?.();
      this.#guard();
      dev.poll();
      const b = best();
      if (b === undefined) return false;
      if (b === names[0]) return true;
      if (firstSeen < 0) firstSeen = performance.now();
      return performance.now() - firstSeen >= grace;
    }, { deadlineMs: wait, signal: this.#o.signal, spinUs: 0 });
    const b = best();
    if (!ok && b === undefined) {
      throw new TimeoutError(
        `waiting for the remote to announce ${
          names.map((n) => `"${n}"`).join(" or ")
        } (announced: ${this.#announced()})`,
        wait,
      );
    }
    return b!;
  }

  /** Destroy the endpoints, reset the vdev (status 0), release the notifier and mappings. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let first: unknown;
    const step = (f: () => void) => {
      try {
        f();
      } catch (e) {
        first ??= e;
      }
    };
    for (const ch of this.#channels) step(() => ch.close());
    const dev = this.#device!;
    // Give the remote a moment to take the DESTROY messages before the reset.
    await waitUntil(() => dev.txFree === dev.txBuffers || (dev.poll(), false), {
      deadlineMs: 50,
      spinUs: 0,
    }).catch(() => false);
    step(() => dev.close());
    step(() => this.#vdevAccess?.reset());
    step(() => this.#notifier?.close());
    if (this.#o.memory === undefined) step(() => this.#memory?.close());
    step(() => this.#o.onClose?.());
    if (first !== undefined) throw first;
  }

  /** `close()` for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Undo what the steps did so far (open failed). */
  #abandon(): void {
    try {
      this.#device?.close();
      if (this.#device) this.#vdevAccess?.reset();
    } catch { /* already failing */ }
    if (!this.#o.notifier) this.#notifier?.close();
    if (this.#o.memory === undefined) this.#memory?.close();
    try {
      this.#o.onClose?.();
    } catch { /* already failing */ }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
