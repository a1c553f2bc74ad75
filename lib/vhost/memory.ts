/**
 * The guest memory a vhost-user front-end shares (`SET_MEM_TABLE`): each
 * region is a file descriptor to map at `mmap_offset`, covering guest
 * physical `[guest_addr, +size)`, which the front-end itself sees at
 * `user_addr`. Descriptor addresses in the rings are guest-physical; ring
 * addresses (`SET_VRING_ADDR`) are the front-end's user addresses. Every
 * address is translated through the table with bounds checks before use,
 * and a queue's three rings are placed from their user addresses
 * ({@linkcode placeQueue}).
 *
 * amp's virtqueues work on one {@linkcode MemoryRegion}, so one region is
 * served fully and a table of several is refused (UML sends one unless it
 * has highmem).
 *
 * @module
 */

import { hex, type MemoryRegion } from "../mem/region.ts";
import { mapFile } from "../mem/mmap.ts";
import { vringLayout } from "../virtio/virtqueue.ts";
import { type MemRegionDesc, VhostError } from "./protocol.ts";
import type { VhostQueue } from "./types.ts";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** One checked region of the table, with exact integer fields. */
export interface GuestRegion {
  /** Guest physical address of the first byte. */
  guestAddr: number;
  /** Bytes (> 0). */
  size: number;
  /** The front-end's own (user) address of the first byte. */
  userAddr: number;
  /** Offset of the first byte in the region's file. */
  mmapOffset: number;
}

function exact(v: bigint, size: bigint, what: string, i: number): number {
  // start + size must not pass 2^53 - 1: every address inside stays exact in a JS number.
  if (v > MAX_SAFE || size > MAX_SAFE - v) {
    throw new VhostError(
      "VHOST_REGION_WRAP",
      `Memory region ${i}: ${what} [0x${v.toString(16)}, +0x${
        size.toString(16)
      }) does not fit below 2^53`,
    );
  }
  return Number(v);
}

/**
 * Check a memory table: every size non-zero, no range (guest, user, file)
 * wrapping or leaving exact integers, no two regions overlapping in guest
 * or in user address space.
 *
 * @throws {VhostError} `VHOST_REGION_EMPTY`, `VHOST_REGION_WRAP`, `VHOST_REGION_OVERLAP`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkMemTable } from "./memory.ts";
 * const [r] = checkMemTable([{ guestAddr: 0x1000n, size: 0x2000n, userAddr: 0x1000n, mmapOffset: 0n }]);
 * assert.equal(r!.size, 0x2000);
 * assert.throws(() =>
 *   checkMemTable([
 *     { guestAddr: 0n, size: 0x2000n, userAddr: 0n, mmapOffset: 0n },
 *     { guestAddr: 0x1000n, size: 0x1000n, userAddr: 0x10000n, mmapOffset: 0n },
 *   ]), /overlap/);
 * ```
 */
export function checkMemTable(regions: readonly MemRegionDesc[]): GuestRegion[] {
  const out: GuestRegion[] = regions.map((r, i) => {
    if (r.size === 0n) {
      throw new VhostError("VHOST_REGION_EMPTY", `Memory region ${i} has size 0`);
    }
    return {
      guestAddr: exact(r.guestAddr, r.size, "guest range", i),
      size: Number(r.size),
      userAddr: exact(r.userAddr, r.size, "user range", i),
      mmapOffset: exact(r.mmapOffset, r.size, "file range", i),
    };
  });
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const a = out[i]!, b = out[j]!;
      for (const k of ["guestAddr", "userAddr"] as const) {
        if (a[k] < b[k] + b.size && b[k] < a[k] + a.size) {
          throw new VhostError(
            "VHOST_REGION_OVERLAP",
            `Memory regions ${i} and ${j} overlap in ${
              k === "guestAddr" ? "guest" : "user"
            } space: [${hex(a[k])}, +${hex(a.size)}) and [${hex(b[k])}, +${hex(b.size)})`,
          );
        }
      }
    }
  }
  return out;
}

/**
 * Translate the front-end's user address `ua` of an object of `len` bytes
 * to a guest physical address; the object must lie inside one region.
 *
 * @throws {VhostError} `VHOST_ADDR_OUTSIDE` naming what was translated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { userToGuest } from "./memory.ts";
 * const table = [{ guestAddr: 0x100000, size: 0x10000, userAddr: 0x7f0000000000, mmapOffset: 0 }];
 * assert.equal(userToGuest(table, 0x7f0000001000n, 16, "ring"), 0x101000);
 * assert.throws(() => userToGuest(table, 0x7f000000fff0n, 32, "ring"), /outside/);
 * ```
 */
export function userToGuest(
  table: readonly GuestRegion[],
  ua: bigint,
  len: number,
  what: string,
): number {
  for (const r of table) {
    const start = BigInt(r.userAddr);
    if (
      ua >= start && ua - start <= BigInt(r.size) && BigInt(len) <= BigInt(r.size) - (ua - start)
    ) {
      return r.guestAddr + Number(ua - start);
    }
  }
  throw new VhostError(
    "VHOST_ADDR_OUTSIDE",
    `${what} at user address 0x${ua.toString(16)} (+${len} bytes) is outside the memory table (${
      table.map((r) => `[${hex(r.userAddr)}, +${hex(r.size)})`).join(", ") || "empty"
    })`,
  );
}

/**
 * Map the single region of a checked table from its descriptor (through
 * `/proc/self/fd`, so the mapping holds its own reference and the passed
 * descriptor can be closed). The region's addresses are guest-physical.
 *
 * @throws {VhostError} `VHOST_MULTIPLE_REGIONS` for a table of more than one
 *   region; errors of `mapFile` (the file too small for the range, mmap
 *   failures) as they are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapGuestMemory } from "./memory.ts";
 * const r = (guestAddr: number) => ({ guestAddr, size: 0x1000, userAddr: guestAddr, mmapOffset: 0 });
 * assert.throws(() => mapGuestMemory([r(0), r(0x1000)], [3, 4]), /exactly one/);
 * ```
 */
export function mapGuestMemory(
  table: readonly GuestRegion[],
  fds: readonly number[],
): MemoryRegion {
  if (table.length !== 1 || fds.length !== 1) {
    throw new VhostError(
      "VHOST_MULTIPLE_REGIONS",
      `The memory table has ${table.length} regions; amp's virtqueues serve exactly one (boot UML without highmem, e.g. mem=256M)`,
    );
  }
  const r = table[0]!;
  return mapFile(`/proc/self/fd/${fds[0]}`, {
    base: r.guestAddr,
    size: r.size,
    offset: r.mmapOffset,
    name: `guest memory [${hex(r.guestAddr)}, +${hex(r.size)})`,
  });
}

/**
 * Where queue `index` is, in guest-physical addresses: the three ring parts
 * translated through the table, and checked to form the contiguous split
 * layout amp's virtqueues use (avail right after the descriptors, used at
 * the next multiple of some power-of-two alignment).
 *
 * @throws {VhostError} `VHOST_ADDR_OUTSIDE`, `VHOST_RING_LAYOUT`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { placeQueue } from "./memory.ts";
 * const table = [{ guestAddr: 0x10_0000, size: 0x1_0000, userAddr: 0x7f00_0000_0000, mmapOffset: 0 }];
 * const u = 0x7f00_0000_0000n;
 * const q = placeQueue(table, 0, 256, { desc: u + 0x4000n, avail: u + 0x5000n, used: u + 0x6000n });
 * assert.equal(q.desc, 0x10_4000);
 * assert.equal(q.align, 4096);
 * assert.throws(() => placeQueue(table, 0, 256, { desc: u, avail: u + 0x1008n, used: u + 0x2000n }));
 * ```
 */
export function placeQueue(
  table: readonly GuestRegion[],
  index: number,
  num: number,
  addr: { desc: bigint; used: bigint; avail: bigint },
): VhostQueue {
  const desc = userToGuest(table, addr.desc, 16 * num, `queue ${index} descriptor table`);
  const avail = userToGuest(table, addr.avail, 6 + 2 * num, `queue ${index} avail ring`);
  const used = userToGuest(table, addr.used, 6 + 8 * num, `queue ${index} used ring`);
  if (avail === desc + 16 * num && used > avail) {
    for (let align = 4; align <= 0x10000; align *= 2) {
      if (vringLayout(num, align, desc).used === used - desc) {
        return { index, num, desc, avail, used, align };
      }
    }
  }
  throw new VhostError(
    "VHOST_RING_LAYOUT",
    `Queue ${index}: rings at desc ${hex(desc)}, avail ${hex(avail)}, used ${
      hex(used)
    } (num ${num}) are not one contiguous split ring (avail must follow the descriptors, used the avail ring at a power-of-two alignment)`,
  );
}
