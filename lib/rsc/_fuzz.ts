/**
 * Mutators for fuzzing resource table parsers (internal: used by
 * `fuzz_test.ts` and `tests/fuzz.ts`).
 *
 * @module
 */

import { mulberry32, randInt, type Rng } from "../util/random.ts";

export type { Rng };

/**
 * A small seeded PRNG (mulberry32) so failing cases can be replayed by seed:
 * the ELF fuzz helpers' generator under this folder's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededRng } from "./_fuzz.ts";
 * const a = seededRng(42), b = seededRng(42);
 * assert(a() === b() && a() < 1);
 * ```
 */
export const seededRng: (seed: number) => Rng = mulberry32;

/** u32 values at the edges of the checks (sizes, counts, types, powers of two). */
function boundaryU32(len: number): number[] {
  return [
    0,
    1,
    2,
    3,
    4,
    7,
    127,
    128,
    129,
    255,
    256,
    511,
    512,
    513,
    0x1000,
    0x1001,
    0x8000,
    0x8001,
    0x1_0000,
    0x3fff_ffff,
    0x4000_0000,
    0x4000_0001,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffc,
    0xffff_fffe,
    0xffff_ffff,
    len,
    len - 1,
    len - 4,
    len + 4,
    len >>> 2,
  ].map((v) => v >>> 0);
}

const BOUNDARY_U8 = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff];

/**
 * Return a mutated copy of a table: 1 to 4 of bit flips, truncations,
 * extensions, and boundary values written into a u32 field (any 4-byte
 * aligned word) or a byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mutateTable, seededRng } from "./_fuzz.ts";
 * const src = new Uint8Array(64);
 * const out = mutateTable(src, seededRng(1));
 * assert(out !== src && src.every((b) => b === 0));
 * ```
 */
export function mutateTable(bytes: Uint8Array, rng: Rng): Uint8Array {
  let b = bytes.slice();
  const rounds = 1 + randInt(rng, 4);
  for (let r = 0; r < rounds; r++) {
    const op = randInt(rng, 10);
    if (op < 3 && b.length > 0) {
      b[randInt(rng, b.length)]! ^= 1 << randInt(rng, 8);
    } else if (op === 3) {
      b = b.slice(0, randInt(rng, b.length + 1));
    } else if (op === 4) {
      const extra = new Uint8Array(1 + randInt(rng, 64));
      for (let i = 0; i < extra.length; i++) extra[i] = randInt(rng, 256);
      const grown = new Uint8Array(b.length + extra.length);
      grown.set(b);
      grown.set(extra, b.length);
      b = grown;
    } else if (op < 9 && b.length >= 4) {
      const values = boundaryU32(b.length);
      const at = 4 * randInt(rng, b.length >>> 2);
      new DataView(b.buffer).setUint32(at, values[randInt(rng, values.length)]!, true);
    } else if (b.length > 0) {
      b[randInt(rng, b.length)] = BOUNDARY_U8[randInt(rng, BOUNDARY_U8.length)]!;
    }
  }
  return b;
}
