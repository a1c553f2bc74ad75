/**
 * Shapes shared by the remoteproc lifecycle and its backends.
 *
 * @module
 */

import type { MemoryMap } from "../mem/memory_map.ts";

/**
 * Lifecycle state of a remote core as amp tracks it:
 * `offline` (nothing loaded) → `loaded` → `running` → `stopped` or `crashed`.
 */
export type RemoteprocState = "offline" | "loaded" | "running" | "stopped" | "crashed";

/** Every lifecycle state. */
export const REMOTEPROC_STATES: readonly RemoteprocState[] = [
  "offline",
  "loaded",
  "running",
  "stopped",
  "crashed",
];

/** Firmware handed to a backend that loads images itself (kernel remoteproc). */
export interface FirmwareImage {
  /** The whole ELF file, already validated by amp. */
  bytes: Uint8Array;
  /** File name for messages and for the firmware search path, e.g. `"fw.elf"`. */
  name: string;
}

/**
 * The platform-specific part of remoteproc: memory access and core control.
 * One backend per control kind of a machine profile.
 */
export interface RemoteprocBackend {
  /** The profile control kind it implements, e.g. `"rv64-sysfs"`. */
  readonly kind: string;
  /** Map the machine's memory (called once; the caller closes the map). */
  mapMemory(): Promise<MemoryMap>;
  /**
   * When present, the backend loads firmware itself (the kernel does it for
   * kernel remoteproc); amp then neither copies segments nor handles the
   * resource table.
   */
  loadFirmware?(cpu: number, firmware: FirmwareImage): Promise<void>;
  /** Start `cpu` at physical address `entry`. */
  start(cpu: number, entry: number): Promise<void>;
  /** Stop `cpu`. */
  stop(cpu: number): Promise<void>;
  /** The platform's own word for the core's state (e.g. `"running"`, `"offline"`). */
  state(cpu: number): Promise<string>;
  /** Kick the remote for vring notify id `id`, when the platform has its own doorbell. */
  notify?(id: number): void;
  /** Release everything the backend holds. A second call is harmless. */
  close(): Promise<void>;
}
