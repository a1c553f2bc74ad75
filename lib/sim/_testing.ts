/**
 * Test helper: a `sim`-shaped machine on heap memory with a seed-like
 * resource table in its image, optionally with a simulated remote running.
 *
 * @module
 */

import type { Service } from "../apps/services.ts";
import { mapProfileRegions } from "../machine/map.ts";
import type { MachineProfile } from "../machine/types.ts";
import { validateProfile } from "../machine/validate.ts";
import { simProfile } from "../machine/profiles/sim.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { FW_RSC_U32_ADDR_ANY } from "../rsc/layout.ts";
import { buildResourceTable, rpmsgVdev, serializeResourceTable } from "../rsc/table.ts";
import { type DeviceRuntime, startDevice } from "../device/runtime.ts";

/** Where the test image keeps its table (as examples/seed-layout.elf does). */
export const TEST_RSC_ADDR = 0x9020_0100;

/**
 * The `sim` machine profile with every region backed by heap memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapSimProfile } from "./_testing.ts";
 * assert(heapSimProfile().regions.every((r) => r.backing.kind === "heap"));
 * ```
 */
export function heapSimProfile(): MachineProfile {
  const base = simProfile({ prefix: "unused" });
  return validateProfile({
    ...base,
    regions: base.regions.map((r) => ({ ...r, backing: { kind: "heap" } })),
  }, "heap sim");
}

/** What {@linkcode simTestSetup} returns. */
export interface SimTestSetup {
  /** Heap-backed sim profile. */
  profile: MachineProfile;
  /** Its memory (shared by host and remote in-process). */
  memory: MemoryMap;
  /** The table's image address. */
  rscAddr: number;
  /** The running remote, unless `start` was false. */
  sim: DeviceRuntime | undefined;
  /** Stop the remote and unmap. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Build the machine, write a seed-layout table (8 offset slots, rpmsg vdev
 * with two ANY vrings) into the image and start a remote with `services`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { simTestSetup } from "./_testing.ts";
 * await using t = await simTestSetup({ services: [] });
 * assert(t.sim !== undefined);
 * ```
 */
export async function simTestSetup(
  options: { services: Service[]; start?: boolean; log?: (l: string) => void },
): Promise<SimTestSetup> {
  const profile = heapSimProfile();
  const memory = await mapProfileRegions(profile);
  const ANY = FW_RSC_U32_ADDR_ANY;
  const table = buildResourceTable([
    rpmsgVdev({
      vrings: [
        { da: ANY, align: 0x1000, num: 256, notifyid: 1 },
        { da: ANY, align: 0x1000, num: 256, notifyid: 2 },
      ],
    }),
  ], { offsetSlots: 8 });
  memory.get(TEST_RSC_ADDR).write(TEST_RSC_ADDR, serializeResourceTable(table));
  const sim = options.start === false ? undefined : await startDevice({
    profile,
    memory,
    rscAddr: TEST_RSC_ADDR,
    services: options.services,
    ...(options.log ? { log: options.log } : {}),
  });
  return {
    profile,
    memory,
    rscAddr: TEST_RSC_ADDR,
    sim,
    async [Symbol.asyncDispose]() {
      await sim?.stop();
      memory.close();
    },
  };
}
