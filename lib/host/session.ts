/**
 * A host (virtio driver) rpmsg session with a running remote: read the table
 * the remote published, reset its rpmsg vdev, lay out fresh vrings and buffers,
 * negotiate features, and hand out {@linkcode RpmsgChannel}s bound to the
 * services the remote announces.
 *
 * One process may open a session while another (`amp load`) owns the core:
 * the session only touches the shared memory and the notify channel.
 *
 * @module
 */

import { AmpError, TimeoutError, VirtioError } from "../errors.ts";
import type { Channel } from "../apps/channel.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import { DEFAULT_MAPPERS, mapProfileRegions } from "../machine/map.ts";
import type { MachineProfile } from "../machine/profile.ts";
import type { Notifier } from "../notify/types.ts";
import { backoffWait } from "../notify/_backoff.ts";
import { prepareHostTable, writeHostTable } from "../remoteproc/host_table.ts";
import type { HostResourceTable, HostVdev } from "../remoteproc/host_table.ts";
import { VIRTIO_ID_RPMSG, VIRTIO_RPMSG_F_NS } from "../rsc/layout.ts";
import { parseResourceTable, resourceTableExtent } from "../rsc/table.ts";
import { createRpmsgDevice } from "../rpmsg/create.ts";
import type { RpmsgDevice, RpmsgEndpoint } from "../rpmsg/mod.ts";
import { SharedVdev } from "../virtio/vdev.ts";
import { REMOTE_STATE_WAITING, type RemoteConventions, remoteConventions } from "./conventions.ts";
import { profileNotifier } from "./notifier.ts";
import { sleep } from "../util/poll.ts";

/** Features the host accepts (name service). */
export const HOST_FEATURES = VIRTIO_RPMSG_F_NS;

/** Options for {@linkcode openHostSession}. */
export interface HostSessionOptions {
  /** Use this memory instead of mapping the profile's regions (the caller keeps ownership). */
  memory?: MemoryMap;
  /** Use this notifier instead of the profile's (the session closes it). */
  notifier?: Notifier;
  /** Longest wait for the remote (reset acknowledgement, a service), ms (default 5000). */
  timeoutMs?: number;
  /** Firmware facts beyond the profile (default: {@linkcode remoteConventions}). */
  conventions?: RemoteConventions;
  /** Progress lines ("vdev reset", "DRIVER_OK"...). */
  log?: (line: string) => void;
  /** Aborts waits. */
  signal?: AbortSignal;
}

/** Options for {@linkcode HostSession.channel}. */
export interface ChannelOptions {
  /** Longest wait for the remote to announce the service, ms (default: the session's). */
  timeoutMs?: number;
}

/**
 * A message channel over one rpmsg endpoint: received messages are copied
 * into a queue; `recv` drives the bus while it waits (spin, yield, then sleep).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openHostSession } from "./session.ts";
 * import { echoService } from "../apps/services.ts";
 * import { simTestSetup } from "../sim/_testing.ts";
 * await using t = await simTestSetup({ services: [echoService()] });
 * const s = await openHostSession(t.profile, { memory: t.memory });
 * const ch = await s.channel("rpmsg-openamp-demo-channel");
 * await ch.send(new Uint8Array([1, 2, 3]));
 * assert((await ch.recv(5000)).length === 3);
 * await s.close();
 * ```
 */
export class RpmsgChannel implements Channel {
  /** The endpoint this channel sends from. */
  readonly endpoint: RpmsgEndpoint;
  readonly #device: RpmsgDevice;
  readonly #queue: Uint8Array[] = [];
  readonly #signal: AbortSignal | undefined;

  /** @internal use {@linkcode HostSession.channel} */
  constructor(
    device: RpmsgDevice,
    name: string,
    signal: AbortSignal | undefined,
  ) {
    this.#device = device;
    this.#signal = signal;
    this.endpoint = device.createEndpoint({
      name,
      onMessage: (d) => {
        this.#queue.push(d.slice());
      },
    });
  }

  /** Largest payload of one message. */
  get maxPayload(): number {
    return this.#device.maxPayload;
  }

  /** Messages received and not read yet. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Send one message (waits for a free TX buffer up to 15 s). */
  async send(data: Uint8Array): Promise<void> {
    await this.endpoint.send(data, this.#signal ? { signal: this.#signal } : {});
  }

  /** The next message; TimeoutError after `timeoutMs`. */
  async recv(timeoutMs: number): Promise<Uint8Array> {
    const q = this.#queue;
    if (q.length === 0) this.#device.poll();
    if (q.length === 0) {
      const device = this.#device;
      const end = performance.now() + timeoutMs;
      while (q.length === 0) {
        const left = end - performance.now();
        if (left <= 0 || this.#signal?.aborted) {
          throw new TimeoutError(
            `waiting for a message on rpmsg endpoint ${this.endpoint.addr} "${this.endpoint.name}"`,
            timeoutMs,
          );
        }
        await device.waitForWork({
          deadlineMs: Math.min(left, 100),
          ...(this.#signal ? { signal: this.#signal } : {}),
        });
        device.poll();
      }
    }
    return q.shift()!;
  }

  /** Destroy the endpoint (announces DESTROY). */
  close(): void {
    this.endpoint.destroy();
  }
}

/** An open host session. */
export interface HostSession {
  /** The machine. */
  readonly profile: MachineProfile;
  /** The processed table as written by this host. */
  readonly table: HostResourceTable;
  /** The rpmsg vdev used. */
  readonly vdev: HostVdev;
  /** The rpmsg bus (driver role). */
  readonly device: RpmsgDevice;
  /** The mapped memory. */
  readonly memory: MemoryMap;
  /** Features written to `gfeatures`. */
  readonly features: number;
  /** Services announced by the remote so far (name -> address). */
  services(): ReadonlyMap<string, number>;
  /**
   * Wait until the remote announced `name` (before or after this call) and
   * return a channel bound to it. TimeoutError when it never comes.
   */
  channel(name: string, options?: ChannelOptions): Promise<RpmsgChannel>;
  /**
   * Wait until the remote announced one of `names` and return the most
   * preferred one announced (earlier in the list wins). Once a less preferred
   * name is seen, a better one still has `graceMs` (default 300) to come: a
   * remote announces all its services at once. TimeoutError when none comes.
   */
  pickService(
    names: readonly string[],
    options?: ChannelOptions & { graceMs?: number },
  ): Promise<string>;
  /** Process pending bus work once; returns items handled. */
  poll(): number;
  /** Destroy the endpoints, reset the vdev (status 0), release the notifier and mappings. */
  close(): Promise<void>;
}

/**
 * Map the regions of a machine whose memory already exists: shm objects and
 * files are never created (a missing one fails with `OsError` ENOENT instead
 * of leaving a fresh empty object behind).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapRemoteMemory } from "./session.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * let code = "";
 * try {
 *   await mapRemoteMemory(simProfile({ prefix: `amp-doc-none-${Deno.pid}` }));
 * } catch (e) {
 *   code = (e as { code?: string }).code ?? "";
 * }
 * assert(code === "ENOENT");
 * ```
 */
export function mapRemoteMemory(profile: MachineProfile): Promise<MemoryMap> {
  return mapProfileRegions(profile, {
    mappers: {
      shm: (s, roots) =>
        DEFAULT_MAPPERS.shm({ ...s, backing: { ...s.backing, create: false } }, roots),
      file: (s, roots) =>
        DEFAULT_MAPPERS.file({ ...s, backing: { ...s.backing, create: false } }, roots),
    },
  });
}

function tableExtent(bytes: Uint8Array, name: string): Uint8Array {
  return bytes.slice(0, resourceTableExtent(parseResourceTable(bytes, { name })));
}

/**
 * Attach to the remote of `profile` as the virtio driver: reset the rpmsg
 * vdev of the table at `layout.rscTable.pa` (holding status 0 until the
 * remote acknowledges, when the firmware publishes its state), write the
 * host's table with the layout's vring addresses, initialise vrings and
 * buffers, write `gfeatures` and DRIVER_OK.
 *
 * On a machine notified over a socket (openamp-linux) the host connects
 * first, retrying for up to `timeoutMs` while nothing listens (the remote may
 * start after the host, as with upstream's driver), and only then maps the
 * shared memory and reads the table: the remote listens once its table is
 * published.
 *
 * The table in shared memory is written by the remote: it is parsed with
 * every check, bounded by `layout.rscTable.size`.
 *
 * Errors: `ResourceTableError` (bad table), `VirtioError` `HOST_NO_RPMSG_VDEV`,
 * `LoadError` from the vring placement, `TimeoutError` when the remote does not
 * acknowledge the reset or (socket machines) never listens, OS errors from
 * mapping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openHostSession } from "./session.ts";
 * import { sampleService } from "../apps/services.ts";
 * import { runSample } from "../apps/sample.ts";
 * import { simTestSetup } from "../sim/_testing.ts";
 * await using t = await simTestSetup({ services: [sampleService()] });
 * const s = await openHostSession(t.profile, { memory: t.memory });
 * const r = await runSample(await s.channel("rpmsg-client-sample"), { count: 3 });
 * assert(r.passed && s.features === 1);
 * await s.close();
 * ```
 */
export async function openHostSession(
  profile: MachineProfile,
  options: HostSessionOptions = {},
): Promise<HostSession> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const log = options.log ?? (() => {});
  const conv = options.conventions ?? remoteConventions(profile);
  const ownMap = options.memory === undefined;
  let notifier: Notifier | undefined = options.notifier;
  // On a socket-notified machine the remote listens only once its table is
  // published (and may not exist yet): connect first, retrying until the
  // timeout as upstream's driver does, and only then look at shared memory.
  if (notifier === undefined && profile.notify.kind === "socket") {
    notifier = await profileNotifier(profile, new MemoryMap(), "host", { retryMs: timeoutMs });
  }
  let memory: MemoryMap;
  try {
    // A host session never creates shared memory: the remote's owner did.
    memory = options.memory ?? await mapRemoteMemory(profile);
  } catch (e) {
    if (!options.notifier) notifier?.close();
    throw e;
  }
  let device: RpmsgDevice | undefined;
  let vdevAccess: SharedVdev | undefined;
  try {
    const layout = profile.layout;
    const rscRegion = memory.get(layout.rscTable.pa, layout.rscTable.size);
    const what = `the resource table at ${hex(layout.rscTable.pa)}`;
    const bytes = tableExtent(rscRegion.read(layout.rscTable.pa, layout.rscTable.size), what);
    const parsed = parseResourceTable(bytes, { name: what });
    const rpmsg = parsed.entries.find((e) => e.kind === "vdev" && e.id === VIRTIO_ID_RPMSG);
    if (!rpmsg || rpmsg.kind !== "vdev") {
      throw new VirtioError(
        "HOST_NO_RPMSG_VDEV",
        `The remote's resource table at ${
          hex(layout.rscTable.pa)
        } has no rpmsg vdev (id ${VIRTIO_ID_RPMSG}) among its ${parsed.entries.length} entries`,
      );
    }
    vdevAccess = new SharedVdev(rscRegion, layout.rscTable.pa + rpmsg.offset, {
      name: "rpmsg vdev",
    });

    // 1. Reset, and hold status 0 until the remote has left any earlier session.
    vdevAccess.reset();
    log(`vdev reset (status 0) at ${hex(vdevAccess.pa + 24)}`);
    const held = performance.now();
    const sw = conv.stateWord;
    if (sw && memory.find(sw.statePa, 4) && memory.find(sw.magicPa, 4)) {
      const words = memory.get(sw.statePa, 4);
      const magic = memory.get(sw.magicPa, 4);
      const ok = await backoffWait(
        () =>
          magic.atomicLoadU32(sw.magicPa) === sw.magic &&
          words.atomicLoadU32(sw.statePa) === REMOTE_STATE_WAITING,
        { deadlineMs: timeoutMs, signal: options.signal, spinUs: 0 },
      );
      if (!ok) {
        throw new TimeoutError(
          `waiting for the remote to acknowledge the vdev reset (state word at ${
            hex(sw.statePa)
          } is ${words.atomicLoadU32(sw.statePa)}, want ${REMOTE_STATE_WAITING})`,
          timeoutMs,
        );
      }
    }
    const left = conv.resetHoldMs - (performance.now() - held);
    if (left > 0) await sleep(left);

    // 2. The host's table: vring addresses from the layout, status 0.
    const table = prepareHostTable(
      { imageAddr: layout.rscTable.pa, bytes, table: parsed },
      profile,
      memory,
      "remote",
    );
    const vdev = table.vdevs.find((v) => v.offset === rpmsg.offset)!;
    if (vdev.vrings.length !== 2) {
      throw new VirtioError(
        "HOST_VRING_COUNT",
        `The remote's rpmsg vdev has ${vdev.vrings.length} vrings; rpmsg needs 2`,
      );
    }
    writeHostTable(table, memory);

    // 3. Vrings and buffers (zeroed, RX buffers posted), then features and DRIVER_OK.
    const [r0, r1] = [vdev.vrings[0]!, vdev.vrings[1]!];
    const lo = Math.min(r0.pa, r1.pa, layout.pool.pa);
    const hi = Math.max(r0.pa, r1.pa, layout.pool.pa + layout.pool.size);
    const region: MemoryRegion | undefined = memory.find(lo, hi - lo);
    if (!region) {
      throw new VirtioError(
        "HOST_SPLIT_REGIONS",
        `vrings at ${hex(r0.pa)}, ${hex(r1.pa)} and the buffer pool [${hex(layout.pool.pa)}, +${
          hex(layout.pool.size)
        }) are not inside one mapped region`,
      );
    }
    notifier ??= await profileNotifier(profile, memory, "host");
    const features = (vdev.dfeatures & HOST_FEATURES) >>> 0;
    const dev = createRpmsgDevice({
      role: "driver",
      region,
      notifier,
      vring0: { pa: r0.pa, num: r0.num, align: r0.align },
      vring1: { pa: r1.pa, num: r1.num, align: r1.align },
      pool: { base: layout.pool.pa, size: layout.pool.size },
      rxBufSize: layout.bufSize.rx,
      txBufSize: layout.bufSize.tx,
      features,
      notifyIds: [r0.notifyid, r1.notifyid],
      log,
    });
    device = dev;
    vdevAccess.writeGuestFeatures(features);
    vdevAccess.setDriverOk();
    log(
      `DRIVER_OK: vrings ${hex(r0.pa)}/${
        hex(r1.pa)
      } (${r0.num} entries), ${dev.rxBuffers}+${dev.txBuffers} buffers, features ${hex(features)}`,
    );

    const channels: RpmsgChannel[] = [];
    const sharedVdev = vdevAccess;
    const n = notifier;
    let closed = false;
    return {
      profile,
      table,
      vdev,
      device: dev,
      memory,
      features,
      services: () => dev.remoteServices,
      poll: () => dev.poll(),
      async pickService(
        names: readonly string[],
        o: ChannelOptions & { graceMs?: number } = {},
      ): Promise<string> {
        if (closed) throw new AmpError("STATE", `The host session is closed`);
        const wait = o.timeoutMs ?? timeoutMs;
        const grace = o.graceMs ?? 300;
        const best = () => names.find((n) => dev.remoteServices.has(n));
        let firstSeen = -1;
        const ok = await backoffWait(() => {
          dev.poll();
          const b = best();
          if (b === undefined) return false;
          if (b === names[0]) return true;
          if (firstSeen < 0) firstSeen = performance.now();
          return performance.now() - firstSeen >= grace;
        }, { deadlineMs: wait, signal: options.signal, spinUs: 0 });
        const b = best();
        if (!ok && b === undefined) {
          const known = [...dev.remoteServices.keys()];
          throw new TimeoutError(
            `waiting for the remote to announce ${
              names.map((n) => `"${n}"`).join(" or ")
            } (announced: ${known.length ? known.map((k) => `"${k}"`).join(", ") : "none"})`,
            wait,
          );
        }
        return b!;
      },
      async channel(name: string, o: ChannelOptions = {}): Promise<RpmsgChannel> {
        if (closed) throw new AmpError("STATE", `The host session is closed`);
        const wait = o.timeoutMs ?? timeoutMs;
        const ch = new RpmsgChannel(dev, name, options.signal);
        channels.push(ch);
        if (!ch.endpoint.ready) {
          const ok = await backoffWait(() => {
            if (!ch.endpoint.ready) dev.poll();
            return ch.endpoint.ready;
          }, { deadlineMs: wait, signal: options.signal, spinUs: 0 });
          if (!ok) {
            const known = [...dev.remoteServices.keys()];
            ch.close();
            throw new TimeoutError(
              `waiting for the remote to announce "${name}" (announced: ${
                known.length ? known.map((k) => `"${k}"`).join(", ") : "none"
              })`,
              wait,
            );
          }
        }
        log(`channel "${name}": local ${ch.endpoint.addr} -> remote ${ch.endpoint.dst}`);
        return ch;
      },
      async close(): Promise<void> {
        if (closed) return;
        closed = true;
        let first: unknown;
        const step = (f: () => void) => {
          try {
            f();
          } catch (e) {
            first ??= e;
          }
        };
        for (const ch of channels) step(() => ch.close());
        // Give the remote a moment to take the DESTROY messages before the reset.
        await backoffWait(() => dev.txFree === dev.txBuffers || (dev.poll(), false), {
          deadlineMs: 50,
          spinUs: 0,
        });
        step(() => dev.close());
        step(() => sharedVdev.reset());
        step(() => n.close());
        if (ownMap) step(() => memory.close());
        if (first !== undefined) throw first;
      },
    };
  } catch (e) {
    try {
      device?.close();
      vdevAccess?.reset();
    } catch { /* already failing */ }
    if (!options.notifier) notifier?.close();
    if (ownMap) memory.close();
    throw e;
  }
}
