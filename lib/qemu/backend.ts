/**
 * The `qemu-rv64` control backend (machines.md section 4): it launches QEMU
 * riscv64 `virt` with its guest RAM in the file the profile's regions name,
 * maps the regions as windows of that RAM, starts a hart (boot `"sbi"`, the
 * default: SBI HSM `hart_start` through amp's agent on OpenSBI, the firmware
 * runs in S-mode as on the seed; boot `"direct"`: the M-mode boot stub's
 * mailbox), stops with `system_reset` and tears QEMU down on close. The guest
 * UART is a UNIX socket ({@linkcode QemuRv64Backend.consolePath}) with a log
 * ({@linkcode QemuRv64Backend.consoleLog}).
 *
 * Only the process that owns the machine (e.g. `amp load`) uses this backend;
 * every other process maps the same RAM file from the profile's file backings
 * (`mapProfileRegions`) without launching anything.
 *
 * @module
 */

import { AmpError, ConfigError } from "../errors.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import { hex } from "../mem/region.ts";
import type { MachineProfile, RegionSpec } from "../machine/types.ts";
import { checkCpu } from "../machine/validate.ts";
import { QemuRv64 } from "./qemu.ts";
import {
  type LoadRange,
  QEMU_DEFAULT_RAM_SIZE,
  QEMU_DTB_RESERVE,
  QEMU_RAM_BASE,
  type QemuBootMode,
  qemuReservedEnd,
  type QemuRv64Options,
} from "./types.ts";
import { waitUntil } from "../util/wait.ts";
import type { ConsoleEndpoint, LoadedFirmware, RemoteprocBackend } from "../remoteproc/types.ts";

/** Options for {@linkcode QemuRv64Backend}. */
export interface QemuRv64BackendOptions {
  /**
   * Boot argument passed in `a1` (SBI `hart_start`'s opaque; the demo
   * firmware reads its options from it; default 0 = the firmware's defaults).
   */
  bootArg?: bigint;
  /**
   * The range the agent (or boot stub) re-writes from inside the guest before a
   * start, so QEMU drops code translated for an earlier image (default: every
   * region with role `"image"`). Narrow it with {@linkcode QemuRv64Backend.setLoadRange}.
   */
  loadRange?: LoadRange;
  /** Deadline for QEMU to come up (default 15000 ms). */
  launchTimeoutMs?: number;
  /** Deadline for a hart start and for a stop (default 5000 ms). */
  timeoutMs?: number;
  /** Extra QEMU arguments. */
  extraArgs?: string[];
  /** Directory for the QMP and console sockets and the console log (default: a fresh temporary directory). */
  workDir?: string;
  /** Console log file (default `<workDir>/console.log`). */
  consoleLog?: string;
}

/** The RAM file and geometry a `qemu-rv64` profile describes. */
export interface QemuRv64Machine {
  /** The guest RAM file every region maps. */
  ramFile: string;
  /** Guest RAM size in bytes. */
  ramSize: number;
  /** Harts. */
  smp: number;
  /** QEMU binary, when the profile names one. */
  binary?: string;
  /** QMP socket path, when the profile names one. */
  qmpPath?: string;
  /** How QEMU boots and starts the remote hart (profile default `"sbi"`). */
  boot: QemuBootMode;
  /** `-bios` of the `"sbi"` boot, when the profile names one. */
  bios?: string;
}

/**
 * Check that `profile` describes a QEMU `virt` machine amp can launch: control
 * kind `qemu-rv64`, RAM base 0x80000000, every region a window of ONE file at
 * file offset `pa - 0x80000000`, inside usable RAM (above OpenSBI, the SBI
 * agent and its mailbox — or the boot stub for boot `"direct"` —, below the
 * device tree QEMU writes into the top 2 MiB), and no other region between two
 * image regions. Throws `ConfigError` `QEMU_PROFILE` naming what does not fit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qemuMachineOf } from "./backend.ts";
 * import { qemuRv64Profile } from "../machine/profiles/qemu_rv64.ts";
 * const m = qemuMachineOf(qemuRv64Profile({ name: "doc" }));
 * assert(m.ramFile === "/dev/shm/doc" && m.ramSize === 0x2000_0000 && m.smp === 2);
 * assert(m.boot === "sbi");
 * ```
 */
export function qemuMachineOf(profile: MachineProfile): QemuRv64Machine {
  const c = profile.control;
  const bad = (what: string): never => {
    throw new ConfigError("QEMU_PROFILE", `Machine "${profile.name}": ${what}`);
  };
  if (c.kind !== "qemu-rv64") return bad(`control kind is "${c.kind}", not "qemu-rv64"`);
  const ramBase = c.ramBase ?? QEMU_RAM_BASE;
  if (ramBase !== QEMU_RAM_BASE) {
    bad(`control.ramBase ${hex(ramBase)} is not the virt board's ${hex(QEMU_RAM_BASE)}`);
  }
  const ramSize = c.ramSize ?? QEMU_DEFAULT_RAM_SIZE;
  const usableEnd = QEMU_RAM_BASE + ramSize - QEMU_DTB_RESERVE;
  const boot = c.boot ?? "sbi";
  const reservedEnd = qemuReservedEnd(boot);
  let ramFile: string | undefined;
  for (const r of profile.regions) {
    if (r.backing.kind !== "file") {
      bad(`region ${r.name} is backed by "${r.backing.kind}", not by the guest RAM file`);
    }
    const b = r.backing as Extract<RegionSpec["backing"], { kind: "file" }>;
    ramFile ??= b.path;
    if (b.path !== ramFile) {
      bad(`region ${r.name} maps ${b.path}, but an earlier region maps ${ramFile}`);
    }
    const want = r.pa - QEMU_RAM_BASE;
    if ((b.offset ?? 0) !== want) {
      bad(
        `region ${r.name} is at file offset ${hex(b.offset ?? 0)}, not ${hex(want)} (pa - ${
          hex(QEMU_RAM_BASE)
        })`,
      );
    }
    if (r.pa < reservedEnd || r.size > usableEnd - r.pa) {
      bad(
        `region ${r.name} [${hex(r.pa)}, +${hex(r.size)}) is not inside usable RAM [${
          hex(reservedEnd)
        }, ${hex(usableEnd)}) of boot "${boot}"`,
      );
    }
  }
  if (ramFile === undefined) return bad("no regions");
  // The agent (or boot stub) re-writes the span of the image regions from inside
  // the guest before each start: nothing the host writes while the remote runs may lie in it.
  const images = profile.regions.filter((r) => r.roles.includes("image"));
  const lo = Math.min(...images.map((r) => r.pa));
  const hi = Math.max(...images.map((r) => r.pa + r.size));
  for (const r of profile.regions) {
    if (!r.roles.includes("image") && r.pa < hi && lo < r.pa + r.size) {
      bad(
        `region ${r.name} lies inside the span [${hex(lo)}, ${
          hex(hi)
        }) of the image regions, which is re-written from inside the guest at every start`,
      );
    }
  }
  const m: QemuRv64Machine = { ramFile, ramSize, smp: c.smp ?? 2, boot };
  if (c.binary !== undefined) m.binary = c.binary;
  if (c.qmpPath !== undefined) m.qmpPath = c.qmpPath;
  if (c.bios !== undefined) m.bios = c.bios;
  return m;
}

/**
 * Pids of the processes that have `path` mapped (from `/proc/<pid>/maps`;
 * processes whose maps cannot be read are not seen).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { processesMapping } from "./backend.ts";
 * assert(processesMapping("/dev/shm/no-such-amp-file").length === 0);
 * ```
 */
export function processesMapping(path: string): number[] {
  const pids: number[] = [];
  let dir: Iterable<Deno.DirEntry>;
  try {
    dir = Deno.readDirSync("/proc");
  } catch {
    return pids;
  }
  const needle = ` ${path}`;
  for (const e of dir) {
    if (!/^\d+$/.test(e.name)) continue;
    let maps: string;
    try {
      maps = Deno.readTextFileSync(`/proc/${e.name}/maps`);
    } catch {
      continue; // Gone, or not ours to read.
    }
    if (maps.split("\n").some((l) => l.endsWith(needle))) pids.push(Number(e.name));
  }
  return pids;
}

/**
 * The control backend of `qemu-rv64` machines: it owns one QEMU process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QemuRv64Backend } from "./backend.ts";
 * import { qemuAvailable } from "./qemu.ts";
 * import { qemuRv64Profile } from "../machine/profiles/qemu_rv64.ts";
 * const b = new QemuRv64Backend(qemuRv64Profile({ name: `amp-doc-${Deno.pid}` }));
 * if (qemuAvailable()) {
 *   const map = await b.mapMemory(); // launches QEMU
 *   assert(map.get(0x9010_0000, 16).name === "90100000.shm");
 *   assert(await b.state(1) === "offline");
 *   map.close();
 * }
 * await b.close();
 * ```
 */
export class QemuRv64Backend implements RemoteprocBackend {
  /** Control kind implemented. */
  readonly kind = "qemu-rv64";
  /** What the profile describes. */
  readonly machine: QemuRv64Machine;
  readonly #profile: MachineProfile;
  readonly #options: QemuRv64BackendOptions;
  #loadRange: LoadRange | undefined;
  #qemu: QemuRv64 | undefined;
  #launching: Promise<QemuRv64> | undefined;
  #closed = false;

  /** Check the profile (`QEMU_PROFILE`); nothing is launched until {@linkcode mapMemory}. */
  constructor(profile: MachineProfile, options: QemuRv64BackendOptions = {}) {
    this.machine = qemuMachineOf(profile);
    this.#profile = profile;
    this.#options = options;
    this.#loadRange = options.loadRange;
  }

  /** The running QEMU, once launched. */
  get qemu(): QemuRv64 | undefined {
    return this.#qemu;
  }

  /**
   * The guest console's UNIX socket, once QEMU is launched; `undefined`
   * before. `qemu.connectConsole()` connects and waits until QEMU has taken
   * the connection (output before that goes to the console log only).
   */
  get consolePath(): string | undefined {
    return this.#qemu?.consolePath;
  }

  /** The file that receives everything the guest prints, once QEMU is launched. */
  get consoleLog(): string | undefined {
    return this.#qemu?.consoleLog;
  }

  /**
   * Re-write only this range before the next start (e.g. `loadRangeOf(elf)`:
   * the executable segments), instead of every image region.
   */
  setLoadRange(range: LoadRange | undefined): void {
    this.#loadRange = range;
  }

  /**
   * Launch QEMU (once) and map the profile's regions as windows of its RAM.
   * A RAM file left behind by a dead run (no process maps it) is removed
   * first; one that a live process maps fails with `QEMU_RAM_FILE_BUSY`.
   */
  async mapMemory(): Promise<MemoryMap> {
    const q = await this.#launch();
    const map = new MemoryMap();
    try {
      for (const r of this.#profile.regions) map.add(q.region(r.pa, r.size, r.name));
    } catch (e) {
      map.close();
      throw e;
    }
    return map;
  }

  /**
   * Start `cpu` (a hart) at `entry`: SBI HSM `hart_start` through the agent
   * (boot `"sbi"`), or the boot stub's mailbox (boot `"direct"`).
   */
  async start(cpu: number, entry: number): Promise<void> {
    checkCpu(this.#profile, cpu);
    const q = await this.#launch();
    await q.startHart(
      cpu,
      entry,
      this.#loadRange ?? this.#imageRange(),
      this.#options.bootArg ?? 0n,
      this.#options.timeoutMs ?? 5000,
    );
  }

  /**
   * Reset the machine (QMP `system_reset`) and wait until it waits for starts
   * again (agent back with the other harts stopped, or every hart parked). Memory is kept.
   */
  async stop(cpu: number): Promise<void> {
    checkCpu(this.#profile, cpu);
    const q = this.#qemu;
    if (!q || q.exited) return;
    try {
      await q.stop(this.#options.timeoutMs ?? 5000);
    } catch (e) {
      // QEMU shares amp's process group, so Ctrl+C on a terminal kills it too: a
      // machine that went away while being stopped is stopped.
      if (await waitUntil(() => q.exited, { deadlineMs: 2000 })) return;
      throw e;
    }
  }

  /**
   * Boot `"sbi"`: what SBI HSM says about the hart — `running` (STARTED),
   * `offline` (STOPPED, or QEMU not launched), `invalid` (START/STOP pending,
   * suspended, or unknown: e.g. during a reset). Boot `"direct"`: `running`,
   * `offline` (parked in the stub) or `invalid`. `crashed` once QEMU exited.
   */
  state(cpu: number): Promise<string> {
    checkCpu(this.#profile, cpu);
    const q = this.#qemu;
    if (!q) return Promise.resolve("offline");
    if (q.exited) return Promise.resolve("crashed");
    const s = q.hartStatus(cpu).state;
    return Promise.resolve(
      s === "running"
        ? "running"
        : s === "stopped" || s === "parked"
        ? "offline"
        : s === "unknown"
        ? "invalid"
        : s, // starting, stopping, suspended: what the SBI says
    );
  }

  /** The code range of the loaded firmware is what the start re-writes from inside the guest. */
  firmwareLoaded(_cpu: number, fw: LoadedFirmware): void {
    if (fw.codeRange) this.#loadRange = fw.codeRange;
  }

  /** The guest UART (once QEMU runs). */
  console(cpu: number): ConsoleEndpoint | undefined {
    checkCpu(this.#profile, cpu);
    const q = this.#qemu;
    return q ? { socketPath: q.consolePath, logPath: q.consoleLog } : undefined;
  }

  /** Resolves with how QEMU's process ended (code or signal), once QEMU runs. */
  ended(_cpu: number): Promise<string> | undefined {
    return this.#qemu?.whenExited();
  }

  /** QEMU's process, while it runs. */
  children(): { what: string; pid: number }[] {
    const q = this.#qemu;
    return q && !q.exited ? [{ what: "QEMU", pid: q.pid }] : [];
  }

  /** The guest RAM file and QEMU's sockets and work directory (removed if the owner dies). */
  files(): string[] {
    const q = this.#qemu;
    return q ? [q.ramFile, q.qmpPath, q.consolePath, q.workDir] : [this.machine.ramFile];
  }

  /** Quit QEMU and remove the RAM file, the QMP socket and the work directory. */
  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#launching;
    this.#launching = undefined;
    const q = this.#qemu ?? await pending?.catch(() => undefined);
    this.#qemu = undefined;
    await q?.close();
  }

  #imageRange(): LoadRange {
    const images = this.#profile.regions.filter((r) => r.roles.includes("image"));
    if (images.length === 0) return { start: 0, len: 0 };
    const lo = Math.min(...images.map((r) => r.pa));
    const hi = Math.max(...images.map((r) => r.pa + r.size));
    return { start: lo, len: hi - lo };
  }

  #launch(): Promise<QemuRv64> {
    if (this.#closed) {
      return Promise.reject(
        new AmpError("QEMU_CLOSED", `Machine "${this.#profile.name}": the backend was closed`),
      );
    }
    if (this.#qemu) return Promise.resolve(this.#qemu);
    this.#launching ??= (async () => {
      const m = this.machine;
      removeStaleRamFile(m.ramFile);
      const o: QemuRv64Options = {
        ramFile: m.ramFile,
        ramSize: m.ramSize,
        smp: m.smp,
        boot: m.boot,
      };
      if (m.binary !== undefined) o.binary = m.binary;
      if (m.qmpPath !== undefined) o.qmpPath = m.qmpPath;
      if (m.bios !== undefined) o.bios = m.bios;
      if (this.#options.consoleLog !== undefined) o.consoleLog = this.#options.consoleLog;
      if (this.#options.launchTimeoutMs !== undefined) o.timeoutMs = this.#options.launchTimeoutMs;
      if (this.#options.extraArgs !== undefined) o.extraArgs = this.#options.extraArgs;
      if (this.#options.workDir !== undefined) o.workDir = this.#options.workDir;
      const q = await QemuRv64.launch(o);
      if (this.#closed) {
        await q.close();
        throw new AmpError(
          "QEMU_CLOSED",
          `Machine "${this.#profile.name}": closed while launching`,
        );
      }
      this.#qemu = q;
      return q;
    })();
    const p = this.#launching;
    p.catch(() => {
      if (this.#launching === p) this.#launching = undefined;
    });
    return p;
  }
}

function removeStaleRamFile(path: string): void {
  try {
    Deno.statSync(path);
  } catch {
    return; // Not there: the usual case.
  }
  const users = processesMapping(path);
  if (users.length > 0) {
    throw new AmpError(
      "QEMU_RAM_FILE_BUSY",
      `Guest RAM file ${path} is in use by process ${
        users.join(", ")
      } (another QEMU machine of this name is running; stop it or use another name)`,
    );
  }
  try {
    Deno.removeSync(path);
  } catch (e) {
    throw new ConfigError(
      "QEMU_RAM_FILE",
      `Cannot remove the stale guest RAM file ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
