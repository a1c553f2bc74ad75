/**
 * A remote RISC-V core on this machine: `qemu-system-riscv64 -machine virt`
 * whose guest RAM is a file in `/dev/shm` that the host maps too
 * (machines.md section 4).
 *
 * Two boot flows ({@linkcode QemuBootMode}):
 *
 * - `"sbi"` (default), as on the seed system: QEMU runs OpenSBI
 *   (`-bios default`) and the SBI agent (`-kernel agent.bin`, see
 *   {@link ./agent.ts}) in S-mode on hart 0; the other harts wait in SBI HSM
 *   STOPPED. {@linkcode QemuRv64.startHart} asks the agent for HSM
 *   `hart_start(hart, entry, opaque)`, which is how the seed's Linux starts its
 *   remote; firmware then runs in S-mode and may use SBI calls.
 * - `"direct"`: `-bios none` and the M-mode boot stub (stub.S) written at
 *   0x80000000; every hart parks in its mailbox ({@linkcode mailboxAddress})
 *   and jumps into firmware in M-mode. For firmware written for bare M-mode.
 *
 * Either way the host creates and sizes the RAM file, starts QEMU stopped
 * (`-S`), connects QMP and lets the guest run (`cont`). Firmware is loaded by
 * writing the RAM file; {@linkcode QemuRv64.stop} resets the machine
 * (`system_reset`) back to its waiting state, {@linkcode QemuRv64.close}
 * quits QEMU and removes the files. The guest UART is a UNIX socket
 * ({@linkcode QemuRv64.consolePath}) that a client may connect to and type
 * into; every byte the guest prints also lands in
 * {@linkcode QemuRv64.consoleLog}, connected or not.
 *
 * File offset = guest address - 0x80000000. QEMU puts its device tree in the
 * top 2 MiB of RAM, so {@linkcode QemuRv64.ram} stops 2 MiB short of the end.
 *
 * @module
 */

import { AmpError, ConfigError, TimeoutError } from "../errors.ts";
import type { ElfImage } from "../elf/types.ts";
import { PF_X, PT_LOAD } from "../elf/types.ts";
import type { MemoryRegion } from "../mem/region.ts";
import { sleep, waitUntil } from "../util/wait.ts";
import { type AgentInfo, readAgentInfo } from "./agent.ts";
import {
  type AliveCheck,
  bootCounts,
  checkStart,
  clearReady,
  readHartStatus,
  startParkedHart,
  startSbiHart,
  waitHartsReady,
} from "./_harts.ts";
import {
  checkMachineOptions,
  CONSOLE_CHARDEV,
  launchPaths,
  launchQemu,
  qemuAvailable,
  removeQuietly,
} from "./_launch.ts";
import type { QmpClient } from "./qmp.ts";
import { type ConsoleConnectOptions, QemuConsole } from "./console.ts";
import {
  type HartStatus,
  type LoadRange,
  type QemuBootMode,
  qemuReservedEnd,
  type QemuRv64Options,
} from "./types.ts";

export { qemuAvailable };

/**
 * The range the stub must re-write before jumping: the smallest range covering
 * the executable (`PF_X`) `PT_LOAD` segments' `[p_paddr, p_paddr + p_memsz)`,
 * or every `PT_LOAD` segment when none is marked executable. Only code can go
 * stale in QEMU's translation cache, and a shorter range starts faster.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadRangeOf } from "./qemu.ts";
 * import { buildElf } from "../elf/writer.ts";
 * import { parseElf } from "../elf/reader.ts";
 * const img = parseElf(buildElf({ class: 64, entry: 0x9020_0000, segments: [
 *   { paddr: 0x9020_0000, data: new Uint8Array(0x100), flags: 5 },
 *   { paddr: 0x9020_1000, data: new Uint8Array(0x10), flags: 6 },
 *   { paddr: 0x9024_0000, data: new Uint8Array(0), memsz: 0x1000, flags: 6 },
 * ] }));
 * const r = loadRangeOf(img);
 * assert(r.start === 0x9020_0000 && r.len === 0x100);
 * ```
 */
export function loadRangeOf(img: ElfImage): LoadRange {
  const loads = img.segments.filter((s) => s.type === PT_LOAD && s.memsz > 0);
  const code = loads.filter((s) => (s.flags & PF_X) !== 0);
  let lo = Infinity, hi = -Infinity;
  for (const s of code.length > 0 ? code : loads) {
    lo = Math.min(lo, s.paddr);
    hi = Math.max(hi, s.paddr + s.memsz);
  }
  return lo === Infinity ? { start: 0, len: 0 } : { start: lo, len: hi - lo };
}

/**
 * One QEMU `virt` machine with host-shared RAM: harts wait until the host
 * starts them (boot `"sbi"`: in SBI HSM STOPPED; boot `"direct"`: parked in
 * the boot stub).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QemuRv64, qemuAvailable } from "./qemu.ts";
 * if (qemuAvailable()) {
 *   const q = await QemuRv64.launch({ smp: 2 }); // OpenSBI + the SBI agent on hart 0
 *   try {
 *     assert(q.hartStatus(1).state === "stopped");
 *     q.ram.setU32(0x9020_0000, 0x0000_006f); // "j ." : a one-instruction firmware
 *     await q.startHart(1, 0x9020_0000, { start: 0x9020_0000, len: 4 });
 *     assert(q.hartStatus(1).state === "running");
 *     await q.stop(); // system_reset: the agent comes back, hart 1 is stopped again
 *     assert(q.hartStatus(1).state === "stopped" && q.hartStatus(1).boots === 2);
 *     assert((await q.serialOutput()).includes("OpenSBI"));
 *   } finally {
 *     await q.close();
 *   }
 * }
 * ```
 */
export class QemuRv64 {
  /** Usable guest RAM, `[0x80000000, end - 2 MiB)`, mapped from the RAM file. */
  readonly ram: MemoryRegion;
  /** The RAM file. */
  readonly ramFile: string;
  /** Guest RAM size in bytes. */
  readonly ramSize: number;
  /** Harts. */
  readonly smp: number;
  /** How QEMU booted and how harts are started. */
  readonly boot: QemuBootMode;
  /** `-bios` of the `"sbi"` boot (`"none"` for `"direct"`). */
  readonly bios: string;
  /** The QMP socket path. */
  readonly qmpPath: string;
  /** The guest UART as a UNIX socket (QEMU listens; one client at a time). */
  readonly consolePath: string;
  /** File that receives every byte the guest UART prints. */
  readonly consoleLog: string;
  /** QEMU's process id. */
  readonly pid: number;
  #child: Deno.ChildProcess;
  #qmp: QmpClient;
  #workDir: string;
  #ownWorkDir: boolean;
  #ownFiles: string[];
  #stderr: { text: string };
  #exit: { status: Deno.CommandStatus | undefined };
  #closed = false;
  readonly #alive: AliveCheck = (what) => this.#checkAlive(what);

  private constructor(init: {
    ram: MemoryRegion;
    ramFile: string;
    ramSize: number;
    smp: number;
    boot: QemuBootMode;
    bios: string;
    qmpPath: string;
    consolePath: string;
    consoleLog: string;
    child: Deno.ChildProcess;
    qmp: QmpClient;
    workDir: string;
    ownWorkDir: boolean;
    ownFiles: string[];
    stderr: { text: string };
    exit: { status: Deno.CommandStatus | undefined };
  }) {
    this.ram = init.ram;
    this.ramFile = init.ramFile;
    this.ramSize = init.ramSize;
    this.smp = init.smp;
    this.boot = init.boot;
    this.bios = init.bios;
    this.qmpPath = init.qmpPath;
    this.consolePath = init.consolePath;
    this.consoleLog = init.consoleLog;
    this.pid = init.child.pid;
    this.#child = init.child;
    this.#qmp = init.qmp;
    this.#workDir = init.workDir;
    this.#ownWorkDir = init.ownWorkDir;
    this.#ownFiles = init.ownFiles;
    this.#stderr = init.stderr;
    this.#exit = init.exit;
  }

  /**
   * Create the RAM file, spawn QEMU stopped, connect QMP, `cont`, and wait
   * until the machine waits for starts: boot `"sbi"`: the agent's magic is up
   * on hart 0 and every other hart is in HSM STOPPED; boot `"direct"`: every
   * hart is parked in the stub (written at RAM offset 0 first).
   *
   * Errors: `QEMU_BAD_OPTION`, `QEMU_RAM_FILE` (ConfigError), `QEMU_NOT_FOUND`, `QEMU_EXITED`
   * (QEMU quit; the message carries its stderr), `QEMU_AGENT_DOWN` / `QEMU_NOT_PARKED`
   * ({@linkcode TimeoutError} cause), QMP errors, OsError from mapping or writing files.
   */
  static async launch(options: QemuRv64Options = {}): Promise<QemuRv64> {
    const machine = checkMachineOptions(options);
    if (!qemuAvailable(machine.binary)) {
      throw new AmpError(
        "QEMU_NOT_FOUND",
        `${machine.binary} not found (install qemu-system-misc)`,
      );
    }
    const paths = await launchPaths(options);
    const l = await launchQemu(machine, paths, options.extraArgs ?? []);
    try {
      const q = new QemuRv64({
        ram: l.ram,
        ramFile: paths.ramFile,
        ramSize: machine.ramSize,
        smp: machine.smp,
        boot: machine.boot,
        bios: machine.bios,
        qmpPath: paths.qmpPath,
        consolePath: paths.consolePath,
        consoleLog: paths.consoleLog,
        child: l.child,
        qmp: l.qmp,
        workDir: paths.workDir,
        ownWorkDir: paths.ownWorkDir,
        ownFiles: l.ownFiles,
        stderr: l.stderr,
        exit: l.exit,
      });
      const left = Math.max(1, machine.timeoutMs - (performance.now() - l.t0));
      // The mailboxes were zeroed before QEMU started: any boot count moved.
      await waitHartsReady(q, new Array(machine.smp).fill(0), left, "after start", q.#alive);
      return q;
    } catch (e) {
      l.undo();
      throw e;
    }
  }

  /**
   * Resolves with a one-line description once QEMU's process exits (its exit
   * code, or the signal that killed it).
   */
  whenExited(): Promise<string> {
    return this.#child.status.then((s) =>
      s.signal
        ? `QEMU (pid ${this.pid}) was killed by ${s.signal}`
        : `QEMU (pid ${this.pid}) exited with code ${s.code}`
    );
  }

  /** The work directory (QMP socket, console socket; removed by close() when amp made it). */
  get workDir(): string {
    return this.#workDir;
  }

  /** True once QEMU's process has exited. */
  get exited(): boolean {
    return this.#exit.status !== undefined;
  }

  /** What QEMU wrote on stderr (first 64 KiB). */
  get stderr(): string {
    return this.#stderr.text;
  }

  /** @deprecated The console log: use {@linkcode consoleLog}. */
  get serialPath(): string {
    return this.consoleLog;
  }

  /** The first guest address the host may use for its own data (see {@linkcode qemuReservedEnd}). */
  get reservedEnd(): number {
    return qemuReservedEnd(this.boot);
  }

  /**
   * A named sub-region of {@linkcode ram}, e.g. a machine profile's
   * `"90100000.shm"`. Throws `MEM_OUT_OF_BOUNDS` if it leaves usable RAM.
   */
  region(pa: number, size: number, name: string): MemoryRegion {
    return this.ram.sub(pa, size, name);
  }

  /**
   * What the SBI agent reports about itself and the SBI (boot `"sbi"`; throws
   * `QEMU_BOOT_MODE` for `"direct"`).
   */
  agentInfo(): AgentInfo {
    if (this.boot !== "sbi") {
      throw new AmpError(
        "QEMU_BOOT_MODE",
        `QEMU (pid ${this.pid}) booted "${this.boot}": there is no SBI agent`,
      );
    }
    return readAgentInfo(this.ram);
  }

  /** The state of hart `hart`: the agent's status table (sbi) or the hart's stub mailbox (direct). */
  hartStatus(hart: number): HartStatus {
    this.#checkHart(hart);
    return readHartStatus(this, hart);
  }

  /**
   * Start hart `hart` at `entry` with `a0` = hart id and `a1` = `arg`, after
   * `load` (the firmware's loaded range; see {@linkcode loadRangeOf}) was
   * re-written from inside the guest. Boot `"sbi"`: the agent calls SBI HSM
   * `hart_start(hart, entry, arg)` and this resolves once the hart reads
   * STARTED; the firmware runs in S-mode. Boot `"direct"`: the stub jumps in
   * M-mode and this resolves once it reports that it jumped.
   *
   * Errors: `QEMU_BAD_HART`, `QEMU_HART_BUSY` (not stopped/parked: stop()
   * first; or the hart runs the agent), `QEMU_BAD_ENTRY` /
   * `QEMU_BAD_LOAD_RANGE` (outside usable RAM or over the stub / OpenSBI and
   * the agent), `QEMU_AGENT_DOWN`, `QEMU_SBI_ERROR` (the SBI refused
   * `hart_start`; the message names the SBI error), `QEMU_EXITED`,
   * {@linkcode TimeoutError}.
   */
  async startHart(
    hart: number,
    entry: number,
    load: LoadRange = { start: entry, len: 0 },
    arg = 0n,
    timeoutMs = 5000,
  ): Promise<void> {
    this.#checkOpen();
    this.#checkHart(hart);
    checkStart(hart, entry, load, this.reservedEnd, this.ram.end);
    const range = { start: load.len > 0 ? load.start : entry, len: load.len };
    const start = this.boot === "sbi" ? startSbiHart : startParkedHart;
    await start(this, hart, entry, range, arg, timeoutMs, this.#alive);
  }

  /**
   * Stop every hart: `system_reset` over QMP, then wait until the machine waits
   * for starts again (boot `"sbi"`: the agent is back — its `boots` moved — and
   * every other hart is in HSM STOPPED; boot `"direct"`: every hart parked in
   * the stub again). Memory is kept.
   *
   * Errors: `QEMU_AGENT_DOWN` / `QEMU_NOT_PARKED`, `QEMU_EXITED`, QMP errors,
   * {@linkcode TimeoutError}.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    this.#checkOpen();
    const before = bootCounts(this);
    clearReady(this);
    await this.#qmp.execute("system_reset", undefined, timeoutMs);
    await waitHartsReady(this, before, timeoutMs, "after system_reset", this.#alive);
  }

  /**
   * Connect to the guest console and wait until QEMU has taken the
   * connection (QMP `query-chardev` no longer shows the console
   * "disconnected"). Until QEMU takes it, what the guest prints goes to the
   * console log only: connect this way before starting a hart whose first
   * lines are read from the socket.
   *
   * Errors: those of {@linkcode QemuConsole.connect}; `QEMU_CONSOLE` (with a
   * {@linkcode TimeoutError} cause) when QEMU has not taken the connection
   * within `options.timeoutMs` (default 5000); `QEMU_CLOSED`.
   */
  async connectConsole(options: ConsoleConnectOptions = {}): Promise<QemuConsole> {
    this.#checkOpen();
    const timeoutMs = options.timeoutMs ?? 5000;
    const con = await QemuConsole.connect(this.consolePath, options);
    try {
      const end = performance.now() + timeoutMs;
      while (!(await this.#consoleTaken())) {
        if (performance.now() > end) {
          throw new AmpError(
            "QEMU_CONSOLE",
            `QEMU did not take the console connection on ${this.consolePath} within ${timeoutMs} ms`,
            { cause: new TimeoutError("QEMU taking the console connection", timeoutMs) },
          );
        }
        await sleep(2);
      }
      return con;
    } catch (e) {
      con.close();
      throw e;
    }
  }

  /** QEMU lists the console chardev with a client (its name lacks the "disconnected:" prefix). */
  async #consoleTaken(): Promise<boolean> {
    const list = await this.#qmp.execute("query-chardev");
    const con = Array.isArray(list)
      ? list.find((c) => (c as { label?: unknown })?.label === CONSOLE_CHARDEV)
      : undefined;
    const name = (con as { filename?: unknown } | undefined)?.filename;
    if (typeof name !== "string") {
      throw new AmpError(
        "QEMU_CONSOLE",
        `QEMU's query-chardev lists no console chardev "${CONSOLE_CHARDEV}"`,
      );
    }
    return !name.startsWith("disconnected:");
  }

  /** Everything the guest printed on its UART so far (the console log). */
  async serialOutput(): Promise<string> {
    try {
      return await Deno.readTextFile(this.consoleLog);
    } catch {
      return "";
    }
  }

  /**
   * Quit QEMU (QMP `quit`, SIGKILL if it lingers), unmap the RAM and remove
   * the RAM file, the sockets, the agent image and (when amp made it) the work
   * directory. A second call is harmless.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#exit.status === undefined) {
      try {
        await this.#qmp.execute("quit", undefined, 2000);
      } catch {
        // The connection drops as QEMU quits, or QEMU is stuck: SIGKILL below.
      }
      await waitUntil(() => this.#exit.status !== undefined, { deadlineMs: 3000 });
      if (this.#exit.status === undefined) {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
        await this.#child.status.catch(() => {});
      }
    }
    this.#qmp.close();
    this.ram.close();
    removeQuietly(this.ramFile);
    removeQuietly(this.qmpPath);
    for (const f of this.#ownFiles) removeQuietly(f);
    if (this.#ownWorkDir) removeQuietly(this.#workDir, true);
  }

  /** `close()` for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkHart(hart: number): void {
    if (!Number.isSafeInteger(hart) || hart < 0 || hart >= this.smp) {
      throw new ConfigError(
        "QEMU_BAD_HART",
        `Hart ${hart} does not exist: this machine has harts 0..${this.smp - 1}`,
      );
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new AmpError("QEMU_CLOSED", `QEMU (pid ${this.pid}) was closed`);
    this.#checkAlive("");
  }

  #checkAlive(what: string): void {
    const s = this.#exit.status;
    if (s !== undefined) {
      throw new AmpError(
        "QEMU_EXITED",
        `QEMU (pid ${this.pid}) exited with code ${s.code}${
          what ? " " + what : ""
        }: ${this.#stderr.text.trim()}`,
      );
    }
  }
}
