/**
 * amp's optional readiness word: a u32 state and a u32 magic that amp's own
 * remotes (the demo firmware, the simulated core, `amp remote`) publish next
 * to the shared memory, at the profile's `demos.readyWord`. A host that finds
 * the magic knows at once whether a remote application waits for it; a plain
 * OpenAMP remote has no such word and the host never needs it.
 *
 * | offset | field |
 * |---|---|
 * | +0 | state: 0 idle (boot or shell), 1 waiting for DRIVER_OK, 2 running, 3 broken |
 * | +4 | magic 0x46504D41 ("AMPF") once state and table are published |
 *
 * @module
 */

import type { MemoryMap } from "../mem/memory_map.ts";
import type { MemoryRegion } from "../mem/region.ts";

/** The magic at `readyWord + 4` ("AMPF"). */
export const READY_MAGIC = 0x4650_4d41;

/** Readiness states. */
export const READY_IDLE = 0, READY_WAITING = 1, READY_RUNNING = 2, READY_BROKEN = 3;

/** Names of the readiness states, for messages. */
export const READY_STATE_NAMES: readonly string[] = ["idle", "waiting", "running", "broken"];

/**
 * The readiness word at one address of a memory map.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { READY_WAITING, ReadyWord } from "./ready_word.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * const map = new MemoryMap([heapRegion(0x9000_0000, 0x4000)]);
 * const w = ReadyWord.find(map, 0x9000_2008)!;
 * assert(w.read() === undefined); // no magic: not one of amp's remotes
 * w.publish(READY_WAITING);
 * assert(w.read() === READY_WAITING);
 * w.withdraw();
 * assert(w.read() === undefined);
 * ```
 */
export class ReadyWord {
  /** Address of the state word. */
  readonly pa: number;
  readonly #region: MemoryRegion;

  private constructor(region: MemoryRegion, pa: number) {
    this.#region = region;
    this.pa = pa;
  }

  /** The word at `pa` when `pa` is given and both words are mapped, else undefined. */
  static find(map: MemoryMap, pa: number | undefined): ReadyWord | undefined {
    if (pa === undefined) return undefined;
    const r = map.find(pa, 8);
    return r ? new ReadyWord(r, pa) : undefined;
  }

  /** The state when the magic is present (an amp remote publishes it), else undefined. */
  read(): number | undefined {
    if (this.#region.atomicLoadU32(this.pa + 4) !== READY_MAGIC) return undefined;
    return this.#region.atomicLoadU32(this.pa);
  }

  /** Remote side: publish `state` (and the magic). */
  publish(state: number): void {
    this.#region.atomicStoreU32(this.pa, state);
    this.#region.atomicStoreU32(this.pa + 4, READY_MAGIC);
  }

  /** Remote side: state 0 and no magic (the remote is gone). */
  withdraw(): void {
    this.#region.atomicStoreU32(this.pa + 4, 0);
    this.#region.atomicStoreU32(this.pa, READY_IDLE);
  }
}
