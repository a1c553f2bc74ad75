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

/** Where a remote's serial console is. */
export interface ConsoleEndpoint {
  /** A UNIX stream socket: bytes written are typed, bytes read are what the remote prints. */
  socketPath: string;
  /** Everything the remote printed since it was started (written by the machine). */
  logPath: string;
}

/** What {@linkcode RemoteprocBackend.firmwareLoaded} is told. */
export interface LoadedFirmware {
  /** Firmware name. */
  name: string;
  /** Boot address. */
  entry: number;
  /** The firmware's `.resource_table` section: address and bytes (its extent), if any. */
  resourceTable?: { addr: number; bytes: Uint8Array };
  /** The smallest range covering the executable segments (what may go stale in a CPU's caches). */
  codeRange?: { start: number; len: number };
  /** Shell commands the firmware exports (RT-Thread `__fsym_<name>` symbols). */
  shell: string[];
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
  /** Firmware was loaded for `cpu` (before its start): what the backend may need to know. */
  firmwareLoaded?(cpu: number, fw: LoadedFirmware): void;
  /** The remote's console, when the machine has one (valid once the core started). */
  console?(cpu: number): ConsoleEndpoint | undefined;
  /**
   * Resolves with a one-line reason when what runs the core (QEMU, the
   * simulated core's process) ends on its own; undefined when not applicable.
   */
  ended?(cpu: number): Promise<string> | undefined;
  /** Shell commands the console offers, when the backend knows them (the simulated core). */
  shellCommands?(cpu: number): string[] | undefined;
  /** Processes the backend started, for the registry (killed if the owner dies). */
  children?(): { what: string; pid: number }[];
  /** Files the backend created, for the registry (removed if the owner dies). */
  files?(): string[];
  /** Kick the remote for vring notify id `id`, when the platform has its own doorbell. */
  notify?(id: number): void;
  /** Release everything the backend holds. A second call is harmless. */
  close(): Promise<void>;
}
