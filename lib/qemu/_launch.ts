/**
 * Launching QEMU `virt` with host-shared RAM: checking the options, creating
 * and sizing the RAM file, writing the boot image (SBI agent or boot stub),
 * building QEMU's arguments, spawning it (orphan-proof, stderr kept),
 * connecting QMP and letting the guest run. Everything made on the way is
 * undone if a later step fails.
 *
 * @module
 */

import { AmpError, ConfigError } from "../errors.ts";
import { mapFile } from "../mem/mmap.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import { orphanProofCommand } from "../util/orphans.ts";
import { sleep } from "../util/wait.ts";
import { AGENT_MAILBOX, AGENT_MAILBOX_SIZE, agentImage } from "./agent.ts";
import { bootStubImage, MAILBOX_BASE, MAILBOX_HARTS, MAILBOX_SIZE } from "./boot_stub.ts";
import { QmpClient } from "./qmp.ts";
import {
  QEMU_BINARY,
  QEMU_BOOT_MODES,
  QEMU_DEFAULT_BIOS,
  QEMU_DEFAULT_RAM_SIZE,
  QEMU_DTB_RESERVE,
  QEMU_RAM_BASE,
  type QemuBootMode,
  type QemuRv64Options,
} from "./types.ts";

/** Longest UNIX socket path (sun_path holds 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

let fileCounter = 0;

/** QEMU's id of the console chardev (the UART's socket). */
export const CONSOLE_CHARDEV = "con0";

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
export function qemuAvailable(binary: string = QEMU_BINARY): boolean {
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

/** Remove a file (or a tree), ignoring one that is already gone. */
export function removeQuietly(path: string, recursive = false): void {
  try {
    Deno.removeSync(path, { recursive });
  } catch {
    // Already gone.
  }
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

function badPath(what: string, path: string, why: string): ConfigError {
  return new ConfigError(
    "QEMU_BAD_OPTION",
    `QEMU option ${what} = ${JSON.stringify(path)} cannot be passed to QEMU (${why})`,
  );
}

/** The checked machine options of a launch (no files touched yet). */
export interface MachineOptions {
  /** QEMU binary. */
  binary: string;
  /** Harts. */
  smp: number;
  /** Guest RAM bytes. */
  ramSize: number;
  /** Boot mode. */
  boot: QemuBootMode;
  /** `-bios` value (`"none"` for `"direct"`). */
  bios: string;
  /** Deadline for the whole launch. */
  timeoutMs: number;
}

/**
 * Check the machine options: `QEMU_BAD_OPTION` for a value out of range or a
 * boot/bios pair that cannot work.
 */
export function checkMachineOptions(options: QemuRv64Options): MachineOptions {
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
  return { binary, smp, ramSize, boot, bios, timeoutMs };
}

/** Where a launch puts its files. */
export interface LaunchPaths {
  /** Work directory (sockets, agent image, default console log). */
  workDir: string;
  /** True when the launch made `workDir` (close() removes it). */
  ownWorkDir: boolean;
  /** The guest RAM file. */
  ramFile: string;
  /** The QMP socket. */
  qmpPath: string;
  /** The guest UART socket. */
  consolePath: string;
  /** The guest UART log. */
  consoleLog: string;
  /** The SBI agent image (boot `"sbi"`). */
  agentPath: string;
}

/** Default guest RAM files: `amp-qemu-<pid>-<n>-<random>` in `/dev/shm`. */
const RAM_FILE_RE = /^amp-qemu-(\d+)-\d+-\d+$/;

/**
 * Remove the default guest RAM files (`amp-qemu-<pid>-...` in `dir`) of
 * processes that no longer exist: a launcher killed before it could clean
 * up (QEMU itself dies with it) leaves its RAM file, up to the guest's RAM
 * size, behind. A pid that runs (or was reused) keeps its files. Returns the
 * paths removed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweepStaleRamFiles } from "./_launch.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/amp-qemu-${Deno.pid}-1-7`, new Uint8Array());
 * await Deno.writeFile(`${dir}/amp-qemu-999999999-1-7`, new Uint8Array());
 * assert.deepEqual(sweepStaleRamFiles(dir), [`${dir}/amp-qemu-999999999-1-7`]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function sweepStaleRamFiles(dir = "/dev/shm", procDir = "/proc"): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = RAM_FILE_RE.exec(name);
    if (!m) continue;
    try {
      Deno.statSync(`${procDir}/${m[1]}`);
      continue; // its process runs
    } catch { /* gone */ }
    try {
      Deno.removeSync(`${dir}/${name}`);
      removed.push(`${dir}/${name}`);
    } catch { /* raced with another sweeper, or not ours to remove */ }
  }
  return removed;
}

/**
 * Choose the launch's paths (making a temporary work dir unless one is
 * given) and check that QEMU's option syntax can carry them: no `,`, newline
 * or NUL anywhere, no `:` in socket paths, sockets within `sun_path`.
 */
export async function launchPaths(options: QemuRv64Options): Promise<LaunchPaths> {
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? await Deno.makeTempDir({ prefix: "amp-qemu-" });
  if (options.ramFile === undefined) sweepStaleRamFiles();
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
  return { workDir, ownWorkDir, ramFile, qmpPath, consolePath, consoleLog, agentPath };
}

/**
 * QEMU's command line (without the binary): the `virt` board with `smp` harts,
 * its RAM as a shared file backend, `bootArgs`, the UART on a socket plus a
 * log, QMP on a socket, stopped (`-S`), then `extraArgs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qemuArgs } from "./_launch.ts";
 * const args = qemuArgs({ smp: 2, ramSize: 0x2000_0000 }, {
 *   ramFile: "/dev/shm/r", qmpPath: "/t/qmp.sock", consolePath: "/t/c.sock", consoleLog: "/t/c.log",
 * }, ["-bios", "none"], []);
 * assert(args.includes("memory-backend-file,id=mem,size=512M,mem-path=/dev/shm/r,share=on"));
 * assert.equal(args.at(-1), "-S");
 * ```
 */
export function qemuArgs(
  m: Pick<MachineOptions, "smp" | "ramSize">,
  p: Pick<LaunchPaths, "ramFile" | "qmpPath" | "consolePath" | "consoleLog">,
  bootArgs: readonly string[],
  extraArgs: readonly string[],
): string[] {
  const mib = m.ramSize / 0x10_0000;
  return [
    "-machine",
    "virt",
    "-smp",
    String(m.smp),
    "-m",
    `${mib}M`,
    "-object",
    `memory-backend-file,id=mem,size=${mib}M,mem-path=${p.ramFile},share=on`,
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
    `socket,id=${CONSOLE_CHARDEV},path=${p.consolePath},server=on,wait=off,logfile=${p.consoleLog},logappend=on`,
    "-serial",
    `chardev:${CONSOLE_CHARDEV}`,
    "-qmp",
    `unix:${p.qmpPath},server=on,wait=off`,
    "-S",
    ...extraArgs,
  ];
}

/** A QEMU process that runs with its guest released (`cont` sent), harts not yet checked. */
export interface LaunchedQemu {
  /** The checked machine options. */
  machine: MachineOptions;
  /** Its paths. */
  paths: LaunchPaths;
  /** Usable guest RAM, mapped. */
  ram: MemoryRegion;
  /** The process. */
  child: Deno.ChildProcess;
  /** The QMP connection. */
  qmp: QmpClient;
  /** Files close() removes besides the RAM file and the QMP socket. */
  ownFiles: string[];
  /** The first 64 KiB of QEMU's stderr, filled as it comes. */
  stderr: { text: string };
  /** QEMU's exit status, set once it exits. */
  exit: { status: Deno.CommandStatus | undefined };
  /** When the QMP connection started (the launch deadline counts from here). */
  t0: number;
  /** Undo everything the launch made (kill QEMU, unmap, remove files); best effort. */
  undo: () => void;
}

/**
 * Create the RAM file, write the boot image, spawn QEMU stopped, connect QMP
 * and `cont`. On failure everything made so far is undone.
 */
export async function launchQemu(
  machine: MachineOptions,
  paths: LaunchPaths,
  extraArgs: readonly string[],
): Promise<LaunchedQemu> {
  const { binary, ramSize, boot, bios, timeoutMs } = machine;
  const { workDir, ownWorkDir, ramFile, qmpPath, consolePath, agentPath } = paths;
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

    const args = qemuArgs(machine, paths, bootArgs, extraArgs);
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
    return { machine, paths, ram, child, qmp, ownFiles, stderr, exit, t0, undo };
  } catch (e) {
    undo();
    throw e;
  }
}
