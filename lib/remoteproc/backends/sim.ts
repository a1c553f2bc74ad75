/**
 * The `sim` control backend: memory from the profile's backings (for the
 * built-in `sim` profile, `/dev/shm` objects amp creates) and an in-process
 * core whose start and stop call hooks, so a simulated remote (a worker or
 * another process mapping the same objects) can be plugged in.
 *
 * @module
 */

import type { MemoryMap } from "../../mem/memory_map.ts";
import { removeShm } from "../../mem/shm.ts";
import { mapProfileRegions, type RegionMappers } from "../../machine/map.ts";
import { checkCpu, type MachineProfile } from "../../machine/profile.ts";
import type { RemoteprocBackend } from "../types.ts";

/** Hooks run by {@linkcode SimBackend}. */
export interface SimHooks {
  /** The host started `cpu` at `entry`; `memory` is the mapped machine memory (if mapped). */
  onStart?(cpu: number, entry: number, memory: MemoryMap | undefined): void | Promise<void>;
  /** The host stopped `cpu`. */
  onStop?(cpu: number): void | Promise<void>;
}

/** Options for {@linkcode SimBackend}. */
export interface SimBackendOptions extends SimHooks {
  /** Replace region mappers. */
  mappers?: Partial<RegionMappers>;
  /** Remove the shm objects the profile creates when the backend closes (default true). */
  removeOnClose?: boolean;
}

/**
 * A simulated core: `state` is `offline` or `running`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SimBackend } from "./sim.ts";
 * import { simProfile } from "../../machine/profiles/sim.ts";
 * const started: number[] = [];
 * const b = new SimBackend(simProfile(), { onStart: (_cpu, entry) => { started.push(entry); } });
 * await b.start(1, 0x9020_0000);
 * assert(await b.state(1) === "running" && started[0] === 0x9020_0000);
 * await b.stop(1);
 * assert(await b.state(1) === "offline");
 * await b.close();
 * ```
 */
export class SimBackend implements RemoteprocBackend {
  /** Control kind implemented. */
  readonly kind = "sim";
  readonly #profile: MachineProfile;
  readonly #options: SimBackendOptions;
  readonly #running = new Set<number>();
  #memory: MemoryMap | undefined;

  /** Create for a profile. */
  constructor(profile: MachineProfile, options: SimBackendOptions = {}) {
    this.#profile = profile;
    this.#options = options;
  }

  /** Map the profile's regions. */
  async mapMemory(): Promise<MemoryMap> {
    const o: Parameters<typeof mapProfileRegions>[1] = {};
    if (this.#options.mappers) o.mappers = this.#options.mappers;
    this.#memory = await mapProfileRegions(this.#profile, o);
    return this.#memory;
  }

  /** Mark `cpu` running and run `onStart`. */
  async start(cpu: number, entry: number): Promise<void> {
    checkCpu(this.#profile, cpu);
    await this.#options.onStart?.(cpu, entry, this.#memory);
    this.#running.add(cpu);
  }

  /** Mark `cpu` offline and run `onStop`. */
  async stop(cpu: number): Promise<void> {
    checkCpu(this.#profile, cpu);
    this.#running.delete(cpu);
    await this.#options.onStop?.(cpu);
  }

  /** `running` or `offline`. */
  state(cpu: number): Promise<string> {
    checkCpu(this.#profile, cpu);
    return Promise.resolve(this.#running.has(cpu) ? "running" : "offline");
  }

  /** Remove the shm objects the profile creates (unless `removeOnClose` is false). */
  close(): Promise<void> {
    this.#running.clear();
    if (this.#options.removeOnClose ?? true) {
      for (const r of this.#profile.regions) {
        if (r.backing.kind === "shm" && r.backing.create) removeShm(r.backing.name);
      }
    }
    return Promise.resolve();
  }
}
