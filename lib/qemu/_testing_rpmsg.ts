/**
 * Test and bench helper: attach the project's rpmsg driver (lib/rpmsg) to the
 * demo firmware running under a {@linkcode Remoteproc} on a `qemu-rv64`
 * machine, following the rv64-virt handshake (machines.md section 1): once a
 * demo command was typed (see `typeDemoCommand` in `_testing.ts`), wait until
 * the firmware published its table and waits for the host, write the host's
 * table over it, initialise the rings, accept the features, write DRIVER_OK.
 *
 * @module
 */

import { AmpError, TimeoutError } from "../errors.ts";
import type { MemoryRegion } from "../mem/region.ts";
import { ShmWordNotifier } from "../notify/shm_word.ts";
import type { Remoteproc } from "../remoteproc/remoteproc.ts";
import { createRpmsgDevice } from "../rpmsg/create.ts";
import type { RpmsgDevice } from "../rpmsg/device.ts";
import { vringLayout } from "../virtio/virtqueue.ts";
import { SharedVdev } from "../virtio/vdev.ts";
import { VIRTIO_RPMSG_F_NS } from "../rsc/layout.ts";
import {
  DIAG_BASE,
  DIAG_LEN,
  DIAG_MAGIC,
  DIAG_MAGIC_VALUE,
  DIAG_STATE,
  FW_WAIT_HOST,
} from "./_testing.ts";
import { waitUntil } from "../util/wait.ts";

/** Firmware diagnostics block (examples/firmware/rv64-virt/README.md). */
export const DIAG_BLOCK = DIAG_BASE, DIAG_BLOCK_LEN = DIAG_LEN;

/** A driver attached to the firmware. */
export interface AttachedHost {
  /** The rpmsg bus (driver role). */
  dev: RpmsgDevice;
  /** The vdev entry of the live table. */
  vdev: SharedVdev;
  /** The firmware's diagnostics block (PING/PONG and its state words). */
  notifyRegion: MemoryRegion;
  /** Close the bus and the notifier. */
  close(): void;
}

/** Clear the firmware's diagnostics words (do it before every start). */
export async function clearDiag(rp: Remoteproc): Promise<void> {
  (await rp.memory()).get(DIAG_BLOCK, DIAG_BLOCK_LEN).fill(DIAG_BLOCK, DIAG_BLOCK_LEN, 0);
}

/**
 * Attach once the firmware waits for the host: after {@linkcode Remoteproc.start}
 * (diagnostics cleared before it) and a demo command typed at its shell.
 */
export async function attachHost(rp: Remoteproc, timeoutMs = 5000): Promise<AttachedHost> {
  const map = await rp.memory();
  const rsc = rp.resourceTable;
  const v = rsc?.vdevs[0];
  const [v0, v1] = v?.vrings ?? [];
  if (!rsc || !v || !v0 || !v1) {
    throw new AmpError(
      "QEMU_TEST_NO_VDEV",
      "The loaded firmware has no rpmsg vdev with two vrings",
    );
  }
  const diag = map.get(DIAG_BLOCK, DIAG_BLOCK_LEN);
  const up = await waitUntil(
    () => diag.u32(DIAG_MAGIC) === DIAG_MAGIC_VALUE && diag.u32(DIAG_STATE) === FW_WAIT_HOST,
    { deadlineMs: timeoutMs },
  );
  if (!up) throw new TimeoutError("waiting for the firmware to publish its table", timeoutMs);
  await rp.writeResourceTable(); // the host's copy wins
  const p = rp.profile;
  const shm = map.get(rsc.pa, rsc.bytes.length);
  for (const r of [v0, v1]) shm.fill(r.pa, vringLayout(r.num, r.align, r.pa).size, 0);
  if (p.notify.kind !== "poll-word") {
    throw new AmpError(
      "QEMU_TEST_NOTIFY",
      `Machine "${p.name}" notifies by ${p.notify.kind}, not by a polled word`,
    );
  }
  const notifyRegion = map.get(p.notify.pa, 4);
  const notifier = new ShmWordNotifier(notifyRegion, {
    notifyPa: p.notify.pa,
    mode: p.notify.mode,
    ...(p.notify.watchPa === undefined ? {} : { watchPa: p.notify.watchPa }),
  });
  const vdev = new SharedVdev(shm, rsc.pa + v.offset);
  const features = vdev.deviceFeatures() & VIRTIO_RPMSG_F_NS;
  const dev = createRpmsgDevice({
    role: "driver",
    region: shm,
    notifier,
    features,
    notifyIds: [v0.notifyid, v1.notifyid],
    vring0: { pa: v0.pa, num: v0.num, align: v0.align },
    vring1: { pa: v1.pa, num: v1.num, align: v1.align },
    pool: { base: p.layout.pool.pa, size: p.layout.pool.size },
    rxBufSize: p.layout.bufSize.rx,
    txBufSize: p.layout.bufSize.tx,
  });
  vdev.writeGuestFeatures(features);
  vdev.setDriverOk();
  return {
    dev,
    vdev,
    notifyRegion: diag,
    close() {
      dev.close();
      notifier.close();
    },
  };
}
