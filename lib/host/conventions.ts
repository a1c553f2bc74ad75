/**
 * Facts about the demo firmware that a machine profile does not (yet) carry:
 * where the libmetal shared-memory demo block is and where the remote
 * publishes its state word (examples/firmware/rv64-virt/README.md). Kept as
 * data keyed by profile name; the simulated remote follows the same facts so
 * the host cannot tell it from the firmware.
 *
 * @module
 */

import type { MachineProfile } from "../machine/profile.ts";

/** The remote's published state word (diag area of the rv64-virt firmware). */
export interface RemoteStateWord {
  /**
   * Address of the u32 state word: 0 boot / at the shell prompt, 1 waiting for
   * DRIVER_OK, 2 running, 3 broken.
   */
  statePa: number;
  /** Address of the u32 magic written once the state and the table are published. */
  magicPa: number;
  /** The magic value ("AMPF"). */
  magic: number;
}

/** Remote state values of {@linkcode RemoteStateWord}. */
export const REMOTE_STATE_BOOT = 0,
  REMOTE_STATE_WAITING = 1,
  REMOTE_STATE_RUNNING = 2,
  REMOTE_STATE_BROKEN = 3;

/** What the demo firmware of a machine does beyond the profile. */
export interface RemoteConventions {
  /** Base of the libmetal shared-memory demo block, when the firmware serves it. */
  shmemDemoPa?: number;
  /** The state word, when the firmware publishes one. */
  stateWord?: RemoteStateWord;
  /** Least time the host holds the vdev status at 0 on a reset, in ms. */
  resetHoldMs: number;
}

/** amp's demo firmware state word: its diag area at 0x90002000 (+8 state, +0xC magic). */
const RV64_STATE_WORD: RemoteStateWord = {
  statePa: 0x9000_2008,
  magicPa: 0x9000_200c,
  magic: 0x4650_4d41,
};

/**
 * amp's demo firmware (examples/firmware/rv64-virt): the shared-memory demo
 * block at 0x90000000 as on the seed (its control word is the poll word).
 */
const RV64_DEMO_FIRMWARE: RemoteConventions = {
  shmemDemoPa: 0x9000_0000,
  stateWord: RV64_STATE_WORD,
  resetHoldMs: 5,
};

/**
 * The simulated remote keeps the layout of amp's earlier (M-mode) firmware:
 * its counter notify words occupy 0x90000000 and 0x90000004, so its
 * shared-memory demo block stays at 0x90010000 and its state word at
 * 0x90000048.
 */
const SIM_REMOTE: RemoteConventions = {
  shmemDemoPa: 0x9001_0000,
  stateWord: { statePa: 0x9000_0048, magicPa: 0x9000_004c, magic: 0x4650_4d41 },
  resetHoldMs: 5,
};

/** Conventions by profile name. */
export const REMOTE_CONVENTIONS: Readonly<Record<string, RemoteConventions>> = {
  "rv64-virt": RV64_DEMO_FIRMWARE,
  "qemu-rv64": RV64_DEMO_FIRMWARE,
  "sim": SIM_REMOTE,
};

/**
 * The conventions of `profile`'s demo firmware (none known: only the reset hold).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remoteConventions } from "./conventions.ts";
 * import { SIM } from "../machine/profiles/sim.ts";
 * import { QEMU_RV64 } from "../machine/profiles/qemu_rv64.ts";
 * assert(remoteConventions(SIM).shmemDemoPa === 0x9001_0000);
 * assert(remoteConventions(QEMU_RV64).shmemDemoPa === 0x9000_0000);
 * assert(remoteConventions(QEMU_RV64).stateWord?.statePa === 0x9000_2008);
 * ```
 */
export function remoteConventions(profile: Pick<MachineProfile, "name">): RemoteConventions {
  return REMOTE_CONVENTIONS[profile.name] ?? { resetHoldMs: 5 };
}
