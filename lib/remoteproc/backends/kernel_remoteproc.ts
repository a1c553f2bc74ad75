/**
 * The kernel remoteproc control backend (machines.md section 3): the Linux
 * remoteproc framework loads the firmware, handles its resource table and
 * starts the core; amp drives it through `/sys/class/remoteproc/remoteprocN/`.
 *
 * - the instance is chosen by index (`remoteprocN`) or by the text of its `name` file;
 * - loading copies the firmware into the firmware search path (default
 *   `/lib/firmware`) and writes its file name to `firmware`, which the kernel only
 *   accepts while the core is `offline` (amp refuses earlier with a clear error);
 * - start and stop write `start` / `stop` to `state`.
 *
 * Messages then flow through rpmsg_char (`/dev/rpmsg_ctrlN`,
 * `RPMSG_CREATE_EPT_IOCTL`, `/dev/rpmsgN`), not through amp's own vrings: that
 * is a later step. Until then {@linkcode KernelRemoteprocBackend.mapMemory}
 * returns an empty map, because the kernel owns the remote's memory.
 *
 * @module
 */

import { AmpError, ConfigError, OsError } from "../../errors.ts";
import { MemoryMap } from "../../mem/memory_map.ts";
import type { MachineProfile } from "../../machine/types.ts";
import { type ControlFs, realControlFs } from "../_fs.ts";
import type { FirmwareImage, RemoteprocBackend } from "../types.ts";

/** Options for {@linkcode KernelRemoteprocBackend}. */
export interface KernelRemoteprocOptions {
  /** Root of sysfs; default the profile's `control.sysfsRoot`, else `/sys`. */
  sysfsRoot?: string;
  /** Firmware search directory; default the profile's `control.firmwareDir`, else `/lib/firmware`. */
  firmwareDir?: string;
  /** `remoteprocN` index (overrides the profile). */
  index?: number;
  /** Instance name to look for (overrides the profile). */
  name?: string;
  /** File operations (tests inject a recorder). */
  fs?: ControlFs;
}

const INSTANCE_RE = /^remoteproc(\d+)$/;

/**
 * Drives a core through the kernel's remoteproc sysfs interface.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KernelRemoteprocBackend } from "./kernel_remoteproc.ts";
 * import { RecordingFs } from "../_recording_fs.ts";
 * import { RV64_VIRT } from "../../machine/profiles/rv64_virt.ts";
 * const fs = new RecordingFs({
 *   "/s/class/remoteproc/remoteproc0/name": "m4\n",
 *   "/s/class/remoteproc/remoteproc0/state": "offline\n",
 *   "/s/class/remoteproc/remoteproc0/firmware": "\n",
 * });
 * const b = new KernelRemoteprocBackend(RV64_VIRT, { sysfsRoot: "/s", name: "m4", fs });
 * await b.loadFirmware(1, { bytes: new Uint8Array(4), name: "fw.elf" });
 * assert(fs.files.get("/s/class/remoteproc/remoteproc0/firmware") === "fw.elf");
 * ```
 */
export class KernelRemoteprocBackend implements RemoteprocBackend {
  /** Control kind implemented. */
  readonly kind = "remoteproc";
  /** Root of sysfs in use. */
  readonly sysfsRoot: string;
  /** Firmware search directory in use. */
  readonly firmwareDir: string;
  readonly #fs: ControlFs;
  readonly #index: number | undefined;
  readonly #name: string | undefined;
  #dir: string | undefined;

  /** Create for a profile; the instance is located on first use. */
  constructor(profile: MachineProfile, options: KernelRemoteprocOptions = {}) {
    const c = profile.control.kind === "remoteproc" ? profile.control : undefined;
    this.sysfsRoot = (options.sysfsRoot ?? c?.sysfsRoot ?? "/sys").replace(/\/+$/, "") || "/";
    this.firmwareDir = (options.firmwareDir ?? c?.firmwareDir ?? "/lib/firmware").replace(
      /\/+$/,
      "",
    ) || "/";
    this.#fs = options.fs ?? realControlFs;
    this.#name = options.name ?? (options.index === undefined ? c?.name : undefined);
    this.#index = options.index ?? (this.#name === undefined ? c?.index ?? 0 : undefined);
  }

  /** The instance directory, `/sys/class/remoteproc/remoteprocN`. */
  async instanceDir(): Promise<string> {
    if (this.#dir !== undefined) return this.#dir;
    const classDir = `${this.sysfsRoot}/class/remoteproc`;
    let names: string[];
    try {
      names = (await this.#fs.list(classDir)).filter((n) => INSTANCE_RE.test(n));
    } catch (e) {
      if (e instanceof OsError && e.errno === 2) names = [];
      else throw e;
    }
    if (this.#name === undefined) {
      const want = `remoteproc${this.#index ?? 0}`;
      if (!names.includes(want)) {
        throw new ConfigError(
          "RPROC_NOT_FOUND",
          `No remoteproc instance ${want} in ${classDir} (found: ${names.join(", ") || "none"})`,
        );
      }
      return this.#dir = `${classDir}/${want}`;
    }
    const seen: string[] = [];
    const matches: string[] = [];
    for (const n of names) {
      const name = (await this.#fs.read(`${classDir}/${n}/name`)).trim();
      seen.push(`${n}=${name}`);
      if (name === this.#name) matches.push(n);
    }
    if (matches.length !== 1) {
      throw new ConfigError(
        matches.length === 0 ? "RPROC_NOT_FOUND" : "RPROC_AMBIGUOUS",
        `${
          matches.length === 0 ? "No" : `${matches.length}`
        } remoteproc instances named "${this.#name}" in ${classDir} (found: ${
          seen.join(", ") || "none"
        })`,
      );
    }
    return this.#dir = `${classDir}/${matches[0]}`;
  }

  /** The instance's `name`. */
  async name(): Promise<string> {
    return (await this.#fs.read(`${await this.instanceDir()}/name`)).trim();
  }

  /** The kernel has the memory; amp maps nothing (see the module notes). */
  mapMemory(): Promise<MemoryMap> {
    return Promise.resolve(new MemoryMap());
  }

  /**
   * Copy the firmware into the firmware directory and select it. Refused with
   * `STATE` unless the instance is `offline`.
   */
  async loadFirmware(_cpu: number, firmware: FirmwareImage): Promise<void> {
    const dir = await this.instanceDir();
    const base = firmware.name.split("/").pop() ?? "";
    if (base === "" || base === "." || base === ".." || base.includes("\0")) {
      throw new ConfigError("RPROC_FW_NAME", `Firmware name "${firmware.name}" is not a file name`);
    }
    const state = (await this.#fs.read(`${dir}/state`)).trim();
    if (state !== "offline") {
      throw new AmpError(
        "STATE",
        `Cannot set firmware "${base}" on ${dir}: the core is ${state}; the kernel accepts a new firmware only while offline (stop it first)`,
      );
    }
    await this.#fs.install(`${this.firmwareDir}/${base}`, firmware.bytes);
    await this.#fs.write(`${dir}/firmware`, base);
  }

  /** Write `start` to `state` (the kernel loads and boots the firmware). */
  async start(_cpu: number, _entry: number): Promise<void> {
    await this.#fs.write(`${await this.instanceDir()}/state`, "start");
  }

  /** Write `stop` to `state`. */
  async stop(_cpu: number): Promise<void> {
    await this.#fs.write(`${await this.instanceDir()}/state`, "stop");
  }

  /** offline, suspended, running, crashed, invalid, attached or detached. */
  async state(_cpu: number): Promise<string> {
    return (await this.#fs.read(`${await this.instanceDir()}/state`)).trim();
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
