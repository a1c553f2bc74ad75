/**
 * Mutation helpers for fuzzing the ELF reader. Pure functions of their inputs
 * and a seeded PRNG: the same seed gives the same mutations. Every mutator
 * returns a fresh array and leaves its input untouched. There is no runner
 * here; `fuzz_test.ts` and the fuzz CLI drive these.
 *
 * @module
 */

import {
  type ClassLayout,
  EI_CLASS,
  EI_NIDENT,
  type Field,
  LAYOUT32,
  LAYOUT64,
  readField,
  writeField,
} from "./_layout.ts";
import { randInt, type Rng } from "../util/random.ts";

/** A mutator: derives a new byte array from `bytes` using `rng`. */
export type Mutator = (bytes: Uint8Array, rng: Rng) => Uint8Array;

function pick<T>(rng: Rng, items: readonly T[]): T {
  const v = items[randInt(rng, items.length)];
  if (v === undefined) throw new RangeError("pick from an empty list");
  return v;
}

/** A header field located in a concrete file: absolute byte offset and width. */
export interface FieldSite {
  readonly at: number;
  readonly size: 1 | 2 | 4 | 8;
  /** e.g. `"ph[1].p_offset"`. */
  readonly label: string;
}

/**
 * Locates every ELF header, program header and section header field of
 * `bytes`, reading the table positions leniently (nothing is validated; sites
 * that would fall outside `bytes` are dropped). Returns `[]` for a file with
 * an unknown class.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { fieldSites } from "./_fuzz.ts";
 * const sites = fieldSites(buildElf({ class: 32, segments: [{ paddr: 0, data: new Uint8Array(4) }] }));
 * assert(sites.some((s) => s.label === "ph[0].p_filesz" && s.at === 52 + 16));
 * ```
 */
export function fieldSites(bytes: Uint8Array): FieldSite[] {
  if (bytes.length < EI_NIDENT) return [];
  const cls = bytes[EI_CLASS];
  const L: ClassLayout | undefined = cls === 1 ? LAYOUT32 : cls === 2 ? LAYOUT64 : undefined;
  if (L === undefined || bytes.length < L.ehsize) return [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sites: FieldSite[] = [];
  const add = (base: number, fields: Readonly<Record<string, Field>>, prefix: string) => {
    for (const [name, f] of Object.entries(fields)) {
      if (base + f.off + f.size <= bytes.length) {
        sites.push({ at: base + f.off, size: f.size, label: prefix + name });
      }
    }
  };
  add(0, L.eh as unknown as Record<string, Field>, "");
  const num = (f: Field): number => Number(readField(dv, 0, f));
  const table = (off: number, count: number, entsize: number, fields: object, tag: string) => {
    for (let i = 0; i < count && off + i * entsize < bytes.length; i++) {
      add(off + i * entsize, fields as Record<string, Field>, `${tag}[${i}].`);
    }
  };
  table(num(L.eh.e_phoff), num(L.eh.e_phnum), L.phentsize, L.ph, "ph");
  table(num(L.eh.e_shoff), num(L.eh.e_shnum), L.shentsize, L.sh, "sh");
  return sites;
}

/**
 * Flips 1 to 8 random bits anywhere in the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flipBits } from "./_fuzz.ts";
 * import { mulberry32 } from "../util/random.ts";
 * const src = new Uint8Array(64);
 * const out = flipBits(src, mulberry32(3));
 * assert(out.some((b) => b !== 0) && src.every((b) => b === 0));
 * ```
 */
export function flipBits(bytes: Uint8Array, rng: Rng): Uint8Array {
  const out = bytes.slice();
  if (out.length === 0) return out;
  const n = 1 + randInt(rng, 8);
  for (let i = 0; i < n; i++) {
    const at = randInt(rng, out.length);
    out[at] = (out[at] ?? 0) ^ (1 << randInt(rng, 8));
  }
  return out;
}

/**
 * Cuts the file at a random length (biased towards header-sized lengths).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { truncate } from "./_fuzz.ts";
 * import { mulberry32 } from "../util/random.ts";
 * const out = truncate(new Uint8Array(100), mulberry32(5));
 * assert(out.length < 100);
 * ```
 */
export function truncate(bytes: Uint8Array, rng: Rng): Uint8Array {
  const small = [0, 1, 4, 15, 16, 51, 52, 63, 64].filter((n) => n < bytes.length);
  const len = rng() < 0.3 && small.length > 0 ? pick(rng, small) : randInt(rng, bytes.length);
  return bytes.slice(0, len);
}

function boundaries(size: 1 | 2 | 4 | 8): bigint[] {
  const max = (1n << BigInt(size * 8)) - 1n;
  const out = [0n, 1n, max, max - 1n, max >> 1n, (max >> 1n) + 1n];
  if (size === 8) {
    const safe = BigInt(Number.MAX_SAFE_INTEGER);
    out.push(safe, safe + 1n, safe - 1n, 1n << 32n, (1n << 32n) - 1n);
  }
  return out;
}

/**
 * Writes a boundary value (0, 1, max, max-1, the sign-bit edges, and for
 * 64-bit fields 2^53-1, 2^53 and 2^32 edges) into a random header field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { boundaryValue } from "./_fuzz.ts";
 * import { mulberry32 } from "../util/random.ts";
 * const src = buildElf({ class: 64, segments: [{ paddr: 0, data: new Uint8Array(4) }] });
 * const out = boundaryValue(src, mulberry32(9));
 * assert(out.length === src.length);
 * ```
 */
export function boundaryValue(bytes: Uint8Array, rng: Rng): Uint8Array {
  return writeAtSite(bytes, rng, (site) => pick(rng, boundaries(site.size)));
}

/**
 * Writes a value within 16 of the file size (or of a random offset inside the
 * file, or of 2^32 / 2^64 minus the file size) into a random header field:
 * the values most likely to slip past an off-by-one or wrapping bounds check.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { nearFileSize } from "./_fuzz.ts";
 * import { mulberry32 } from "../util/random.ts";
 * const src = buildElf({ class: 32, segments: [{ paddr: 0, data: new Uint8Array(4) }] });
 * assert(nearFileSize(src, mulberry32(2)).length === src.length);
 * ```
 */
export function nearFileSize(bytes: Uint8Array, rng: Rng): Uint8Array {
  const len = BigInt(bytes.length);
  return writeAtSite(bytes, rng, (site) => {
    const mod = 1n << BigInt(site.size * 8);
    const delta = BigInt(randInt(rng, 33) - 16);
    const anchor = pick(rng, [len, BigInt(randInt(rng, bytes.length)), mod - len, mod]);
    return anchor + delta;
  });
}

/**
 * Writes a uniformly random value into a random header field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { randomField } from "./_fuzz.ts";
 * import { mulberry32 } from "../util/random.ts";
 * const src = buildElf({ class: 32, segments: [{ paddr: 0, data: new Uint8Array(4) }] });
 * assert(randomField(src, mulberry32(4)).length === src.length);
 * ```
 */
export function randomField(bytes: Uint8Array, rng: Rng): Uint8Array {
  return writeAtSite(bytes, rng, (site) => {
    let v = 0n;
    for (let i = 0; i < site.size; i++) v = (v << 8n) | BigInt(randInt(rng, 256));
    return v;
  });
}

function writeAtSite(
  bytes: Uint8Array,
  rng: Rng,
  value: (site: FieldSite) => bigint,
): Uint8Array {
  const out = bytes.slice();
  const sites = fieldSites(out);
  if (sites.length === 0) return flipBits(out, rng);
  const site = pick(rng, sites);
  const dv = new DataView(out.buffer);
  writeField(dv, site.at, { off: 0, size: site.size }, value(site));
  return out;
}

/** Every mutator, for callers that want to choose. */
export const MUTATORS: readonly Mutator[] = [
  flipBits,
  truncate,
  boundaryValue,
  nearFileSize,
  randomField,
];

/**
 * Applies 1 to 3 randomly chosen mutators in sequence. Truncation is rarer
 * than the field mutators so most results still reach the deeper checks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf } from "./writer.ts";
 * import { mutate } from "./_fuzz.ts";
 * import { mulberry32 } from "../util/random.ts";
 * const src = buildElf({ class: 32, segments: [{ paddr: 0, data: new Uint8Array(4) }] });
 * const a = mutate(src, mulberry32(7)), b = mutate(src, mulberry32(7));
 * assert(a.length === b.length && a.every((x, i) => x === b[i]));
 * ```
 */
export function mutate(bytes: Uint8Array, rng: Rng): Uint8Array {
  const weighted: readonly Mutator[] = [
    flipBits,
    flipBits,
    truncate,
    boundaryValue,
    boundaryValue,
    boundaryValue,
    nearFileSize,
    nearFileSize,
    nearFileSize,
    randomField,
  ];
  let out = bytes;
  const n = 1 + randInt(rng, 3);
  for (let i = 0; i < n; i++) out = pick(rng, weighted)(out, rng);
  return out === bytes ? bytes.slice() : out;
}
