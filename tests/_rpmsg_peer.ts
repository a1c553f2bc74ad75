/**
 * The remote (virtio device) end of the cross-process rpmsg tests and
 * benchmarks, run as its own Deno process over a POSIX shm object laid out as
 * upstream's Linux machine port does (machines.md section 2), plus helpers for
 * the host (driver) end.
 *
 * Run: `deno run -A tests/_rpmsg_peer.ts --shm NAME --notify shm|socket
 *   [--sock PATH] [--mode echo|sink|rawpp] [--spin-us N] [--timeout-ms N]`.
 * It writes the resource table, prints `ready`, serves host sessions, and
 * exits 0 after a shutdown message (first u32 0xEF56A55A). A sink answers
 * 0xEF56A55B with its counters.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { mapShm } from "../lib/mem/shm.ts";
import type { MemoryRegion } from "../lib/mem/region.ts";
import { ShmWordNotifier } from "../lib/notify/shm_word.ts";
import { UnixSocketNotifier } from "../lib/notify/unix_socket.ts";
import type { Notifier } from "../lib/notify/types.ts";
import { waitUntil } from "../lib/util/wait.ts";
import { createRpmsgDevice } from "../lib/rpmsg/create.ts";
import type { RpmsgDevice, RpmsgRxHandle } from "../lib/rpmsg/mod.ts";
import { serveRpmsgRemote } from "../lib/rpmsg/device_sessions.ts";
import { RSC_VDEV, VIRTIO_ID_RPMSG, VIRTIO_RPMSG_F_NS } from "../lib/rsc/layout.ts";
import { SharedVdev } from "../lib/virtio/vdev.ts";

/** Shared memory size and layout (openamp-linux). */
export const SHM_SIZE = 0x80000;
export const VDEV_PA = 0x14;
export const LAYOUT = {
  vring0: { pa: 0x4000, num: 256, align: 0x1000 },
  vring1: { pa: 0x8000, num: 256, align: 0x1000 },
  pool: { base: 0x10000, size: 0x40000 },
};
/** amp-to-amp polled notify words (counter mode), outside the table. */
export const WORD_TO_DEVICE = 0x1000, WORD_TO_DRIVER = 0x1004;
/** First u32 of a message that stops the peer. */
export const SHUTDOWN = 0xef56a55a;
/** First u32 of a message that asks a sink peer for its counters (reply {count, errors, bytes}). */
export const SYNC = 0xef56a55b;
/** The service the peer announces. */
export const SERVICE = "rpmsg-openamp-demo-channel";
/** This file, for spawning. */
export const PEER_URL = new URL(import.meta.url).pathname;

/** Write the remote's resource table (one rpmsg vdev, two vrings) at offset 0. */
export function writeResourceTable(shm: MemoryRegion): void {
  shm.fill(0, 0x100, 0);
  shm.setU32(0, 1); // ver
  shm.setU32(4, 1); // num
  shm.setU32(16, VDEV_PA); // offset[0]
  const v = VDEV_PA;
  shm.setU32(v, RSC_VDEV);
  shm.setU32(v + 4, VIRTIO_ID_RPMSG);
  shm.setU32(v + 8, 0); // notifyid
  shm.setU32(v + 12, VIRTIO_RPMSG_F_NS); // dfeatures
  shm.setU32(v + 16, 0); // gfeatures
  shm.setU32(v + 20, 0); // config_len
  shm.setU8(v + 24, 0); // status
  shm.setU8(v + 25, 2); // num_of_vrings
  for (const [i, r] of [LAYOUT.vring0, LAYOUT.vring1].entries()) {
    const d = v + 28 + 20 * i;
    shm.setU32(d, r.pa);
    shm.setU32(d + 4, r.align);
    shm.setU32(d + 8, r.num);
    shm.setU32(d + 12, i + 1);
    shm.setU32(d + 16, 0);
  }
}

/** The host end: a driver-role bus on the peer's shm, DRIVER_OK written. */
export interface HostEnd {
  shm: MemoryRegion;
  vdev: SharedVdev;
  host: RpmsgDevice;
  notifier: Notifier;
  close(): void;
}

/** Map the shm, check the table, start the host (driver) and set DRIVER_OK. */
export async function startHost(
  name: string,
  notify: "shm" | "socket",
  sockPath: string,
  spinUs = 50,
): Promise<HostEnd> {
  const shm = mapShm(name, SHM_SIZE, { create: false });
  const vdev = new SharedVdev(shm, VDEV_PA, { name: "vdev0" });
  if (vdev.id !== VIRTIO_ID_RPMSG) throw new Error(`vdev id ${vdev.id} is not rpmsg`);
  const rings = vdev.vrings();
  if (rings[0]?.da !== LAYOUT.vring0.pa || rings[1]?.da !== LAYOUT.vring1.pa) {
    throw new Error("unexpected vring addresses in the peer's table");
  }
  vdev.reset();
  const notifier: Notifier = notify === "shm"
    ? new ShmWordNotifier(shm, { notifyPa: WORD_TO_DEVICE, watchPa: WORD_TO_DRIVER, spinUs })
    : await UnixSocketNotifier.connect(sockPath, { retryMs: 60_000 });
  const host = createRpmsgDevice({
    role: "driver",
    region: shm,
    notifier,
    notifyIds: [1, 2],
    ...LAYOUT,
  });
  vdev.writeGuestFeatures(vdev.deviceFeatures() & VIRTIO_RPMSG_F_NS);
  vdev.setDriverOk();
  return {
    shm,
    vdev,
    host,
    notifier,
    close() {
      host.close();
      notifier.close();
      shm.close();
    },
  };
}

/** A spawned peer process. */
export interface PeerProcess {
  child: Deno.ChildProcess;
  /** Everything the peer printed after `ready`. */
  output(): string;
  /** Wait for the exit; returns the code. */
  status(): Promise<number>;
}

/** Spawn the peer and wait until it printed `ready` (its table is written). */
export async function spawnPeer(args: string[], readyMs = 60_000): Promise<PeerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", PEER_URL, ...args],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  const dec = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => child.kill(), readyMs);
  try {
    while (!text.includes("ready\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`peer exited before it was ready: ${text}`);
      text += dec.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
  }
  text = text.slice(text.indexOf("ready\n") + 6);
  const drained = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += dec.decode(value, { stream: true });
    }
  })();
  return {
    child,
    output: () => text,
    async status() {
      const s = await child.status;
      await drained;
      return s.code;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      shm: { type: "string" },
      notify: { type: "string", default: "shm" },
      sock: { type: "string", default: "/tmp/openamp.event.0" },
      mode: { type: "string", default: "echo" },
      "spin-us": { type: "string", default: "50" },
      "timeout-ms": { type: "string", default: "120000" },
    },
  });
  if (!values.shm) throw new Error("--shm NAME is required");
  const watchdog = setTimeout(() => {
    console.error("peer: watchdog expired");
    Deno.exit(3);
  }, Number(values["timeout-ms"]));
  Deno.unrefTimer(watchdog);
  const spinUs = Number(values["spin-us"]);
  const shm = mapShm(values.shm, SHM_SIZE, { create: true });
  writeResourceTable(shm);

  if (values.mode === "rawpp") {
    // The limit of any polled notification: bounce a u32 back as fast as possible.
    shm.atomicStoreU32(WORD_TO_DRIVER, 0);
    shm.atomicStoreU32(WORD_TO_DEVICE, 0);
    console.log("ready");
    let seen = 0;
    for (;;) {
      let v = seen;
      await waitUntil(() => (v = shm.atomicLoadU32(WORD_TO_DEVICE)) !== seen, {
        deadlineMs: 1000,
        spinUs,
      });
      if (v === seen) continue;
      seen = v;
      shm.atomicStoreU32(WORD_TO_DRIVER, v);
      if (v === 0xffff_ffff) break;
    }
    shm.close();
    return;
  }

  const notifier: Notifier = values.notify === "socket"
    ? UnixSocketNotifier.listen(values.sock)
    : new ShmWordNotifier(shm, { notifyPa: WORD_TO_DRIVER, watchPa: WORD_TO_DEVICE, spinUs });
  const dev = createRpmsgDevice({
    role: "device",
    region: shm,
    notifier,
    notifyIds: [1, 2],
    log: (m) => console.error(`peer: ${m}`),
    ...LAYOUT,
  });
  const ac = new AbortController();
  // Replies that found no free buffer wait here, holding their RX buffer (back-pressure).
  const queue: { data: Uint8Array; hold: RpmsgRxHandle }[] = [];
  let count = 0, bytes = 0, errors = 0, next = 0;
  const ep = dev.createEndpoint({
    name: SERVICE,
    onMessage: (d, _src, ep) => {
      // The sequence number (first u32, little-endian) read byte by byte: nothing allocated per message.
      const seq = d.length >= 4 ? (d[0]! | d[1]! << 8 | d[2]! << 16 | d[3]! << 24) >>> 0 : -1;
      if (seq === SHUTDOWN || (seq === SYNC && values.mode === "sink")) {
        const r = new Uint8Array(12);
        const dv = new DataView(r.buffer);
        dv.setUint32(0, count, true);
        dv.setUint32(4, errors, true);
        dv.setUint32(8, bytes >>> 0, true);
        if (values.mode === "sink") ep.trySend(r);
        if (seq === SHUTDOWN) ac.abort();
        return;
      }
      count++;
      bytes += d.length;
      if (values.mode === "sink") {
        if (seq !== next) errors++;
        next = seq + 1;
        return;
      }
      if (queue.length === 0 && ep.trySend(d)) return;
      queue.push({ data: d, hold: dev.holdRx() });
    },
  });
  const flush = (): number => {
    let n = 0;
    while (queue.length > 0 && ep.trySend(queue[0]!.data)) {
      dev.releaseRx(queue.shift()!.hold);
      n++;
    }
    return n;
  };
  console.log("ready");
  await serveRpmsgRemote(dev, new SharedVdev(shm, VDEV_PA), {
    signal: ac.signal,
    run: { onPoll: flush, until: () => queue.length > 0 && dev.vrings[0].hasAvail() },
  });
  console.log(JSON.stringify({ count, bytes, errors, stats: { drops: [...dev.stats.drops] } }));
  dev.close();
  notifier.close();
  shm.close();
}

if (import.meta.main) {
  await main();
}
