/**
 * The `rv64-sysfs` control backend (machines.md section 1): memory through UIO
 * device maps, the remote hart started and stopped through the small kernel
 * module behind `/sys/firmware/openamp/`.
 *
 * Start writes, in this order: `"0"` to `devices/system/cpu/cpu<N>/online`
 * (EBUSY and a missing file are expected and ignored), the hart id to
 * `firmware/openamp/hartid`, the entry address as `0x...` to
 * `firmware/openamp/paddr`, then `"start"` to `firmware/openamp/state`.
 * Stop writes `"stop"` to `state`. Reading `state` gives `offline`, `running`
 * or `invalid`.
 *
 * @module
 */

import { AmpError, OsError } from "../../errors.ts";
import type { MemoryMap } from "../../mem/memory_map.ts";
import { hex } from "../../mem/region.ts";
import { mapProfileRegions, type RegionMappers } from "../../machine/map.ts";
import type { MachineProfile } from "../../machine/types.ts";
import { checkCpu } from "../../machine/validate.ts";
import { type ControlFs, realControlFs } from "../_fs.ts";
import type { RemoteprocBackend } from "../types.ts";

/** errno values the cpu-offline step tolerates: ENOENT (no such file), EBUSY. */
const OFFLINE_IGNORED = [2, 16];

/** Options for {@linkcode Rv64SysfsBackend}. */
export interface Rv64SysfsOptions {
  /** Root of sysfs; default the profile's `control.sysfsRoot`, else `/sys`. */
  sysfsRoot?: string;
  /** Directory of the `uioN` device nodes (default `/dev`). */
  devRoot?: string;
  /** File operations (tests inject a recorder). */
  fs?: ControlFs;
  /** Replace region mappers (tests). */
  mappers?: Partial<RegionMappers>;
}

/**
 * Drives a remote hart through `/sys/firmware/openamp/`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rv64SysfsBackend } from "./rv64_sysfs.ts";
 * import { RecordingFs } from "../_recording_fs.ts";
 * import { RV64_VIRT } from "../../machine/profiles/rv64_virt.ts";
 * const fs = new RecordingFs({
 *   "/s/firmware/openamp/hartid": "", "/s/firmware/openamp/paddr": "",
 *   "/s/firmware/openamp/state": "offline",
 * });
 * const b = new Rv64SysfsBackend(RV64_VIRT, { sysfsRoot: "/s", fs });
 * await b.start(1, 0x9020_0000);
 * assert(fs.files.get("/s/firmware/openamp/paddr") === "0x90200000");
 * ```
 */
export class Rv64SysfsBackend implements RemoteprocBackend {
  /** Control kind implemented. */
  readonly kind = "rv64-sysfs";
  /** Root of sysfs in use. */
  readonly sysfsRoot: string;
  readonly #profile: MachineProfile;
  readonly #fs: ControlFs;
  readonly #options: Rv64SysfsOptions;

  /** Create for a profile (its control kind should be `rv64-sysfs`). */
  constructor(profile: MachineProfile, options: Rv64SysfsOptions = {}) {
    this.#profile = profile;
    this.#options = options;
    const fromProfile = profile.control.kind === "rv64-sysfs"
      ? profile.control.sysfsRoot
      : undefined;
    this.sysfsRoot = (options.sysfsRoot ?? fromProfile ?? "/sys").replace(/\/+$/, "") || "/";
    this.#fs = options.fs ?? realControlFs;
  }

  #openamp(file: string): string {
    return `${this.sysfsRoot}/firmware/openamp/${file}`;
  }

  /** Map the profile's regions (UIO maps found by device name). */
  mapMemory(): Promise<MemoryMap> {
    const o: Parameters<typeof mapProfileRegions>[1] = { sysfsRoot: this.sysfsRoot };
    if (this.#options.devRoot !== undefined) o.devRoot = this.#options.devRoot;
    if (this.#options.mappers !== undefined) o.mappers = this.#options.mappers;
    return mapProfileRegions(this.#profile, o);
  }

  /** Take the hart from Linux (ignoring EBUSY), then hand it `entry` and start it. */
  async start(cpu: number, entry: number): Promise<void> {
    checkCpu(this.#profile, cpu);
    if (!Number.isSafeInteger(entry) || entry < 0) {
      throw new AmpError(
        "RPROC_BAD_ENTRY",
        `Cannot start cpu ${cpu}: entry ${entry} is not an address`,
      );
    }
    const online = `${this.sysfsRoot}/devices/system/cpu/cpu${cpu}/online`;
    try {
      await this.#fs.write(online, "0");
    } catch (e) {
      if (!(e instanceof OsError && OFFLINE_IGNORED.includes(e.errno))) throw e;
    }
    await this.#fs.write(this.#openamp("hartid"), String(cpu));
    await this.#fs.write(this.#openamp("paddr"), hex(entry));
    await this.#fs.write(this.#openamp("state"), "start");
  }

  /** Ask the hart to stop (it does so at its next SBI console call). */
  async stop(cpu: number): Promise<void> {
    checkCpu(this.#profile, cpu);
    await this.#fs.write(this.#openamp("state"), "stop");
  }

  /** `offline`, `running` or `invalid`, as the module reports it. */
  async state(cpu: number): Promise<string> {
    checkCpu(this.#profile, cpu);
    return (await this.#fs.read(this.#openamp("state"))).trim();
  }

  /** Nothing to release: the memory map belongs to the caller. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
