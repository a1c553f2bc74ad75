/**
 * What a vhost-user front-end has said about each queue so far (size, ring
 * addresses, kick/call/error descriptors, enabled), the checks on each
 * `SET_VRING_*` value, and when every queue is ready to serve.
 *
 * @module
 */

import { closeFd } from "../sys/posix.ts";
import { type GuestRegion, placeQueue } from "./memory.ts";
import { requestName, VhostError, type VhostRequest } from "./protocol.ts";
import type { VhostQueue } from "./types.ts";

/** Largest virtio split queue. */
export const MAX_QUEUE_NUM = 32768;

/** One queue's state as the front-end set it. */
export interface QueueState {
  /** Entries (SET_VRING_NUM). */
  num?: number;
  /** Ring addresses in the front-end's user space (SET_VRING_ADDR). */
  addr?: { desc: bigint; used: bigint; avail: bigint };
  /** Kick descriptor; undefined: not set; null: poll mode (no descriptor). */
  kick?: number | null;
  /** Call descriptor, as `kick`. */
  call?: number | null;
  /** Error descriptor, as `kick`. */
  err?: number | null;
  /** SET_VRING_ENABLE (or, without protocol features, a kick descriptor came). */
  enabled: boolean;
  /** Last avail index reported by GET_VRING_BASE. */
  base: number;
}

/** A queue nothing was said about yet. */
export function newQueueState(): QueueState {
  return { enabled: false, base: 0 };
}

/** Queue `req.index` of `queues`; `VHOST_BAD_INDEX` when the device has no such queue. */
export function queueAt(
  queues: readonly QueueState[],
  req: { index: number; request: number },
): QueueState {
  const q = queues[req.index];
  if (!q) {
    throw new VhostError(
      "VHOST_BAD_INDEX",
      `${
        requestName(req.request)
      }: queue ${req.index} does not exist (the device has ${queues.length})`,
    );
  }
  return q;
}

/**
 * Check the value of a `SET_VRING_NUM`, `SET_VRING_BASE`, `SET_VRING_ADDR` or
 * `SET_VRING_ENABLE` request (`VHOST_BAD_FIELD`); other requests pass.
 */
export function checkVringRequest(req: VhostRequest): void {
  switch (req.type) {
    case "SET_VRING_NUM":
      if (req.num < 1 || req.num > MAX_QUEUE_NUM || (req.num & (req.num - 1)) !== 0) {
        throw new VhostError(
          "VHOST_BAD_FIELD",
          `SET_VRING_NUM: queue ${req.index} size ${req.num} is not a power of two in 1..${MAX_QUEUE_NUM}`,
        );
      }
      break;
    case "SET_VRING_BASE":
      if (req.num !== 0) {
        throw new VhostError(
          "VHOST_BAD_FIELD",
          `SET_VRING_BASE: queue ${req.index} base ${req.num}: amp's queues start at avail index 0 only`,
        );
      }
      break;
    case "SET_VRING_ADDR":
      if ((req.addrFlags & 1) !== 0) {
        throw new VhostError(
          "VHOST_BAD_FIELD",
          `SET_VRING_ADDR: queue ${req.index} asks for used-ring logging, which was not offered`,
        );
      }
      break;
    case "SET_VRING_ENABLE":
      if (req.num > 1) {
        throw new VhostError(
          "VHOST_BAD_FIELD",
          `SET_VRING_ENABLE: queue ${req.index} state ${req.num} is neither 0 nor 1`,
        );
      }
      break;
  }
}

/** Close a queue's kick, call and error descriptors and forget them. */
export function closeQueueFds(q: QueueState): void {
  for (const k of ["kick", "call", "err"] as const) {
    const fd = q[k];
    if (typeof fd === "number") closeFd(fd);
    q[k] = undefined;
  }
}

/** The kick descriptors to wait on, with their queue index. */
export function kickFds(queues: readonly QueueState[]): { i: number; fd: number }[] {
  return queues.flatMap((q, i) => typeof q.kick === "number" ? [{ i, fd: q.kick }] : []);
}

/**
 * Every queue placed in guest memory once each has a size, ring addresses, a
 * kick setting and is enabled; null while one is missing something.
 *
 * @throws {VhostError} `VHOST_ADDR_OUTSIDE`, `VHOST_RING_LAYOUT` (see {@linkcode placeQueue}).
 */
export function readyQueues(
  queues: readonly QueueState[],
  table: readonly GuestRegion[],
): VhostQueue[] | null {
  for (const q of queues) {
    if (q.num === undefined || !q.addr || q.kick === undefined || !q.enabled) return null;
  }
  return queues.map((q, index) => placeQueue(table, index, q.num!, q.addr!));
}
