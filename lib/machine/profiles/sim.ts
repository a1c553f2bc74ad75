/**
 * The `sim` machine: the `rv64-virt` guest view (same addresses and layout)
 * backed by `/dev/shm` objects that amp creates, notification by a polled
 * counter word, and an in-process control backend. The simulated remote maps
 * the same objects.
 *
 * @module
 */

import type { MachineProfile } from "../types.ts";
import { rv64VirtProfile, seedDemos } from "./rv64_virt.ts";

/** Options for {@linkcode simProfile}. */
export interface SimOptions {
  /**
   * Prefix of the shm object names: `<prefix>.notify`, `<prefix>.shm`,
   * `<prefix>.image` (default `"amp-sim"`). Use a unique prefix per run.
   */
  prefix?: string;
}

/**
 * Build the `sim` profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { simProfile } from "./sim.ts";
 * const p = simProfile({ prefix: "t1" });
 * assert(p.regions.every((r) => r.backing.kind === "shm" && r.backing.create));
 * assert(p.regions[1]?.pa === 0x9010_0000);
 * ```
 */
export function simProfile(options: SimOptions = {}): MachineProfile {
  const prefix = options.prefix ?? "amp-sim";
  const base = rv64VirtProfile();
  const suffix: Record<string, string> = {
    "90000000.shm": "notify",
    "90100000.shm": "shm",
    "90200000.rproc": "image",
  };
  return {
    ...base,
    name: "sim",
    description: "Simulated rv64-virt: same addresses, /dev/shm backing created by amp, " +
      "polled counter notify, in-process control",
    regions: base.regions.map((r) => ({
      ...r,
      backing: { kind: "shm", name: `${prefix}.${suffix[r.name] ?? r.name}`, create: true },
    })),
    // One counter word per direction: host -> remote at +0, remote -> host at +4.
    notify: { kind: "poll-word", pa: 0x9000_0000, mode: "counter", watchPa: 0x9000_0004 },
    control: { kind: "sim" },
    // The sim's counter words sit at 0x90000000: its shared-memory demo block
    // is at 0x90010000 instead of the seed's 0x90000000.
    demos: { ...seedDemos(), shmemPa: 0x9001_0000 },
  };
}

/** The default `sim` profile. */
export const SIM: MachineProfile = simProfile();
