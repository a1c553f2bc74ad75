/**
 * Which machine and remote cpu a runtime verb talks to: `--machine`, board
 * detection, and the runtime state file's entries (with the exact profile the
 * owning `amp load` saved next to it).
 *
 * @module
 */

import { AmpError, ConfigError, UsageError } from "../errors.ts";
import {
  loadProfile,
  type MachineProfile,
  RV64_VIRT,
  simProfile,
  validateProfile,
} from "../machine/mod.ts";
import { type KernelPaths, listRpmsgControls } from "../kernel/rpmsg_char.ts";
import { runProfilePath } from "../runtime/owner.ts";
import { renameLinks } from "./_links.ts";
import { type CpuEntry, defaultStateDir, StateFile } from "../runtime/registry.ts";
import { liveEntries } from "../runtime/status.ts";

/** Environment variable: prefix of the built-in `sim` machine's shm objects. */
export const SIM_PREFIX_ENV = "AMP_SIM_PREFIX";

/** Boards detected when `--machine` is absent, in order; `sim` is the fallback. */
const DETECTABLE: readonly MachineProfile[] = [RV64_VIRT];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when every UIO device of `profile` is present under `sysfsRoot`
 * (and the profile maps at least one through UIO).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boardPresent } from "./_target.ts";
 * import { RV64_VIRT } from "../machine/mod.ts";
 * assert((await boardPresent(RV64_VIRT, "/nonexistent")) === false);
 * ```
 */
export async function boardPresent(profile: MachineProfile, sysfsRoot = "/sys"): Promise<boolean> {
  const uio = profile.regions.flatMap((r) => r.backing.kind === "uio" ? [r.backing.device] : []);
  if (uio.length === 0) return false;
  for (const d of uio) {
    if (!(await exists(`${sysfsRoot}/bus/platform/devices/${d}`))) return false;
  }
  return true;
}

/**
 * Resolve `--machine`: a built-in name or a JSON file; absent: the first
 * detected board, else `sim`. The built-in `sim` takes its shm prefix from
 * `$AMP_SIM_PREFIX`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveMachine } from "./_target.ts";
 * const p = await resolveMachine("sim", { AMP_SIM_PREFIX: "t9" });
 * assert(p.regions[0]?.backing.kind === "shm" && p.regions[0].backing.name === "t9.notify");
 * ```
 */
export async function resolveMachine(
  arg: string | undefined,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<MachineProfile> {
  if (arg === undefined) {
    for (const p of DETECTABLE) if (await boardPresent(p)) return loadProfile(p.name);
    arg = "sim";
  }
  if (arg === "sim") {
    const prefix = env[SIM_PREFIX_ENV];
    if (prefix !== undefined && !/^[A-Za-z0-9._-]{1,200}$/.test(prefix)) {
      throw new ConfigError(
        "SIM_PREFIX",
        `${SIM_PREFIX_ENV}="${prefix}" must be 1-200 letters, digits, ".", "_" or "-"`,
      );
    }
    return validateProfile(simProfile(prefix ? { prefix } : {}), 'built-in profile "sim"');
  }
  return loadProfile(arg);
}

/**
 * Parse a cpu number argument (UsageError otherwise).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCpu } from "./_target.ts";
 * assert(parseCpu("1") === 1);
 * ```
 */
export function parseCpu(s: string, what = "cpu"): number {
  if (!/^[0-9]{1,4}$/.test(s)) throw new UsageError(`${what} must be a number, got "${s}"`);
  return Number(s);
}

/** A running remote found for a verb. */
export interface Target {
  /** The machine. */
  profile: MachineProfile;
  /** The state entry, when found through the state file. */
  entry?: CpuEntry;
}

/**
 * The remote a verb talks to: `--machine` when given; otherwise the running
 * entry for `--cpu` (or the only running one) in the state file, with the
 * profile its owner saved. AmpError `NO_REMOTE` when nothing runs,
 * UsageError when several do and `--cpu` does not choose.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findTarget } from "./_target.ts";
 * const dir = await Deno.makeTempDir();
 * assert((await findTarget({ machine: "rv64-virt" })).profile.name === "rv64-virt");
 * const e = await findTarget({ stateDir: dir }).catch((e) => e);
 * assert(e.code === "NO_REMOTE");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function findTarget(
  options: TargetOptions & { stateDir?: string },
): Promise<Target> {
  const t = await findTargetAs(options);
  if (options.shmName === undefined && options.socketPath === undefined) return t;
  const names: { shmName?: string; socketPath?: string } = {};
  if (options.shmName !== undefined) names.shmName = options.shmName;
  if (options.socketPath !== undefined) names.socketPath = options.socketPath;
  return { ...t, profile: renameLinks(t.profile, names) };
}

/** What selects the remote a verb talks to (`--machine`, `--cpu`, `--shm-name`, `--socket`). */
export interface TargetOptions {
  /** A machine name or profile path. */
  machine?: string;
  /** The cpu, as given. */
  cpu?: string;
  /** Another name for the machine's shm object (openamp-linux). */
  shmName?: string;
  /** Another notification socket (openamp-linux). */
  socketPath?: string;
}

async function findTargetAs(
  options: { machine?: string; cpu?: string; stateDir?: string },
): Promise<Target> {
  const dir = options.stateDir ?? defaultStateDir();
  const sf = new StateFile({ dir });
  const cpu = options.cpu === undefined ? undefined : parseCpu(options.cpu, "--cpu");
  if (options.machine !== undefined) {
    // A named machine; its running core (if amp runs one) gives console and firmware facts.
    const profile = await resolveMachine(options.machine);
    const mine = await liveEntries({ dir, machine: profile.name, cpu });
    return mine.length === 1 ? { profile, entry: mine[0]! } : { profile };
  }
  const live = await liveEntries({ dir, cpu });
  if (live.length === 0) {
    throw new AmpError(
      "NO_REMOTE",
      `No running remote${
        cpu === undefined ? "" : ` on cpu ${cpu}`
      } in ${sf.path}: start one with "amp load <fw.elf> <cpu>" or name a machine with --machine`,
    );
  }
  if (live.length > 1) {
    throw new UsageError(
      `Several remotes are running (${
        live.map((e) => `cpu ${e.cpu} on ${e.machine}`).join(", ")
      }); choose one with --cpu`,
    );
  }
  const entry = live[0]!;
  const saved = runProfilePath(sf.dir, entry.pid, entry.cpu);
  const profile = (await exists(saved))
    ? await loadProfile(saved)
    : await resolveMachine(entry.machine);
  return { profile, entry };
}

/**
 * Whether an rpmsg verb with neither `--machine` nor `--cpu` should go to the
 * kernel's rpmsg_char devices: no amp-owned remote runs (per the state file)
 * and at least one `/dev/rpmsg_ctrlN` exists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelIsDefault } from "./_target.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/dev`);
 * assert(!(await kernelIsDefault({ stateDir: root }, { root })));
 * await Deno.writeFile(`${root}/dev/rpmsg_ctrl0`, new Uint8Array());
 * assert(await kernelIsDefault({ stateDir: root }, { root }));
 * assert(!(await kernelIsDefault({ stateDir: root, machine: "sim" }, { root })));
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function kernelIsDefault(
  options: { machine?: string; cpu?: string; stateDir?: string },
  paths?: KernelPaths,
): Promise<boolean> {
  if (options.machine !== undefined || options.cpu !== undefined) return false;
  if (listRpmsgControls(paths).length === 0) return false;
  return (await liveEntries({ dir: options.stateDir ?? defaultStateDir() })).length === 0;
}

/**
 * The cpu a verb names: its `<cpu>` argument or `--cpu N` (the same; both
 * may be given only when they agree), or undefined for "the only one running".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cpuArgument } from "./_target.ts";
 * assert(cpuArgument("trace", ["1"], undefined) === "1");
 * assert(cpuArgument("trace", [], "2") === "2");
 * assert(cpuArgument("trace", [], undefined) === undefined);
 * assert.throws(() => cpuArgument("trace", ["1"], "2"), /names cpu 1 and --cpu 2/);
 * ```
 */
export function cpuArgument(
  verb: string,
  positionals: readonly string[],
  option: unknown,
): string | undefined {
  const pos = positionals[0];
  const opt = typeof option === "string" ? option : undefined;
  if (pos !== undefined && opt !== undefined && pos !== opt) {
    throw new UsageError(`${verb}: names cpu ${pos} and --cpu ${opt}; give one`);
  }
  const cpu = pos ?? opt;
  if (cpu !== undefined) parseCpu(cpu, pos !== undefined ? "<cpu>" : "--cpu");
  return cpu;
}
