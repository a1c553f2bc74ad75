/**
 * The boot stub the host writes at the start of guest RAM
 * (examples/firmware/rv64-virt/stub.S) and the per-hart mailboxes it parks on.
 *
 * QEMU's `virt` reset ROM (with `-bios none`) jumps every hart to the start of
 * RAM with `a0` = hart id. The stub increments its hart's `boots` counter,
 * writes `state = PARKED` and sleeps in a timed WFI (about 1 ms) between
 * looks at `go`. When the host has written `entry`, `arg`, the loaded range
 * and then `go = GO`, the stub clears `go`, re-writes every word of the loaded
 * range from inside the guest (so QEMU drops translated code of a previous
 * image), writes `state = RUNNING`, executes `fence.i` and jumps to `entry`
 * with `a0` = hart id and `a1` = `arg`.
 *
 * @module
 */

import { STUB_IMAGE_BASE64 } from "./_stub_image.ts";

/** Guest physical address of mailbox 0. */
export const MAILBOX_BASE = 0x8000_1000;
/** Bytes per mailbox; hart h's is at `MAILBOX_BASE + h * MAILBOX_SIZE`. */
export const MAILBOX_SIZE = 64;
/** Harts that have a mailbox (others sleep forever). */
export const MAILBOX_HARTS = 8;
/** Offsets of the mailbox fields. */
export const MB_ENTRY = 0x00,
  MB_ARG = 0x08,
  MB_LOAD_START = 0x10,
  MB_LOAD_LEN = 0x18,
  MB_GO = 0x20,
  MB_STATE = 0x24,
  MB_BOOTS = 0x28,
  MB_HARTID = 0x2c;
/** `go` value that releases the hart ("GOGO"). */
export const GO_MAGIC = 0x474f_474f;
/** `state` while the stub waits ("PARK"). */
export const STATE_PARKED = 0x4b52_4150;
/** `state` once the stub has jumped to the entry ("RUN "). */
export const STATE_RUNNING = 0x204e_5552;

/**
 * The address of hart `hart`'s mailbox.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mailboxAddress } from "./boot_stub.ts";
 * assert(mailboxAddress(1) === 0x8000_1040);
 * ```
 */
export function mailboxAddress(hart: number): number {
  return MAILBOX_BASE + hart * MAILBOX_SIZE;
}

/**
 * The boot stub binary (a fresh copy), to be written at guest RAM offset 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bootStubImage } from "./boot_stub.ts";
 * const stub = bootStubImage();
 * assert(stub.length > 0 && stub.length <= 0x1000);
 * ```
 */
export function bootStubImage(): Uint8Array {
  const bin = atob(STUB_IMAGE_BASE64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
