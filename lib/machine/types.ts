/**
 * Machine profile types: everything platform-specific about a remote core, as
 * plain JSON-serialisable data (machines.md). A profile says where the
 * remote's memory and the shared memory are and how each is mapped, where the
 * resource table, buffer pool and vrings go, how each side is notified, how
 * the remote core is started and stopped, what instruction set its firmware
 * must be built for, and how its demo applications are started.
 *
 * Validation is in `validate.ts`, loading (built-ins and JSON files) in
 * `load.ts`.
 *
 * @module
 */

/** What a region is used for. */
export type RegionRole = "image" | "shm" | "notify";

/** Every known region role. */
export const REGION_ROLES: readonly RegionRole[] = ["image", "shm", "notify"];

/** A UIO device map (machines.md section 1): `/dev/uioN` map `map` of platform device `device`. */
export interface UioBacking {
  /** Backing kind. */
  kind: "uio";
  /** Platform device name, e.g. `"90200000.rproc"`. */
  device: string;
  /** Map index inside the UIO device. */
  map: number;
}
/** A regular file mapped shared; physical address `pa` is at file offset `offset`. */
export interface FileBacking {
  /** Backing kind. */
  kind: "file";
  /** File to map. */
  path: string;
  /** File offset of the region's first byte (default 0). */
  offset?: number;
  /** Create and size the file when missing. */
  create?: boolean;
}
/** A POSIX shared-memory object (`/dev/shm/<name>`). */
export interface ShmBacking {
  /** Backing kind. */
  kind: "shm";
  /** Object name without a slash, e.g. `"openamp.shm"`. */
  name: string;
  /** Create and size the object when missing. */
  create?: boolean;
}
/** Physical memory through `/dev/mem` (or another memory device). */
export interface DevMemBacking {
  /** Backing kind. */
  kind: "devmem";
  /** Device file (default `/dev/mem`). */
  path?: string;
}
/** Private heap memory (tests, in-process simulations). */
export interface HeapBacking {
  /** Backing kind. */
  kind: "heap";
}
/** How a region's memory is obtained. */
export type RegionBacking = UioBacking | FileBacking | ShmBacking | DevMemBacking | HeapBacking;

/** One physically contiguous memory region of the machine. */
export interface RegionSpec {
  /** Unique name; used in errors and as the `MemoryRegion` name. */
  name: string;
  /** Physical address (as the remote sees it) of the first byte. */
  pa: number;
  /** Size in bytes. */
  size: number;
  /** How the memory is obtained. */
  backing: RegionBacking;
  /** What the region holds. */
  roles: RegionRole[];
}

/** A physical address range. */
export interface Range {
  /** Physical address of the first byte. */
  pa: number;
  /** Size in bytes. */
  size: number;
}

/** Placement of one vring. */
export interface VringSpec {
  /** Address of the descriptor table (a multiple of `align`). */
  pa: number;
  /** Entries: a power of two, at most 32768. */
  num: number;
  /** Used-ring alignment: a power of two. */
  align: number;
}

/** Where the host puts the rpmsg structures in shared memory. */
export interface ShmLayout {
  /** Where the host's copy of the resource table goes. */
  rscTable: Range;
  /** The rpmsg buffer pool: RX buffers (vring0) first, then TX buffers (vring1). */
  pool: Range;
  /** vring0 (device to driver, host RX) and vring1 (driver to device, host TX). */
  vrings: [VringSpec, VringSpec];
  /** rpmsg buffer size per direction, in bytes. */
  bufSize: { rx: number; tx: number };
}

/** How one side tells the other that a vring has work. */
export type NotifySpec =
  | {
    kind: "poll-word";
    /** Address of the u32 notify word. */
    pa: number;
    /** `"seed"`: kick = write 1, nobody clears it. `"counter"`: kick = increment. */
    mode: "seed" | "counter";
    /**
     * Address of the word the remote writes to kick the host (default: `pa`,
     * one shared word). Counter mode needs one word per direction.
     */
    watchPa?: number;
  }
  | { kind: "socket"; path: string }
  | { kind: "inproc" };

/** How the remote core is started and stopped. */
export type ControlSpec =
  | {
    kind: "rv64-sysfs";
    /** Root of sysfs (default `/sys`). */
    sysfsRoot?: string;
  }
  | {
    kind: "remoteproc";
    /** `remoteprocN` index. Default 0 when `name` is not given either. */
    index?: number;
    /** Match the instance whose `name` file holds this. */
    name?: string;
    /** Root of sysfs (default `/sys`). */
    sysfsRoot?: string;
    /** Firmware search directory (default `/lib/firmware`). */
    firmwareDir?: string;
  }
  | { kind: "sim" }
  | {
    kind: "qemu-rv64";
    /** QEMU binary (default `qemu-system-riscv64`). */
    binary?: string;
    /** Guest RAM base (default 0x80000000). */
    ramBase?: number;
    /** Guest RAM size (default 512 MiB). */
    ramSize?: number;
    /** QMP socket path. */
    qmpPath?: string;
    /** Number of harts. */
    smp?: number;
    /**
     * How QEMU boots and starts the remote hart: `"sbi"` (default) = OpenSBI
     * plus amp's SBI agent, the hart started in S-mode through SBI HSM as on
     * the seed; `"direct"` = `-bios none` and amp's M-mode boot stub, for
     * firmware written for bare M-mode.
     */
    boot?: "sbi" | "direct";
    /** `-bios` of the `"sbi"` boot (default `"default"`: QEMU's bundled OpenSBI). */
    bios?: string;
  }
  | { kind: "openamp-linux" };

/** Every control kind. */
export const CONTROL_KINDS: readonly ControlSpec["kind"][] = [
  "rv64-sysfs",
  "remoteproc",
  "sim",
  "qemu-rv64",
  "openamp-linux",
];

/** A complete machine description. Plain data: `JSON.stringify` round-trips it. */
export interface MachineProfile {
  /** Profile name, e.g. `"rv64-virt"`. */
  name: string;
  /** One-line description. */
  description: string;
  /** The remote's word size in bytes (msg-test header field width). */
  wordSize: 4 | 8;
  /** Memory regions; they must not overlap. */
  regions: RegionSpec[];
  /** Where the rpmsg structures go. */
  layout: ShmLayout;
  /** How the sides notify each other. */
  notify: NotifySpec;
  /** How the remote core is started and stopped. */
  control: ControlSpec;
  /** Remote cpu numbers that may be started. */
  cpus: number[];
  /**
   * The instruction set the remote's firmware must be built for; `amp load`
   * refuses (and `amp inspect -m` reports) an ELF of another machine or class.
   * Absent: any.
   */
  arch?: ArchSpec;
  /** How the demo applications of the remote's firmware are started and found. */
  demos?: DemoSpec;
}

/** The firmware instruction set of a machine (checked against the ELF header). */
export interface ArchSpec {
  /** Name used in messages, e.g. `"RISC-V 64-bit"`. */
  name: string;
  /** ELF `e_machine` (RISC-V: 243). */
  elfMachine: number;
  /** ELF class. */
  elfClass: 32 | 64;
}

/** The demo applications amp drives (`amp rpmsg ping|test|matrix`, `amp shmem demo`). */
export type DemoApp = "sample" | "echo" | "matrix" | "shmem";

/** Every demo application. */
export const DEMO_APPS: readonly DemoApp[] = ["sample", "echo", "matrix", "shmem"];

/**
 * Facts about the demo applications of a machine's firmware, as data: the
 * shell command that starts each one on the remote's console (the seed's
 * RT-Thread names: `rpmsg_echo`, `rpmsg_update`, `matrix_multiplyd`,
 * `shmem_demod`), where the libmetal shared-memory demo block is, and where
 * amp's own firmware publishes its optional readiness word.
 */
export interface DemoSpec {
  /**
   * Console command starting each demo's remote side. amp types it only when
   * the loaded firmware offers it (an RT-Thread shell command symbol
   * `__fsym_<command>` in its ELF symbol table) or when asked with `--start`.
   */
  commands?: Partial<Record<DemoApp, string>>;
  /** Base address of the libmetal shared-memory demo block (0x1000 bytes). */
  shmemPa?: number;
  /**
   * amp's optional readiness word: u32 state at `readyWord` (0 idle, 1 waiting
   * for DRIVER_OK, 2 running, 3 broken) and the magic 0x46504D41 ("AMPF") at
   * `readyWord + 4`. A host uses it when the magic is there and never needs it.
   */
  readyWord?: number;
  /** Least time the host holds the vdev status at 0 on a reset, ms (default 5). */
  resetHoldMs?: number;
}

/** Default rpmsg buffer size (openamp-wire.md section 4). */
export const DEFAULT_BUF_SIZE = 512;
