/**
 * amp's remote services as a vhost-user rpmsg device (virtio id 7): the glue
 * between the vhost-user back-end (rings handed over by a front-end such as
 * UML's `virtio_uml`) and amp's device-role virtqueues and rpmsg bus.
 *
 * Per front-end session (every queue ready): both vrings are built over the
 * guest memory at the addresses the front-end gave (vring0 = queue 0,
 * device -> driver; vring1 = queue 1), the whole guest memory is the buffer
 * range descriptors may point into (the driver allocates buffers anywhere),
 * each service gets an endpoint announced through the name service once the
 * driver kicked queue 0 (its "online" signal), and the bus runs until the
 * session stops. A broken ring drops the front-end.
 *
 * A service that stops (echo's shutdown message) is destroyed and announced
 * again, so a remote serving a long-running kernel answers every later run.
 *
 * Kept thin on purpose: the virtqueue/rpmsg classes are about to become
 * role-typed, and only this file needs to follow.
 *
 * @module
 */

import { VirtioError } from "../errors.ts";
import type { Service } from "../apps/services.ts";
import { createRpmsgDevice } from "../rpmsg/create.ts";
import type { RpmsgDevice, RpmsgEndpoint } from "../rpmsg/mod.ts";
import { VIRTIO_RPMSG_F_NS } from "../rsc/layout.ts";
import { VhostUserServer } from "./backend.ts";
import type { VhostDevice, VhostServerOptions, VhostSession } from "./types.ts";

/** How long a session waits for the driver's first kick on queue 0 before announcing anyway, ms. */
export const DRIVER_READY_GRACE_MS = 2000;

/** Options of {@linkcode serveVhostUserRpmsg}. */
export interface VhostRpmsgOptions extends VhostServerOptions {
  /** The services, one endpoint each. */
  services: Service[];
}

/** The rpmsg device served to each front-end; its live bus while a session runs. */
export interface VhostRpmsgDevice extends VhostDevice {
  /** The bus of the running session, or null between sessions. */
  readonly bus: RpmsgDevice | null;
  /** Sessions started so far. */
  readonly sessions: number;
}

/**
 * A {@linkcode VhostDevice} running `services` over rpmsg.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rpmsgVhostDevice } from "./rpmsg_backend.ts";
 * import { echoService } from "../apps/services.ts";
 * const dev = rpmsgVhostDevice([echoService()]);
 * assert(dev.numQueues === 2 && dev.deviceFeatures === 1n && dev.bus === null);
 * ```
 */
export function rpmsgVhostDevice(
  services: readonly Service[],
  log: (line: string) => void = () => {},
): VhostRpmsgDevice {
  let bus: RpmsgDevice | null = null;
  let ac: AbortController | null = null;
  let running: Promise<void> = Promise.resolve();
  let sessions = 0;
  return {
    deviceFeatures: BigInt(VIRTIO_RPMSG_F_NS),
    numQueues: 2,
    get bus() {
      return bus;
    },
    get sessions() {
      return sessions;
    },
    start(session: VhostSession): void {
      const [q0, q1] = session.queues;
      if (!q0 || !q1) throw new VirtioError("VQ_BAD_ARG", "rpmsg needs two queues");
      const features = Number(session.features & BigInt(VIRTIO_RPMSG_F_NS));
      const mem = session.memory;
      const dev = createRpmsgDevice({
        role: "device",
        region: mem,
        notifier: session.notifier,
        vring0: { pa: q0.desc, num: q0.num, align: q0.align },
        vring1: { pa: q1.desc, num: q1.num, align: q1.align },
        pool: { base: mem.base, size: mem.size },
        features,
        log,
      });
      // Replies wait here while no vring0 buffer is free.
      const pending: { ep: RpmsgEndpoint; dst: number; data: Uint8Array }[] = [];
      const flush = (): number => {
        let k = 0;
        while (pending.length > 0) {
          const p = pending[0]!;
          if (!p.ep.destroyed && !dev.trySend(p.ep, p.data, p.dst)) break;
          pending.shift();
          k++;
        }
        return k;
      };
      const restart: Service[] = [];
      const open = (svc: Service) =>
        dev.createEndpoint({
          name: svc.name,
          onMessage: (data, src, ep) => {
            for (const r of svc.handle(data)) pending.push({ ep, dst: src, data: r });
            flush();
            if (svc.stopped) {
              log(`vhost rpmsg: "${svc.name}" got the shutdown message; announcing it anew`);
              ep.destroy();
              restart.push(svc);
            }
          },
        });
      for (const svc of services) {
        svc.reset();
        open(svc);
      }
      bus = dev;
      sessions++;
      const abort = new AbortController();
      ac = abort;
      const notifier = session.notifier;
      running = (async () => {
        try {
          // The rings are the driver's until it is ready: Linux posts its RX
          // buffers, registers its name-service endpoint, sets DRIVER_OK and
          // only then kicks queue 0 ("rpmsg host is online"). Announcing on
          // the first posted buffer races that registration and the kernel
          // drops the announcements ("msg received with no recipient").
          // vhost-user shows no status byte, so that kick is the signal; a
          // driver that never kicks gets the announcements after a grace time.
          const end = performance.now() + DRIVER_READY_GRACE_MS;
          while (notifier.kicksOn(0) === 0 && !abort.signal.aborted) {
            const left = end - performance.now();
            if (left <= 0) break;
            await notifier.wait({
              deadlineMs: Math.min(left, 100),
              signal: abort.signal,
              until: () => notifier.kicksOn(0) > 0,
            });
          }
          if (abort.signal.aborted) return;
          dev.reset({ features });
          await dev.run({
            signal: abort.signal,
            onPoll: () => {
              for (const svc of restart.splice(0)) {
                svc.reset();
                open(svc);
              }
              return flush();
            },
            until: () => (pending.length > 0 && dev.vrings[0].hasAvail()) || restart.length > 0,
          });
        } catch (e) {
          if (!(e instanceof VirtioError)) throw e;
          const q = dev.vrings[0].broken ? 0 : dev.vrings[1].broken ? 1 : undefined;
          session.fail(`rpmsg vring broken: ${e.message}`, q);
        }
      })();
    },
    async stop(): Promise<void> {
      ac?.abort();
      ac = null;
      try {
        await running;
      } finally {
        // No close(): that would announce DESTROY into rings the front-end just took back.
        bus = null;
      }
    },
  };
}

/**
 * Listen on `socketPath` as a vhost-user rpmsg device and serve `services`
 * to every front-end in turn.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveVhostUserRpmsg } from "./rpmsg_backend.ts";
 * import { echoService } from "../apps/services.ts";
 * const path = `${Deno.makeTempDirSync()}/rpmsg.sock`;
 * const { server } = serveVhostUserRpmsg(path, { services: [echoService()] });
 * assert(Deno.statSync(path).isSocket);
 * await server.close();
 * ```
 */
export function serveVhostUserRpmsg(
  socketPath: string,
  options: VhostRpmsgOptions,
): { server: VhostUserServer; device: VhostRpmsgDevice } {
  const device = rpmsgVhostDevice(options.services, options.log);
  const server = VhostUserServer.listen(socketPath, device, options);
  return { server, device };
}
