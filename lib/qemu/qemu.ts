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

import { AmpError, ConfigError, MemoryBoundsError, TimeoutError } from "../errors.ts";
import {
  AG_ACK_SEQ,
  AG_BOOTS,
  AG_ENTRY,
  AG_ERROR,
  AG_HART,
  AG_LOAD_LEN,
  AG_LOAD_START,
  AG_MAGIC,
  AG_OP,
  AG_OPAQUE,
  AG_REQ_SEQ,
  AGENT_MAGIC,
  AGENT_MAILBOX,
  AGENT_MAILBOX_SIZE,
  AGENT_OP_HART_START,
  agentImage,
  type AgentInfo,
  agentStatusAddress,
  AGS_ERROR,
  AGS_REFRESH,
  AGS_STATE,
  HSM_RESUME_PENDING,
  HSM_START_PENDING,
  HSM_STARTED,
  HSM_STOP_PENDING,
  HSM_STOPPED,
  HSM_SUSPEND_PENDING,
  HSM_SUSPENDED,
  hsmStateName,
  readAgentInfo,
  sbiErrorName,
} from "./agent.ts";
import type { ElfImage } from "../elf/types.ts";
import { PF_X, PT_LOAD } from "../elf/types.ts";
import { mapFile } from "../mem/mmap.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import { waitUntil } from "../util/wait.ts";
import {
  bootStubImage,
  GO_MAGIC,
  MAILBOX_BASE,
  MAILBOX_HARTS,
  MAILBOX_SIZE,
  mailboxAddress,
  MB_ARG,
  MB_BOOTS,
  MB_ENTRY,
  MB_GO,
  MB_LOAD_LEN,
  MB_LOAD_START,
  MB_STATE,
  STATE_PARKED,
  STATE_RUNNING,
} from "./boot_stub.ts";
import { QmpClient } from "./qmp.ts";
import { sleep } from "../util/wait.ts";
import { orphanProofCommand } from "../util/orphans.ts";

/** Guest physical address of RAM on the `virt` board. */
export const QEMU_RAM_BASE = 0x8000_0000;
/** Default guest RAM size (512 MiB: covers 0x80000000..0xA0000000). */
export const QEMU_DEFAULT_RAM_SIZE = 0x2000_0000;
/** Top of RAM QEMU uses for its device tree; never host data. */
export const QEMU_DTB_RESERVE = 0x20_0000;
/** RAM below this address belongs to the boot stub and its mailboxes (boot `"direct"`). */
export const QEMU_STUB_END = MAILBOX_BASE + MAILBOX_HARTS * MAILBOX_SIZE;
/** RAM below this address belongs to OpenSBI, the SBI agent and its mailbox (boot `"sbi"`). */
export const QEMU_SBI_RESERVED_END = AGENT_MAILBOX + AGENT_MAILBOX_SIZE;
/** Default binary. */
export const QEMU_BINARY = "qemu-system-riscv64";
/** Default `-bios` of the `"sbi"` boot: QEMU's bundled OpenSBI `fw_dynamic`. */
export const QEMU_DEFAULT_BIOS = "default";

/**
 * How QEMU boots and how harts are started: `"sbi"` = OpenSBI + the SBI agent,
 * harts started in S-mode through SBI HSM; `"direct"` = `-bios none` + the
 * M-mode boot stub.
 */
export type QemuBootMode = "sbi" | "direct";
/** Every boot mode. */
export const QEMU_BOOT_MODES: readonly QemuBootMode[] = ["sbi", "direct"];

/**
 * The first guest address the host may use for its own data in boot mode
 * `boot` (everything below belongs to the boot stub, or to OpenSBI and the
 * agent).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qemuReservedEnd } from "./qemu.ts";
 * assert(qemuReservedEnd("sbi") === 0x8040_1000);
 * assert(qemuReservedEnd("direct") === 0x8000_1200);
 * ```
 */
export function qemuReservedEnd(boot: QemuBootMode): number {
  return boot === "sbi" ? QEMU_SBI_RESERVED_END : QEMU_STUB_END;
}

/** Longest UNIX socket path (sun_path holds 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

/** Options of {@linkcode QemuRv64.launch}. */
export interface QemuRv64Options {
  /** QEMU binary (default `qemu-system-riscv64`, looked up in PATH). */
  binary?: string;
  /** Number of harts, 1..8 (default 2). */
  smp?: number;
  /** Guest RAM bytes: a multiple of 2 MiB, 16 MiB..2 GiB (default 512 MiB). */
  ramSize?: number;
  /**
   * RAM file path (default `/dev/shm/amp-qemu-<pid>-<n>-<random>`). It must not exist: it is
   * created here and removed by close().
   */
  ramFile?: string;
  /**
   * Directory for the QMP and console sockets, the agent image and the console
   * log (default: a fresh temp dir, removed by close()).
   */
  workDir?: string;
  /** QMP socket path (default `<workDir>/qmp.sock`); removed by close(). */
  qmpPath?: string;
  /** How QEMU boots and starts harts (default `"sbi"`). */
  boot?: QemuBootMode;
  /** `-bios` of the `"sbi"` boot: `"default"` (QEMU's OpenSBI) or a firmware file. */
  bios?: string;
  /**
   * File that receives every byte the guest UART prints (default
   * `<workDir>/console.log`; appended to, kept by close() unless it is in the
   * temporary work dir).
   */
  consoleLog?: string;
  /** Deadline for QEMU to come up with every hart waiting (default 15000 ms). */
  timeoutMs?: number;
  /** Extra QEMU arguments, appended. */
  extraArgs?: string[];
}

/** A range of guest memory the stub or agent re-writes before a start (see {@linkcode loadRangeOf}). */
export interface LoadRange {
  /** First guest address. */
  start: number;
  /** Length in bytes (0: nothing). */
  len: number;
}

/**
 * A hart's state. Boot `"sbi"`: what SBI HSM `hart_get_status` says
 * (`running` STARTED, `stopped` STOPPED, `starting` START/RESUME_PENDING,
 * `stopping` STOP_PENDING, `suspended` SUSPENDED/SUSPEND_PENDING). Boot
 * `"direct"`: `parked` in the stub or `running` after a start. `unknown`:
 * neither (before boot, during a reset, or the SBI call failed).
 */
export type HartState =
  | "running"
  | "stopped"
  | "starting"
  | "stopping"
  | "suspended"
  | "parked"
  | "unknown";

/** The SBI view of a hart, from the agent's status table (boot `"sbi"`). */
export interface HsmStatus {
  /** HSM state value (0xFFFFFFFF when `hart_get_status` failed). */
  state: number;
  /** Its SBI name, e.g. `"STOPPED"`. */
  name: string;
  /** SBI error of the last `hart_get_status` (0 ok). */
  error: number;
  /** Times the agent refreshed the entry. */
  refreshes: number;
}

/** What the machine says about one hart. */
export interface HartStatus {
  hart: number;
  state: HartState;
  /**
   * Boot `"sbi"`: times the agent started (boot and every reset). Boot
   * `"direct"`: times the stub was entered on this hart (resets + 1).
   */
  boots: number;
  /** Boot `"sbi"` only: the agent's status table entry. */
  hsm?: HsmStatus;
}

const HSM_TO_STATE: Record<number, HartState> = {
  [HSM_STARTED]: "running",
  [HSM_STOPPED]: "stopped",
  [HSM_START_PENDING]: "starting",
  [HSM_STOP_PENDING]: "stopping",
  [HSM_SUSPENDED]: "suspended",
  [HSM_SUSPEND_PENDING]: "suspended",
  [HSM_RESUME_PENDING]: "starting",
};

let fileCounter = 0;

/**
 * True when `binary` (default `qemu-system-riscv64`) is an executable file in
 * PATH (or the path given). Needs `--allow-env` and `--allow-read`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qemuAvailable } from "./qemu.ts";
 * assert(typeof qemuAvailable() === "boolean");
 * assert(qemuAvailable("/nonexistent/qemu") === false);
 * ```
 */
export function qemuAvailable(binary = QEMU_BINARY): boolean {
  const candidates = binary.includes("/")
    ? [binary]
    : (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "").map((d) => `${d}/${binary}`);
  for (const c of candidates) {
    try {
      const st = Deno.statSync(c);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return true;
    } catch {
      // Not there: try the next directory.
    }
  }
  return false;
}

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

function checkInt(v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ConfigError(
      "QEMU_BAD_OPTION",
      `QEMU option ${what} = ${String(v)} is not an integer in ${min}..${max}`,
    );
  }
  return v;
}

function removeQuietly(path: string, recursive = false): void {
  try {
    Deno.removeSync(path, { recursive });
  } catch {
    // Already gone.
  }
}

function badPath(what: string, path: string, why: string): ConfigError {
  return new ConfigError(
    "QEMU_BAD_OPTION",
    `QEMU option ${what} = ${JSON.stringify(path)} cannot be passed to QEMU (${why})`,
  );
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
    const binary = options.binary ?? QEMU_BINARY;
    const smp = checkInt(options.smp ?? 2, 1, MAILBOX_HARTS, "smp");
    const ramSize = checkInt(
      options.ramSize ?? QEMU_DEFAULT_RAM_SIZE,
      0x100_0000,
      0x8000_0000,
      "ramSize",
    );
    if (ramSize % QEMU_DTB_RESERVE !== 0) {
      throw new ConfigError(
        "QEMU_BAD_OPTION",
        `QEMU option ramSize = ${hex(ramSize)} is not a multiple of 2 MiB`,
      );
    }
    const boot = options.boot ?? "sbi";
    if (!QEMU_BOOT_MODES.includes(boot)) {
      throw new ConfigError(
        "QEMU_BAD_OPTION",
        `QEMU option boot = ${JSON.stringify(boot)} is not one of ${QEMU_BOOT_MODES.join(", ")}`,
      );
    }
    if (boot === "direct" && options.bios !== undefined && options.bios !== "none") {
      throw new ConfigError(
        "QEMU_BAD_OPTION",
        `QEMU option bios = ${
          JSON.stringify(options.bios)
        } needs boot "sbi": boot "direct" runs with -bios none`,
      );
    }
    const bios = boot === "direct" ? "none" : options.bios ?? QEMU_DEFAULT_BIOS;
    if (boot === "sbi" && bios === "none") {
      throw new ConfigError(
        "QEMU_BAD_OPTION",
        `QEMU option bios = "none" leaves boot "sbi" without an SBI (use boot "direct")`,
      );
    }
    if (!bios || /[,\0\n]/.test(bios)) throw badPath("bios", bios, 'no ",", newline or NUL');
    const timeoutMs = checkInt(options.timeoutMs ?? 15000, 1, 600_000, "timeoutMs");
    if (!qemuAvailable(binary)) {
      throw new AmpError("QEMU_NOT_FOUND", `${binary} not found (install qemu-system-misc)`);
    }
    const ownWorkDir = options.workDir === undefined;
    const workDir = options.workDir ?? await Deno.makeTempDir({ prefix: "amp-qemu-" });
    const ramFile = options.ramFile ??
      `/dev/shm/amp-qemu-${Deno.pid}-${++fileCounter}-${Math.floor(Math.random() * 1e9)}`;
    const qmpPath = options.qmpPath ?? `${workDir}/qmp.sock`;
    const consolePath = `${workDir}/console.sock`;
    const consoleLog = options.consoleLog ?? `${workDir}/console.log`;
    const agentPath = `${workDir}/agent.bin`;
    const paths: [string, string][] = [
      ["ramFile", ramFile],
      ["workDir", workDir],
      ["qmpPath", qmpPath],
      ["consoleLog", consoleLog],
    ];
    for (const [what, path] of paths) {
      // QEMU's option syntax gives "," a meaning; ":" would split the -qmp value.
      let why = "";
      if (!path || /[,\0\n]/.test(path)) why = 'no ",", newline or NUL';
      else if ((what === "qmpPath" || what === "workDir") && path.includes(":")) {
        why = 'no ":" in socket paths';
      } else if (
        (what === "qmpPath" && path.length > MAX_SOCKET_PATH) ||
        (what === "workDir" && consolePath.length > MAX_SOCKET_PATH)
      ) {
        why = `a UNIX socket path of at most ${MAX_SOCKET_PATH} bytes`;
      }
      if (why) {
        if (ownWorkDir) removeQuietly(workDir, true);
        throw badPath(what, path, why);
      }
    }
    const cleanup: (() => void)[] = [];
    const undo = () => {
      for (const f of cleanup.reverse()) {
        try {
          f();
        } catch {
          // Best effort while failing.
        }
      }
    };
    if (ownWorkDir) cleanup.push(() => removeQuietly(workDir, true));
    const ownFiles = [consolePath];
    try {
      // A fresh, sized file before QEMU starts, so both sides map the same inode.
      let f: Deno.FsFile;
      try {
        f = Deno.openSync(ramFile, { read: true, write: true, createNew: true, mode: 0o600 });
      } catch (e) {
        throw new ConfigError(
          "QEMU_RAM_FILE",
          `Cannot create the guest RAM file ${ramFile}: ${(e as Error).message}`,
          { cause: e },
        );
      }
      cleanup.push(() => removeQuietly(ramFile));
      try {
        f.truncateSync(ramSize);
      } finally {
        f.close();
      }
      const ram = mapFile(ramFile, {
        base: QEMU_RAM_BASE,
        size: ramSize - QEMU_DTB_RESERVE,
        name: "qemu-ram",
      });
      cleanup.push(() => ram.close());
      let bootArgs: string[];
      if (boot === "sbi") {
        ram.fill(AGENT_MAILBOX, AGENT_MAILBOX_SIZE, 0);
        Deno.writeFileSync(agentPath, agentImage());
        ownFiles.push(agentPath);
        cleanup.push(() => removeQuietly(agentPath));
        bootArgs = ["-bios", bios, "-kernel", agentPath];
      } else {
        ram.write(QEMU_RAM_BASE, bootStubImage());
        ram.fill(MAILBOX_BASE, MAILBOX_HARTS * MAILBOX_SIZE, 0);
        bootArgs = ["-bios", "none"];
      }

      const mib = ramSize / 0x10_0000;
      const args = [
        "-machine",
        "virt",
        "-smp",
        String(smp),
        "-m",
        `${mib}M`,
        "-object",
        `memory-backend-file,id=mem,size=${mib}M,mem-path=${ramFile},share=on`,
        "-machine",
        "memory-backend=mem",
        ...bootArgs,
        "-display",
        "none",
        "-nic",
        "none",
        "-monitor",
        "none",
        "-chardev",
        `socket,id=con0,path=${consolePath},server=on,wait=off,logfile=${consoleLog},logappend=on`,
        "-serial",
        "chardev:con0",
        "-qmp",
        `unix:${qmpPath},server=on,wait=off`,
        "-S",
        ...(options.extraArgs ?? []),
      ];
      let child: Deno.ChildProcess;
      try {
        // Through setpriv --pdeathsig: QEMU dies with this process, even on SIGKILL.
        const [cmd, ...cmdArgs] = orphanProofCommand(binary, args);
        child = new Deno.Command(cmd, {
          args: cmdArgs,
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
      } catch (e) {
        throw new AmpError("QEMU_NOT_FOUND", `Cannot run ${binary}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      const exit: { status: Deno.CommandStatus | undefined } = { status: undefined };
      const stderr = { text: "" };
      const exited = child.status.then((s) => {
        exit.status = s;
      });
      cleanup.push(() => {
        if (exit.status === undefined) {
          try {
            child.kill("SIGKILL");
          } catch {
            // Exited meanwhile.
          }
        }
      });
      cleanup.push(() => removeQuietly(consolePath));
      const stderrDone = (async () => {
        const dec = new TextDecoder();
        for await (const chunk of child.stderr) {
          if (stderr.text.length < 65536) stderr.text += dec.decode(chunk, { stream: true });
        }
      })().catch(() => {});
      const died = () => {
        if (exit.status !== undefined) {
          throw new AmpError(
            "QEMU_EXITED",
            `${binary} exited with code ${exit.status.code} while starting: ${stderr.text.trim()}`,
          );
        }
      };
      const t0 = performance.now();
      let qmp: QmpClient;
      try {
        qmp = await QmpClient.connect(qmpPath, { timeoutMs, onRetry: died });
      } catch (e) {
        // Give a quitting QEMU a moment so its own message explains the failure.
        await Promise.race([exited, sleep(200)]);
        await Promise.race([stderrDone, sleep(50)]);
        died();
        throw e;
      }
      cleanup.push(() => qmp.close());
      await qmp.execute("cont", undefined, timeoutMs);
      const q = new QemuRv64({
        ram,
        ramFile,
        ramSize,
        smp,
        boot,
        bios,
        qmpPath,
        consolePath,
        consoleLog,
        child,
        qmp,
        workDir,
        ownWorkDir,
        ownFiles,
        stderr,
        exit,
      });
      const left = Math.max(1, timeoutMs - (performance.now() - t0));
      // The mailboxes were zeroed before QEMU started: any boot count moved.
      await q.#waitReady(new Array(smp).fill(0), left, "after start");
      return q;
    } catch (e) {
      undo();
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
    if (this.boot === "direct") {
      const mb = mailboxAddress(hart);
      const st = this.ram.atomicLoadU32(mb + MB_STATE);
      return {
        hart,
        state: st === STATE_PARKED ? "parked" : st === STATE_RUNNING ? "running" : "unknown",
        boots: this.ram.atomicLoadU32(mb + MB_BOOTS),
      };
    }
    const ram = this.ram;
    const e = agentStatusAddress(hart);
    const hsm = ram.atomicLoadU32(e + AGS_STATE);
    const ready = ram.atomicLoadU32(AGENT_MAILBOX + AG_MAGIC) === AGENT_MAGIC;
    return {
      hart,
      state: ready ? HSM_TO_STATE[hsm] ?? "unknown" : "unknown",
      boots: ram.atomicLoadU32(AGENT_MAILBOX + AG_BOOTS),
      hsm: {
        state: hsm,
        name: hsmStateName(hsm),
        error: ram.atomicLoadU32(e + AGS_ERROR) | 0,
        refreshes: ram.atomicLoadU32(e + AGS_REFRESH),
      },
    };
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
    const lo = this.reservedEnd, hi = this.ram.end;
    if (!Number.isSafeInteger(entry) || entry < lo || entry >= hi || entry % 2 !== 0) {
      throw new MemoryBoundsError(
        "QEMU_BAD_ENTRY",
        `Cannot start hart ${hart} at ${hex(entry)}: not a 2-byte aligned address in [${hex(lo)}, ${
          hex(hi)
        })`,
      );
    }
    const { start, len } = load;
    if (
      !Number.isSafeInteger(start) || !Number.isSafeInteger(len) || len < 0 ||
      (len > 0 && (start < lo || start > hi || len > hi - start))
    ) {
      throw new MemoryBoundsError(
        "QEMU_BAD_LOAD_RANGE",
        `Cannot start hart ${hart}: load range [${hex(start)}, +${hex(len)}) is not inside [${
          hex(lo)
        }, ${hex(hi)})`,
      );
    }
    if (this.boot === "sbi") {
      await this.#startSbi(hart, entry, { start: len > 0 ? start : entry, len }, arg, timeoutMs);
      return;
    }
    const status = this.hartStatus(hart);
    if (status.state !== "parked") {
      throw new AmpError(
        "QEMU_HART_BUSY",
        `Cannot start hart ${hart}: it is ${status.state}, not parked in the boot stub (stop() first)`,
      );
    }
    const mb = mailboxAddress(hart);
    const ram = this.ram;
    ram.setU64(mb + MB_ENTRY, BigInt(entry));
    ram.setU64(mb + MB_ARG, BigInt.asUintN(64, arg));
    ram.setU64(mb + MB_LOAD_START, BigInt(len > 0 ? start : entry));
    ram.setU64(mb + MB_LOAD_LEN, BigInt(len));
    ram.atomicStoreU32(mb + MB_GO, GO_MAGIC); // last: releases the hart
    // The stub looks at `go` at least every 1 ms: a short synchronous spin usually
    // sees the answer without paying for timer round trips (several ms when busy).
    const ok = await waitUntil(() => {
      if (ram.atomicLoadU32(mb + MB_STATE) === STATE_RUNNING) return true;
      this.#checkAlive(`starting hart ${hart}`);
      return false;
    }, { deadlineMs: timeoutMs, spinUs: 2000, yieldUs: 0 });
    if (!ok) {
      ram.atomicStoreU32(mb + MB_GO, 0);
      throw new TimeoutError(`waiting for hart ${hart} to leave the boot stub`, timeoutMs);
    }
  }

  async #startSbi(
    hart: number,
    entry: number,
    load: LoadRange,
    arg: bigint,
    timeoutMs: number,
  ): Promise<void> {
    const ram = this.ram;
    const mb = AGENT_MAILBOX;
    const info = readAgentInfo(ram);
    if (!info.ready) {
      throw new AmpError(
        "QEMU_AGENT_DOWN",
        `Cannot start hart ${hart}: the SBI agent is not running (no magic at ${
          hex(mb)
        }; is the machine being reset?)`,
      );
    }
    if (hart === info.agentHart) {
      throw new AmpError(
        "QEMU_HART_BUSY",
        `Cannot start hart ${hart}: it runs the SBI agent (start another hart)`,
      );
    }
    const status = this.hartStatus(hart);
    if (status.state !== "stopped") {
      throw new AmpError(
        "QEMU_HART_BUSY",
        `Cannot start hart ${hart}: it is ${status.state} (SBI HSM ${
          status.hsm?.name ?? "?"
        }), not stopped (stop() first)`,
      );
    }
    const call = `SBI HSM hart_start(${hart}, ${hex(entry)}, 0x${
      BigInt.asUintN(64, arg).toString(16)
    })`;
    const seq = (ram.atomicLoadU32(mb + AG_REQ_SEQ) + 1) >>> 0;
    ram.setU32(mb + AG_OP, AGENT_OP_HART_START);
    ram.setU32(mb + AG_HART, hart);
    ram.setU64(mb + AG_ENTRY, BigInt(entry));
    ram.setU64(mb + AG_OPAQUE, BigInt.asUintN(64, arg));
    ram.setU64(mb + AG_LOAD_START, BigInt(load.start));
    ram.setU64(mb + AG_LOAD_LEN, BigInt(load.len));
    ram.atomicStoreU32(mb + AG_REQ_SEQ, seq); // last: the agent acts on it
    const t0 = performance.now();
    const abort = () => this.#checkAlive(`starting hart ${hart}`);
    // The agent looks at the mailbox at least every ~1 ms: spin briefly first.
    const answered = await waitUntil(
      () => ram.atomicLoadU32(mb + AG_ACK_SEQ) === seq || (abort(), false),
      { deadlineMs: timeoutMs, spinUs: 2000, yieldUs: 0 },
    );
    if (!answered) {
      throw new TimeoutError(
        `waiting for the SBI agent to answer ${call} (request ${seq})`,
        timeoutMs,
      );
    }
    const err = ram.atomicLoadU32(mb + AG_ERROR) | 0;
    if (err !== 0) {
      throw new AmpError(
        "QEMU_SBI_ERROR",
        `Cannot start hart ${hart}: ${call} failed with ${sbiErrorName(err)} (${err})`,
      );
    }
    const left = Math.max(1, timeoutMs - (performance.now() - t0));
    const started = await waitUntil(
      () =>
        ram.atomicLoadU32(agentStatusAddress(hart) + AGS_STATE) === HSM_STARTED || (abort(), false),
      { deadlineMs: left, spinUs: 2000, yieldUs: 0 },
    );
    if (!started) {
      throw new TimeoutError(
        `waiting for hart ${hart} to reach SBI HSM STARTED after ${call} (it is ${
          this.hartStatus(hart).hsm?.name
        })`,
        timeoutMs,
      );
    }
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
    const before = this.#bootCounts();
    if (this.boot === "sbi") {
      this.ram.atomicStoreU32(AGENT_MAILBOX + AG_MAGIC, 0);
    } else {
      for (let h = 0; h < this.smp; h++) {
        const mb = mailboxAddress(h);
        this.ram.atomicStoreU32(mb + MB_GO, 0);
        this.ram.atomicStoreU32(mb + MB_STATE, 0);
      }
    }
    await this.#qmp.execute("system_reset", undefined, timeoutMs);
    await this.#waitReady(before, timeoutMs, "after system_reset");
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

  /** Boot counters now: the agent's (sbi, one entry) or each hart's stub mailbox (direct). */
  #bootCounts(): number[] {
    if (this.boot === "sbi") return [this.ram.atomicLoadU32(AGENT_MAILBOX + AG_BOOTS)];
    return Array.from(
      { length: this.smp },
      (_, h) => this.ram.atomicLoadU32(mailboxAddress(h) + MB_BOOTS),
    );
  }

  async #waitReady(before: number[], timeoutMs: number, when: string): Promise<void> {
    const sbi = this.boot === "sbi";
    const ready = sbi
      ? () => {
        const info = readAgentInfo(this.ram);
        if (!info.ready || info.boots === before[0]) return false;
        for (let h = 0; h < this.smp; h++) {
          if (h !== info.agentHart && this.hartStatus(h).state !== "stopped") return false;
        }
        return true;
      }
      : () => {
        for (let h = 0; h < this.smp; h++) {
          const s = this.hartStatus(h);
          if (s.state !== "parked" || s.boots === before[h]) return false;
        }
        return true;
      };
    const ok = await waitUntil(() => {
      if (ready()) return true;
      this.#checkAlive(`waiting for the harts ${when}`);
      return false;
    }, { deadlineMs: timeoutMs, spinUs: 2000, yieldUs: 0 });
    if (ok) return;
    const states = Array.from({ length: this.smp }, (_, h) => {
      const s = this.hartStatus(h);
      return `hart ${h}: ${s.state}${s.hsm ? ` (HSM ${s.hsm.name})` : ""}`;
    }).join("; ");
    if (sbi) {
      const info = readAgentInfo(this.ram);
      throw new AmpError(
        "QEMU_AGENT_DOWN",
        `The SBI agent did not come up with the other harts stopped ${when} within ${timeoutMs} ms (magic ${
          info.ready ? "present" : "missing"
        }, boots ${info.boots} (was ${before[0]}), agent on hart ${info.agentHart}; ${states})`,
        { cause: new TimeoutError("waiting for the SBI agent", timeoutMs) },
      );
    }
    const boots = Array.from({ length: this.smp }, (_, h) => this.hartStatus(h).boots);
    throw new AmpError(
      "QEMU_NOT_PARKED",
      `Harts did not park in the boot stub ${when} within ${timeoutMs} ms (${states}; boots ${
        boots.join(", ")
      })`,
      { cause: new TimeoutError("waiting for parked harts", timeoutMs) },
    );
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
