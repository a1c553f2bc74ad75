/**
 * The device-role runtime: amp as the remote (virtio device) end of an rpmsg
 * link on any machine profile, the way an OpenAMP remote application runs.
 * It copies the firmware's resource table to the layout address, publishes
 * amp's readiness word (when the profile has one), waits for DRIVER_OK,
 * serves its services (echo, rpmsg-client-sample, matrix multiply), starts
 * over on every vdev reset, and answers the libmetal shared-memory demo.
 *
 * {@linkcode DeviceRuntime.restart} is an application start, as when a
 * command is typed at a remote's shell: the table is copied again, any
 * session in progress ends, and the remote waits for a new host.
 *
 * The simulated core (`lib/sim`) and `amp remote` (`openamp_linux.ts`) run it.
 *
 * @module
 */

import { ConfigError, VirtioError } from "../errors.ts";
import type { Service } from "../apps/services.ts";
import { SHM_CONTROL, SHM_DEMO_SIZE, ShmemResponder } from "../apps/shmem.ts";
import { profileNotifier } from "../link/notifier.ts";
import { prepareHostTable } from "../link/placement.ts";
import { READY_IDLE, READY_RUNNING, READY_WAITING, ReadyWord } from "../link/ready_word.ts";
import { DEFAULT_MAPPERS, mapProfileRegions } from "../machine/map.ts";
import type { MachineProfile } from "../machine/types.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { hex } from "../mem/region.ts";
import type { Notifier } from "../notify/types.ts";
import { RSC_HEADER_SIZE, VIRTIO_ID_RPMSG } from "../rsc/layout.ts";
import { parseResourceTable, resourceTableExtent } from "../rsc/table.ts";
import { createRpmsgDevice, type VringPlacement } from "../rpmsg/create.ts";
import type { RpmsgDevice, RpmsgEndpoint } from "../rpmsg/mod.ts";
import { serveRpmsgRemote } from "../rpmsg/device_sessions.ts";
import { sleep, yieldTurn } from "../util/wait.ts";
import { vringLayout } from "../virtio/virtqueue.ts";
import { SharedVdev } from "../virtio/vdev.ts";

/** Options for {@linkcode startDevice}. */
export interface DeviceOptions {
  /** The machine (its regions must already exist unless the device creates them). */
  profile: MachineProfile;
  /** Address of the firmware's resource table (its section address in the image). */
  rscAddr: number;
  /** Bytes of the table section (default: found by parsing, at most `layout.rscTable.size`). */
  rscSize?: number;
  /** The services to run, one endpoint each, announced under `service.name`. */
  services: Service[];
  /** Use this memory instead of mapping the profile (the caller keeps ownership). */
  memory?: MemoryMap;
  /** Use this notifier instead of the profile's (closed with the device). */
  notifier?: Notifier;
  /** amp's readiness word address (default: the profile's `demos.readyWord`; `null`: none). */
  readyWord?: number | null;
  /** The shared-memory demo block (default: the profile's `demos.shmemPa`; `null`: none). */
  shmemPa?: number | null;
  /**
   * Copy the table and wait for a host at once (default true). With false the
   * device stays idle until {@linkcode DeviceRuntime.restart}, like a remote
   * whose applications start on command.
   */
  autoStart?: boolean;
  /**
   * How long after a message the bus's waits keep looking at the rings
   * before they block, ms (default 5; see `RpmsgDeviceOptions.activeWindowMs`).
   * 0 blocks at once: every message that finds the device waiting then
   * needs the host's kick.
   */
  activeWindowMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** A host session started (DRIVER_OK seen) or ended (vdev reset), with its number. */
  onSession?: (event: "start" | "end", session: number) => void;
}

/** A running device-role runtime. */
export interface DeviceRuntime {
  /** Host sessions seen so far. */
  readonly sessions: number;
  /** Shared-memory demo messages copied back. */
  readonly shmemCopied: number;
  /** The device-role rpmsg bus. */
  readonly device: RpmsgDevice;
  /** The machine's memory as the device maps it. */
  readonly memory: MemoryMap;
  /** Resolves when the device stopped (after {@linkcode DeviceRuntime.stop} or a fatal error). */
  readonly done: Promise<void>;
  /**
   * Start over as a freshly started application: copy the table again (a
   * session in progress ends), re-arm the services and wait for a host.
   */
  restart(): void;
  /** Clear the shared-memory demo's control word, as libmetal's demo does when it starts. */
  restartShmem(): void;
  /** Stop serving, withdraw the readiness word and release everything. */
  stop(): Promise<void>;
}

/**
 * Read the firmware's table from the image, which is host-written memory:
 * parsed with every check. Returns the table's bytes, the rpmsg vdev's offset and where its two
 * vrings are: the table's own `num` and `align`, at the table's `da` or, for
 * `ANY`, at the address the host assigns (the same placement the host
 * computes, {@linkcode prepareHostTable}).
 */
function readImageTable(
  profile: MachineProfile,
  memory: MemoryMap,
  rscAddr: number,
  rscSize: number | undefined,
): {
  bytes: Uint8Array;
  vdevOffset: number;
  dfeatures: number;
  vrings: [VringPlacement, VringPlacement];
} {
  const limit = profile.layout.rscTable.size;
  let region = memory.find(rscAddr, RSC_HEADER_SIZE);
  if (!region) {
    throw new ConfigError(
      "SIM_RSC_UNMAPPED",
      `Cannot serve the remote: the firmware's resource table address ${
        hex(rscAddr)
      } is not in any mapped region`,
    );
  }
  const avail = Math.min(limit, region.end - rscAddr);
  const size = rscSize ?? avail;
  if (!Number.isSafeInteger(size) || size < RSC_HEADER_SIZE || size > avail) {
    throw new ConfigError(
      "SIM_RSC_SIZE",
      `Cannot serve the remote: the resource table size ${size} at ${
        hex(rscAddr)
      } is not in ${RSC_HEADER_SIZE}..${avail}`,
    );
  }
  region = memory.get(rscAddr, size);
  const raw = region.read(rscAddr, size);
  const name = `the image's resource table at ${hex(rscAddr)}`;
  const t = parseResourceTable(raw, { name });
  const bytes = rscSize === undefined ? raw.slice(0, resourceTableExtent(t)) : raw;
  const vdev = t.entries.find((e) => e.kind === "vdev" && e.id === VIRTIO_ID_RPMSG);
  if (!vdev) {
    throw new VirtioError(
      "SIM_NO_RPMSG_VDEV",
      `Cannot serve the remote: ${name} has no rpmsg vdev`,
    );
  }
  const placed = prepareHostTable({ imageAddr: rscAddr, bytes, table: t }, profile, memory, "sim")
    .vdevs.find((v) => v.offset === vdev.offset)!;
  const [v0, v1] = placed.vrings;
  if (placed.vrings.length !== 2 || !v0 || !v1) {
    throw new VirtioError(
      "SIM_VRING_COUNT",
      `Cannot serve the remote: the rpmsg vdev of ${name} has ${placed.vrings.length} vrings; rpmsg needs 2`,
    );
  }
  const at = (v: VringPlacement): VringPlacement => ({ pa: v.pa, num: v.num, align: v.align });
  return { bytes, vdevOffset: vdev.offset, dfeatures: placed.dfeatures, vrings: [at(v0), at(v1)] };
}

/**
 * Start the device-role runtime on `options.profile` and return at once; it
 * serves until {@linkcode DeviceRuntime.stop}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startDevice } from "./runtime.ts";
 * import { echoService } from "../apps/services.ts";
 * import { simTestSetup } from "../sim/_testing.ts";
 * await using t = await simTestSetup({ services: [], start: false });
 * const dev = await startDevice({ profile: t.profile, memory: t.memory,
 *   rscAddr: t.rscAddr, services: [echoService()] });
 * assert(dev.sessions === 0);
 * await dev.stop();
 * ```
 */
export async function startDevice(options: DeviceOptions): Promise<DeviceRuntime> {
  const { profile } = options;
  const log = options.log ?? (() => {});
  const ownMap = options.memory === undefined;
  const memory = options.memory ?? await mapProfileRegions(profile, {
    mappers: {
      shm: (s, roots) =>
        DEFAULT_MAPPERS.shm({ ...s, backing: { ...s.backing, create: false } }, roots),
    },
  });
  const ac = new AbortController();
  let notifier: Notifier | undefined = options.notifier;
  const cleanup: (() => void)[] = [];
  try {
    const layout = profile.layout;
    const word = options.readyWord === null
      ? undefined
      : ReadyWord.find(memory, options.readyWord ?? profile.demos?.readyWord);
    word?.publish(READY_IDLE);
    const image = readImageTable(profile, memory, options.rscAddr, options.rscSize);
    const { vdevOffset, dfeatures, vrings: [v0, v1] } = image;
    const tableRegion = memory.get(layout.rscTable.pa, image.bytes.length);
    const copyTable = () => tableRegion.write(layout.rscTable.pa, image.bytes);
    const region = memory.get(layout.rscTable.pa, layout.rscTable.size);
    notifier ??= await profileNotifier(profile, memory, "remote");
    const end = (v: VringPlacement) => v.pa + vringLayout(v.num, v.align, v.pa).size;
    const lo = Math.min(v0.pa, v1.pa, layout.pool.pa);
    const hi = Math.max(end(v0), end(v1), layout.pool.pa + layout.pool.size);
    const device = createRpmsgDevice({
      role: "device",
      region: memory.get(lo, hi - lo),
      notifier,
      vring0: v0,
      vring1: v1,
      pool: { base: layout.pool.pa, size: layout.pool.size },
      log,
      activeWindowMs: options.activeWindowMs,
    });
    const n = notifier;
    cleanup.push(() => device.close(), () => n.close());

    // Replies wait here when no vring0 buffer is free.
    const pending: { ep: RpmsgEndpoint; dst: number; data: Uint8Array }[] = [];
    const flush = (): number => {
      let k = 0;
      while (pending.length > 0) {
        const p = pending[0]!;
        if (!p.ep.destroyed && !device.trySend(p.ep, p.data, p.dst)) break;
        pending.shift();
        k++;
      }
      return k;
    };
    const endpoints = new Map<Service, RpmsgEndpoint>();
    const open = (svc: Service) => {
      endpoints.set(
        svc,
        device.createEndpoint({
          name: svc.name,
          onMessage: (data, src, ep) => {
            // An echo goes straight from the receive buffer into a send
            // buffer when nothing waits before it (no allocation); otherwise
            // it is copied out and queued behind the others.
            if (svc.echoes?.(data)) {
              if (pending.length === 0 && device.trySend(ep, data, src)) return;
              pending.push({ ep, dst: src, data: data.slice() });
              flush();
              return;
            }
            for (const r of svc.handle(data)) pending.push({ ep, dst: src, data: r });
            flush();
            if (svc.stopped) {
              log(`device: "${svc.name}" got the shutdown message; endpoint destroyed until reset`);
              ep.destroy();
            }
          },
        }),
      );
    };
    for (const svc of options.services) open(svc);

    let sessions = 0;
    let responder: ShmemResponder | undefined;
    const shmemPa = options.shmemPa === null
      ? undefined
      : options.shmemPa ?? profile.demos?.shmemPa;
    if (shmemPa !== undefined) {
      const r = memory.find(shmemPa, SHM_DEMO_SIZE);
      if (r) responder = new ShmemResponder(r, shmemPa);
    }

    // One application run: the table copied, then sessions until restart() or stop().
    let run = new AbortController();
    let started = options.autoStart ?? true;
    let wakeStart: (() => void) | undefined;
    const begin = () => {
      copyTable();
      word?.publish(READY_WAITING);
      log(
        `device: table published at ${hex(layout.rscTable.pa)}; waiting for DRIVER_OK (services: ${
          options.services.map((s) => s.name).join(", ")
        })`,
      );
    };
    if (started) begin();

    // Between host sessions, look at the status byte with a growing sleep
    // (an idle device costs next to nothing); then serve one session.
    const serve = (async () => {
      while (!ac.signal.aborted) {
        if (!started) {
          await new Promise<void>((r) => {
            wakeStart = r;
            ac.signal.addEventListener("abort", () => r(), { once: true });
          });
          wakeStart = undefined;
          continue;
        }
        const signal = AbortSignal.any([ac.signal, run.signal]);
        const vdev = new SharedVdev(region, layout.rscTable.pa + vdevOffset, {
          name: "device vdev",
        });
        const ok = await idleUntil(() => vdev.driverOk(), signal, STATUS_POLL);
        if (!ok) continue;
        await serveRpmsgRemote(device, vdev, {
          signal,
          maxSessions: 1,
          deviceFeatures: dfeatures,
          onSessionStart: (_s, features) => {
            sessions++;
            pending.length = 0;
            for (const svc of options.services) {
              svc.reset();
              if (endpoints.get(svc)?.destroyed) open(svc);
            }
            word?.publish(READY_RUNNING);
            log(`device: host session ${sessions} started (features ${hex(features)})`);
            options.onSession?.("start", sessions);
          },
          onSessionEnd: () => {
            pending.length = 0;
            options.onSession?.("end", sessions);
            // Fresh for the next host, as a restarted application would be:
            // whatever the session (or a hostile party) left in the table goes.
            copyTable();
            word?.publish(READY_WAITING);
            log(`device: host session ${sessions} ended (vdev reset); table published again`);
          },
          onError: (e) => log(`device: vring broken, waiting for a vdev reset: ${e.message}`),
          run: {
            onPoll: flush,
            until: () => pending.length > 0 && device.vrings[0].hasAvail(),
          },
        });
      }
    })();
    // A serve loop that fails ends the whole device (its owner hears of it), not just itself.
    serve.catch((e) => {
      log(`device: stopped by an error: ${(e as Error).message}`);
      ac.abort();
    });
    const shmem = responder ? shmemLoop(responder, ac.signal) : Promise.resolve();
    let stopped = false;
    const done = Promise.allSettled([serve, shmem]).then((rs) => {
      ac.abort();
      for (const f of cleanup.reverse()) {
        try {
          f();
        } catch { /* best effort */ }
      }
      word?.withdraw();
      if (ownMap) memory.close();
      const failed = rs.find((r) => r.status === "rejected");
      if (failed && !stopped) throw (failed as PromiseRejectedResult).reason;
    });
    return {
      get sessions() {
        return sessions;
      },
      get shmemCopied() {
        return responder?.copied ?? 0;
      },
      device,
      memory,
      done,
      restart() {
        if (ac.signal.aborted) return;
        run.abort();
        run = new AbortController();
        pending.length = 0;
        started = true;
        begin();
        wakeStart?.();
      },
      restartShmem() {
        if (shmemPa === undefined) return;
        memory.get(shmemPa, 4).atomicStoreU32(shmemPa + SHM_CONTROL, 0);
      },
      async stop() {
        stopped = true;
        ac.abort();
        await done;
      },
    };
  } catch (e) {
    for (const f of cleanup.reverse()) {
      try {
        f();
      } catch { /* already failing */ }
    }
    if (!options.notifier) notifier?.close();
    if (ownMap) memory.close();
    throw e;
  }
}

/**
 * Sleep steps (ms) of an idle wait: `[n1, ms1, n2, ms2, ms3]` is `ms1` for
 * the first `n1` checks, `ms2` up to check `n2`, then `ms3`.
 */
type IdlePolicy = readonly [number, number, number, number, number];

/**
 * The status byte between host sessions: 1 ms steps for ~200 ms, 2 ms up to
 * ~1 s, then 5 ms, so a host that starts a session is seen within a few ms.
 */
const STATUS_POLL: IdlePolicy = [200, 1, 600, 2, 5];
/** The shared-memory demo's block: 1 ms for ~50 ms, 5 ms up to ~1 s, then 20 ms. */
const SHMEM_POLL: IdlePolicy = [50, 1, 240, 5, 20];

/** Wait until `check()` holds, sleeping by `policy`. False when aborted. */
async function idleUntil(
  check: () => boolean,
  signal: AbortSignal,
  policy: IdlePolicy,
): Promise<boolean> {
  const [n1, ms1, n2, ms2, ms3] = policy;
  let idle = 0;
  while (!signal.aborted) {
    if (check()) return true;
    idle++;
    await sleep(idle < n1 ? ms1 : idle < n2 ? ms2 : ms3);
  }
  return false;
}

/** Poll the shared-memory demo block: busy while messages come, sleeping when idle. */
async function shmemLoop(r: ShmemResponder, signal: AbortSignal): Promise<void> {
  let busy = 0;
  while (!signal.aborted) {
    if (r.poll()) {
      if ((++busy & 63) === 0) await yieldTurn();
      continue;
    }
    if (!(await idleUntil(() => r.pending(), signal, SHMEM_POLL))) return;
  }
}
