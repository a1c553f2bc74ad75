/**
 * Child process for mmap_test.ts: maps an existing POSIX shm object, waits for
 * the parent's "PING" word at offset 0, then answers through the same memory.
 *
 * Usage: deno run --allow-all shm_peer.ts <shm-name> <size>
 * Exit codes: 0 done, 2 bad arguments, 3 timed out waiting for the parent.
 *
 * @module
 */

import { mapShm } from "../shm.ts";

/** Word the parent writes at offset 0. */
export const PING = 0x474e_4950;
/** Word this process writes at offset 4. */
export const PONG = 0xcafe_babe;
/** Text this process writes at offset 0x100. */
export const GREETING = "hello from the child";

if (import.meta.main) {
  const [name, sizeText] = Deno.args;
  const size = Number(sizeText);
  if (name === undefined || !Number.isSafeInteger(size) || size < 0x200) Deno.exit(2);
  const shm = mapShm(name, size, { create: false });
  const deadline = Date.now() + 20_000;
  let spins = 0;
  while (shm.atomicLoadU32(0) !== PING) {
    if (Date.now() > deadline) Deno.exit(3);
    if (++spins > 1000) await new Promise((r) => setTimeout(r, 1));
  }
  shm.write(0x100, new TextEncoder().encode(GREETING));
  shm.setU32(4, PONG);
  shm.atomicStoreU32(8, 1);
  shm.close();
}
