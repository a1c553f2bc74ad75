/**
 * A remote RISC-V core on this machine: `qemu-system-riscv64 -machine virt`
 * whose guest RAM is a file in `/dev/shm` that the host maps too
 * (machines.md section 4).
 *
 * The host creates and sizes the RAM file, writes the boot stub at offset 0
 * (guest address 0x80000000, where QEMU's reset ROM jumps with `-bios none`),
 * starts QEMU stopped (`-S`), connects QMP and lets the guest run (`cont`):
 * every hart then parks in its mailbox ({@linkcode mailboxAddress}). Firmware
 * is loaded by writing the RAM file; {@linkcode QemuRv64.startHart} releases
 * one hart into it, {@linkcode QemuRv64.stop} resets the machine back to the
 * parked state, {@linkcode QemuRv64.close} quits QEMU and removes the files.
 *
 * File offset = guest address - 0x80000000. QEMU puts its device tree in the
 * top 2 MiB of RAM, so {@linkcode QemuRv64.ram} stops 2 MiB short of the end.
 *
 * @module
 */

import { AmpError, ConfigError, MemoryBoundsError, TimeoutError } from "../../errors.ts";
import type { ElfImage } from "../../elf/types.ts";
import { PF_X, PT_LOAD } from "../../elf/types.ts";
import { mapFile } from "../../mem/mmap.ts";
import { hex, type MemoryRegion } from "../../mem/region.ts";
import { waitUntil } from "./_wait.ts";
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
import { sleep } from "../../util/poll.ts";

/** Guest physical address of RAM on the `virt` board. */
export const QEMU_RAM_BASE = 0x8000_0000;
/** Default guest RAM size (512 MiB: covers 0x80000000..0xA0000000). */
export const QEMU_DEFAULT_RAM_SIZE = 0x2000_0000;
/** Top of RAM QEMU uses for its device tree; never host data. */
export const QEMU_DTB_RESERVE = 0x20_0000;
/** RAM below this address belongs to the boot stub and its mailboxes. */
export const QEMU_STUB_END = MAILBOX_BASE + MAILBOX_HARTS * MAILBOX_SIZE;
/** Default binary. */
export const QEMU_BINARY = "qemu-system-riscv64";

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
  /** Directory for the QMP socket and the serial log (default: a fresh temp dir, removed by close()). */
  workDir?: string;
  /** QMP socket path (default `<workDir>/qmp.sock`); removed by close(). */
  qmpPath?: string;
  /** Deadline for QEMU to come up with every hart parked (default 15000 ms). */
  timeoutMs?: number;
  /** Extra QEMU arguments, appended. */
  extraArgs?: string[];
}

/** A range of guest memory the stub re-writes before jumping (see {@linkcode loadRangeOf}). */
export interface LoadRange {
  /** First guest address. */
  start: number;
  /** Length in bytes (0: nothing). */
  len: number;
}

/** What a hart's mailbox says. */
export interface HartStatus {
  hart: number;
  /** `parked` in the stub, `running` after a start, `unknown` before the stub ran / during a reset. */
  state: "parked" | "running" | "unknown";
  /** Times the stub was entered on this hart (resets + 1). */
  boots: number;
}

let fileCounter = 0;

/**
 * True when `binary` (default `qemu-system-riscv64`) is an executable file in
 * PATH (or the path given). Needs `--allow-env` and `--allow-read`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qemuAvailable } from "./qemu_rv64.ts";
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
 * import { loadRangeOf } from "./qemu_rv64.ts";
 * import { buildElf } from "../../elf/writer.ts";
 * import { parseElf } from "../../elf/reader.ts";
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

/**
 * One QEMU `virt` machine with host-shared RAM and parked harts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QemuRv64, qemuAvailable } from "./qemu_rv64.ts";
 * if (qemuAvailable()) {
 *   const q = await QemuRv64.launch({ smp: 2 });
 *   try {
 *     assert(q.hartStatus(1).state === "parked");
 *     q.ram.setU32(0x9020_0000, 0x0000_006f); // "j ." : a one-instruction firmware
 *     await q.startHart(1, 0x9020_0000, { start: 0x9020_0000, len: 4 });
 *     assert(q.hartStatus(1).state === "running");
 *     await q.stop(); // system_reset: every hart parks again
 *     assert(q.hartStatus(1).state === "parked" && q.hartStatus(1).boots === 2);
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
  /** The QMP socket path. */
  readonly qmpPath: string;
  /** Where the guest UART's output goes. */
  readonly serialPath: string;
  /** QEMU's process id. */
  readonly pid: number;
  #child: Deno.ChildProcess;
  #qmp: QmpClient;
  #workDir: string;
  #ownWorkDir: boolean;
  #stderr: { text: string };
  #exit: { status: Deno.CommandStatus | undefined };
  #closed = false;

  private constructor(init: {
    ram: MemoryRegion;
    ramFile: string;
    ramSize: number;
    smp: number;
    qmpPath: string;
    serialPath: string;
    child: Deno.ChildProcess;
    qmp: QmpClient;
    workDir: string;
    ownWorkDir: boolean;
    stderr: { text: string };
    exit: { status: Deno.CommandStatus | undefined };
  }) {
    this.ram = init.ram;
    this.ramFile = init.ramFile;
    this.ramSize = init.ramSize;
    this.smp = init.smp;
    this.qmpPath = init.qmpPath;
    this.serialPath = init.serialPath;
    this.pid = init.child.pid;
    this.#child = init.child;
    this.#qmp = init.qmp;
    this.#workDir = init.workDir;
    this.#ownWorkDir = init.ownWorkDir;
    this.#stderr = init.stderr;
    this.#exit = init.exit;
  }

  /**
   * Create the RAM file, write the stub, spawn QEMU stopped, connect QMP,
   * `cont`, and wait until every hart is parked.
   *
   * Errors: `QEMU_BAD_OPTION`, `QEMU_RAM_FILE` (ConfigError), `QEMU_NOT_FOUND`, `QEMU_EXITED`
   * (QEMU quit; the message carries its stderr), `QEMU_NOT_PARKED`
   * ({@linkcode TimeoutError} cause), QMP errors, OsError from mapping.
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
    const timeoutMs = checkInt(options.timeoutMs ?? 15000, 1, 600_000, "timeoutMs");
    if (!qemuAvailable(binary)) {
      throw new AmpError("QEMU_NOT_FOUND", `${binary} not found (install qemu-system-misc)`);
    }
    const ownWorkDir = options.workDir === undefined;
    const workDir = options.workDir ?? await Deno.makeTempDir({ prefix: "amp-qemu-" });
    const ramFile = options.ramFile ??
      `/dev/shm/amp-qemu-${Deno.pid}-${++fileCounter}-${Math.floor(Math.random() * 1e9)}`;
    const qmpPath = options.qmpPath ?? `${workDir}/qmp.sock`;
    const serialPath = `${workDir}/serial.log`;
    for (const [what, path] of [["ramFile", ramFile], ["qmpPath", qmpPath], ["workDir", workDir]]) {
      // QEMU's option syntax gives "," a meaning; ":" would split -serial/-qmp values.
      if (!path || /[,\0\n]/.test(path) || (what !== "ramFile" && path.includes(":"))) {
        if (ownWorkDir) removeQuietly(workDir, true);
        throw new ConfigError(
          "QEMU_BAD_OPTION",
          `QEMU option ${what} = ${
            JSON.stringify(path)
          } cannot be passed to QEMU (no ",", newline or NUL; no ":" in socket or log paths)`,
        );
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
      ram.write(QEMU_RAM_BASE, bootStubImage());
      ram.fill(MAILBOX_BASE, MAILBOX_HARTS * MAILBOX_SIZE, 0);

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
        "-bios",
        "none",
        "-display",
        "none",
        "-nic",
        "none",
        "-monitor",
        "none",
        "-serial",
        `file:${serialPath}`,
        "-qmp",
        `unix:${qmpPath},server=on,wait=off`,
        "-S",
        ...(options.extraArgs ?? []),
      ];
      let child: Deno.ChildProcess;
      try {
        child = new Deno.Command(binary, {
          args,
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
        qmpPath,
        serialPath,
        child,
        qmp,
        workDir,
        ownWorkDir,
        stderr,
        exit,
      });
      const left = Math.max(1, timeoutMs - (performance.now() - t0));
      await q.#waitParked(new Array(smp).fill(0), left, "after start");
      return q;
    } catch (e) {
      undo();
      throw e;
    }
  }

  /** True once QEMU's process has exited. */
  get exited(): boolean {
    return this.#exit.status !== undefined;
  }

  /** What QEMU wrote on stderr (first 64 KiB). */
  get stderr(): string {
    return this.#stderr.text;
  }

  /**
   * A named sub-region of {@linkcode ram}, e.g. a machine profile's
   * `"90100000.shm"`. Throws `MEM_OUT_OF_BOUNDS` if it leaves usable RAM.
   */
  region(pa: number, size: number, name: string): MemoryRegion {
    return this.ram.sub(pa, size, name);
  }

  /** The state of hart `hart`'s mailbox. */
  hartStatus(hart: number): HartStatus {
    this.#checkHart(hart);
    const mb = mailboxAddress(hart);
    const st = this.ram.atomicLoadU32(mb + MB_STATE);
    return {
      hart,
      state: st === STATE_PARKED ? "parked" : st === STATE_RUNNING ? "running" : "unknown",
      boots: this.ram.atomicLoadU32(mb + MB_BOOTS),
    };
  }

  /**
   * Release a parked hart into `entry` with `a1 = arg`, after the stub re-wrote
   * `load` (the firmware's loaded range; see {@linkcode loadRangeOf}). Resolves
   * once the stub reports that it jumped.
   *
   * Errors: `QEMU_BAD_HART`, `QEMU_HART_BUSY` (not parked: stop() first),
   * `QEMU_BAD_ENTRY` / `QEMU_BAD_LOAD_RANGE` (outside usable RAM or over the
   * stub), `QEMU_EXITED`, {@linkcode TimeoutError}.
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
    const lo = QEMU_STUB_END, hi = this.ram.end;
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
    const ok = await waitUntil(() => ram.atomicLoadU32(mb + MB_STATE) === STATE_RUNNING, {
      timeoutMs,
      spinUs: 2000,
      abort: () => this.#checkAlive(`starting hart ${hart}`),
    });
    if (!ok) {
      ram.atomicStoreU32(mb + MB_GO, 0);
      throw new TimeoutError(`waiting for hart ${hart} to leave the boot stub`, timeoutMs);
    }
  }

  /**
   * Stop every hart: `system_reset` over QMP, then wait until each hart is
   * parked in the stub again (its `boots` counter moved). Memory is kept.
   *
   * Errors: `QEMU_NOT_PARKED`, `QEMU_EXITED`, QMP errors, {@linkcode TimeoutError}.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    this.#checkOpen();
    const before: number[] = [];
    for (let h = 0; h < this.smp; h++) {
      const mb = mailboxAddress(h);
      this.ram.atomicStoreU32(mb + MB_GO, 0);
      this.ram.atomicStoreU32(mb + MB_STATE, 0);
      before.push(this.ram.atomicLoadU32(mb + MB_BOOTS));
    }
    await this.#qmp.execute("system_reset", undefined, timeoutMs);
    await this.#waitParked(before, timeoutMs, "after system_reset");
  }

  /** The guest's UART output so far (the firmware mirrors its trace there when asked). */
  async serialOutput(): Promise<string> {
    try {
      return await Deno.readTextFile(this.serialPath);
    } catch {
      return "";
    }
  }

  /**
   * Quit QEMU (QMP `quit`, SIGKILL if it lingers), unmap the RAM and remove
   * the RAM file and the work directory. A second call is harmless.
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
      await waitUntil(() => this.#exit.status !== undefined, { timeoutMs: 3000 });
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
    if (this.#ownWorkDir) removeQuietly(this.#workDir, true);
  }

  /** `close()` for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #waitParked(before: number[], timeoutMs: number, when: string): Promise<void> {
    const parked = () => {
      for (let h = 0; h < this.smp; h++) {
        const s = this.hartStatus(h);
        if (s.state !== "parked" || s.boots === before[h]) return false;
      }
      return true;
    };
    const ok = await waitUntil(parked, {
      timeoutMs,
      spinUs: 2000,
      abort: () => this.#checkAlive(`waiting for parked harts ${when}`),
    });
    if (!ok) {
      const states = Array.from({ length: this.smp }, (_, h) => {
        const s = this.hartStatus(h);
        return `hart ${h}: ${s.state}, boots ${s.boots}`;
      }).join("; ");
      throw new AmpError(
        "QEMU_NOT_PARKED",
        `Harts did not park in the boot stub ${when} within ${timeoutMs} ms (${states})`,
        { cause: new TimeoutError("waiting for parked harts", timeoutMs) },
      );
    }
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
