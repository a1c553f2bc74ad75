/**
 * The simulated remote core: what the `sim` machine runs instead of firmware.
 *
 * It does NOT execute the firmware's code. It behaves like the rv64-virt demo
 * firmware as seen from the host (examples/firmware/rv64-virt/README.md):
 * copies the firmware's resource table from the loaded image to the layout's
 * table address, publishes its state word, waits for DRIVER_OK, serves amp's
 * device-role services over the shared memory (echo, rpmsg-client-sample,
 * matrix multiply), re-initialises and re-announces on every vdev reset, and
 * answers the libmetal shared-memory demo at the firmware's block address.
 *
 * @module
 */

import { ConfigError, VirtioError } from "../errors.ts";
import type { Service } from "../apps/services.ts";
import { SHM_DEMO_SIZE, ShmemResponder } from "../apps/shmem.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { hex } from "../mem/region.ts";
import { DEFAULT_MAPPERS, mapProfileRegions } from "../machine/map.ts";
import { type MachineProfile, vringBytes } from "../machine/profile.ts";
import type { Notifier } from "../notify/types.ts";
import { yieldTurn } from "../notify/_backoff.ts";
import { RSC_HEADER_SIZE, VIRTIO_ID_RPMSG } from "../rsc/layout.ts";
import { parseResourceTable, resourceTableExtent } from "../rsc/table.ts";
import { createRpmsgDevice, type VringPlacement } from "../rpmsg/create.ts";
import type { RpmsgDevice, RpmsgEndpoint } from "../rpmsg/mod.ts";
import { serveRpmsgRemote } from "../rpmsg/remote.ts";
import { SharedVdev } from "../virtio/vdev.ts";
import {
  REMOTE_STATE_BOOT,
  REMOTE_STATE_RUNNING,
  REMOTE_STATE_WAITING,
  type RemoteConventions,
  remoteConventions,
} from "../host/conventions.ts";
import { profileNotifier } from "../host/notifier.ts";
import { prepareHostTable } from "../remoteproc/host_table.ts";
import { sleep } from "../util/poll.ts";

/** Options for {@linkcode startSimRemote}. */
export interface SimRemoteOptions {
  /** The machine (its regions must already exist: the host created them). */
  profile: MachineProfile;
  /** Address of the firmware's resource table in the loaded image (its section address). */
  rscAddr: number;
  /** Bytes of the table section (default: found by parsing, at most `layout.rscTable.size`). */
  rscSize?: number;
  /** The services to run, one endpoint each, announced under `service.name`. */
  services: Service[];
  /** Use this memory instead of mapping the profile (the caller keeps ownership). */
  memory?: MemoryMap;
  /** Use this notifier instead of the profile's (closed with the remote). */
  notifier?: Notifier;
  /** Firmware facts (default: {@linkcode remoteConventions}). */
  conventions?: RemoteConventions;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** A running simulated remote. */
export interface SimRemote {
  /** Host sessions seen so far. */
  readonly sessions: number;
  /** Shared-memory demo messages copied back. */
  readonly shmemCopied: number;
  /** The device-role rpmsg bus. */
  readonly device: RpmsgDevice;
  /** Resolves when the remote stopped (after {@linkcode SimRemote.stop} or a fatal error). */
  readonly done: Promise<void>;
  /** Stop serving, publish state 0 and release everything. */
  stop(): Promise<void>;
}

/**
 * Copy the firmware's table from the image to the layout address, as the
 * firmware does at boot. The image is host-written memory: parsed with every
 * check. Returns the table's bytes, the rpmsg vdev's offset and where its two
 * vrings are: the table's own `num` and `align`, at the table's `da` or, for
 * `ANY`, at the address the host assigns (the same placement the host
 * computes, {@linkcode prepareHostTable}).
 */
function publishTable(
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
      `sim: the firmware's resource table address ${hex(rscAddr)} is not in any mapped region`,
    );
  }
  const avail = Math.min(limit, region.end - rscAddr);
  const size = rscSize ?? avail;
  if (!Number.isSafeInteger(size) || size < RSC_HEADER_SIZE || size > avail) {
    throw new ConfigError(
      "SIM_RSC_SIZE",
      `sim: resource table size ${size} at ${hex(rscAddr)} is not in ${RSC_HEADER_SIZE}..${avail}`,
    );
  }
  region = memory.get(rscAddr, size);
  const raw = region.read(rscAddr, size);
  const name = `the image's resource table at ${hex(rscAddr)}`;
  const t = parseResourceTable(raw, { name });
  const bytes = rscSize === undefined ? raw.slice(0, resourceTableExtent(t)) : raw;
  const vdev = t.entries.find((e) => e.kind === "vdev" && e.id === VIRTIO_ID_RPMSG);
  if (!vdev) {
    throw new VirtioError("SIM_NO_RPMSG_VDEV", `sim: ${name} has no rpmsg vdev`);
  }
  const placed = prepareHostTable({ imageAddr: rscAddr, bytes, table: t }, profile, memory, "sim")
    .vdevs.find((v) => v.offset === vdev.offset)!;
  const [v0, v1] = placed.vrings;
  if (placed.vrings.length !== 2 || !v0 || !v1) {
    throw new VirtioError(
      "SIM_VRING_COUNT",
      `sim: the rpmsg vdev of ${name} has ${placed.vrings.length} vrings; rpmsg needs 2`,
    );
  }
  memory.get(profile.layout.rscTable.pa, bytes.length).write(profile.layout.rscTable.pa, bytes);
  const at = (v: VringPlacement): VringPlacement => ({ pa: v.pa, num: v.num, align: v.align });
  return { bytes, vdevOffset: vdev.offset, dfeatures: placed.dfeatures, vrings: [at(v0), at(v1)] };
}

/**
 * Start the simulated remote on `options.profile` and return at once; it
 * serves until {@linkcode SimRemote.stop}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startSimRemote } from "./remote.ts";
 * import { echoService } from "../apps/services.ts";
 * import { simTestSetup } from "./_testing.ts";
 * await using t = await simTestSetup({ services: [], start: false });
 * const sim = await startSimRemote({ profile: t.profile, memory: t.memory,
 *   rscAddr: t.rscAddr, services: [echoService()] });
 * assert(sim.sessions === 0);
 * await sim.stop();
 * ```
 */
export async function startSimRemote(options: SimRemoteOptions): Promise<SimRemote> {
  const { profile } = options;
  const log = options.log ?? (() => {});
  const conv = options.conventions ?? remoteConventions(profile);
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
    const sw = conv.stateWord && memory.find(conv.stateWord.statePa, 4) &&
        memory.find(conv.stateWord.magicPa, 4)
      ? conv.stateWord
      : undefined;
    const setState = (s: number) => {
      if (sw) memory.get(sw.statePa, 4).atomicStoreU32(sw.statePa, s);
    };
    setState(REMOTE_STATE_BOOT);
    const { vdevOffset, dfeatures, vrings: [v0, v1] } = publishTable(
      profile,
      memory,
      options.rscAddr,
      options.rscSize,
    );
    const region = memory.get(layout.rscTable.pa, layout.rscTable.size);
    const vdev = new SharedVdev(region, layout.rscTable.pa + vdevOffset, { name: "sim vdev" });
    notifier ??= await profileNotifier(profile, memory, "remote");
    const end = (v: VringPlacement) => v.pa + vringBytes(v.num, v.align, v.pa);
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
            for (const r of svc.handle(data)) pending.push({ ep, dst: src, data: r });
            flush();
            if (svc.stopped) {
              log(`sim: "${svc.name}" got the shutdown message; endpoint destroyed until reset`);
              ep.destroy();
            }
          },
        }),
      );
    };
    for (const svc of options.services) open(svc);

    let sessions = 0;
    let responder: ShmemResponder | undefined;
    if (conv.shmemDemoPa !== undefined) {
      const r = memory.find(conv.shmemDemoPa, SHM_DEMO_SIZE);
      if (r) responder = new ShmemResponder(r, conv.shmemDemoPa);
    }
    if (sw) {
      memory.get(sw.magicPa, 4).atomicStoreU32(sw.magicPa, sw.magic);
    }
    setState(REMOTE_STATE_WAITING);
    log(
      `sim: table published at ${hex(layout.rscTable.pa)}; waiting for DRIVER_OK (services: ${
        options.services.map((s) => s.name).join(", ")
      })`,
    );

    // Between host sessions, look at the status byte with a growing sleep
    // (an idle simulated core costs next to nothing); then serve one session.
    const serve = (async () => {
      while (!ac.signal.aborted) {
        const ok = await idleUntil(() => vdev.driverOk(), ac.signal);
        if (!ok) break;
        await serveRpmsgRemote(device, vdev, {
          signal: ac.signal,
          maxSessions: 1,
          deviceFeatures: dfeatures,
          onSessionStart: (_s, features) => {
            sessions++;
            pending.length = 0;
            for (const svc of options.services) {
              svc.reset();
              if (endpoints.get(svc)?.destroyed) open(svc);
            }
            setState(REMOTE_STATE_RUNNING);
            log(`sim: host session ${sessions} started (features ${hex(features)})`);
          },
          onSessionEnd: () => {
            pending.length = 0;
            setState(REMOTE_STATE_WAITING);
            log(`sim: host session ${sessions} ended (vdev reset)`);
          },
          onError: (e) => log(`sim: vring broken, waiting for a vdev reset: ${e.message}`),
          run: {
            onPoll: flush,
            until: () => pending.length > 0 && device.vrings[0].hasAvail(),
          },
        });
      }
    })();
    const shmem = responder ? shmemLoop(responder, ac.signal) : Promise.resolve();
    let stopped = false;
    const done = Promise.allSettled([serve, shmem]).then((rs) => {
      ac.abort();
      for (const f of cleanup.reverse()) {
        try {
          f();
        } catch { /* best effort */ }
      }
      setState(REMOTE_STATE_BOOT);
      if (sw) memory.get(sw.magicPa, 4).atomicStoreU32(sw.magicPa, 0);
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
      done,
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
 * Wait until `check()` holds: 1 ms steps for the first ~50 ms, then 5 ms up to
 * ~1 s, then 20 ms (the firmware's idle policy, coarser). False when aborted.
 */
async function idleUntil(check: () => boolean, signal: AbortSignal): Promise<boolean> {
  let idle = 0;
  while (!signal.aborted) {
    if (check()) return true;
    idle++;
    await sleep(idle < 50 ? 1 : idle < 240 ? 5 : 20);
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
    if (!(await idleUntil(() => r.pending(), signal))) return;
  }
}
