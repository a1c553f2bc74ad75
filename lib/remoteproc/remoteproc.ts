/**
 * One remote core: a machine profile, a control backend and the ELF loader
 * tied together behind load / start / stop / close, with the lifecycle
 * enforced (see `lifecycle.ts`).
 *
 * Messaging (rpmsg) is not here: after {@linkcode Remoteproc.load} the
 * processed resource table ({@linkcode Remoteproc.resourceTable}) and the
 * mapped memory ({@linkcode Remoteproc.memory}) are what the rpmsg layer
 * attaches to.
 *
 * @module
 */

import { AmpError, ConfigError, LoadError } from "../errors.ts";
import { readBoundedFile } from "../util/files.ts";
import { parseElf } from "../elf/reader.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { hex } from "../mem/region.ts";
import type { MachineProfile } from "../machine/types.ts";
import { checkCpu } from "../machine/validate.ts";
import { type HostResourceTable, prepareHostTable, writeHostTable } from "../link/placement.ts";
import { archMismatch } from "./arch.ts";
import { Lifecycle } from "./lifecycle.ts";
import { loadElf, type LoadPlan, type LoadResult, type LoadWarning, planLoad } from "./loader.ts";
import { shellCommands } from "../elf/symbols.ts";
import { PF_X, PT_LOAD } from "../elf/types.ts";
import { resourceTableExtent } from "../rsc/table.ts";
import { VDEV_GFEATURES, VIRTIO_ID_RPMSG, VIRTIO_RPMSG_F_NS } from "../rsc/layout.ts";
import type { ElfImage } from "../elf/types.ts";
import type { LoadedFirmware, RemoteprocBackend, RemoteprocState } from "./types.ts";

/** Least cap on a firmware file's size: ELF files carry symbols and debug info. */
export const MIN_FIRMWARE_CAP = 32 * 1024 * 1024;

/**
 * The largest firmware file amp reads for `profile`: its largest memory
 * region (an image cannot load more), but at least {@linkcode MIN_FIRMWARE_CAP}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firmwareCap } from "./remoteproc.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * assert(firmwareCap(RV64_VIRT) === 32 * 1024 * 1024);
 * assert(firmwareCap({ regions: [{ size: 0x4000_0000 }] }) === 0x4000_0000);
 * ```
 */
export function firmwareCap(profile: { regions: readonly { size: number }[] }): number {
  return Math.max(MIN_FIRMWARE_CAP, ...profile.regions.map((r) => r.size));
}

/** Options for {@linkcode Remoteproc}. */
export interface RemoteprocOptions {
  /** Remote cpu to drive (default: the profile's first cpu). */
  cpu?: number;
}

/** Options for {@linkcode Remoteproc.load}. */
export interface RemoteprocLoadOptions {
  /** Name for messages (default: the path, or `"firmware"` for bytes). */
  name?: string;
  /** Called while segments are copied, with bytes done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** What a load did. */
export interface LoadSummary {
  /** Firmware name used. */
  name: string;
  /** Boot address. */
  entry: number;
  /** Bytes copied from the file and zero-filled (0 when the backend loads itself). */
  bytesCopied: number;
  /** Bytes zero-filled up to each segment's memsz. */
  bytesZeroed: number;
  /** Loader and resource-table warnings. */
  warnings: LoadWarning[];
}

/**
 * A remote core under amp's control.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Remoteproc } from "./remoteproc.ts";
 * import type { RemoteprocBackend } from "./types.ts";
 * import { buildElf } from "../elf/writer.ts";
 * import { mapProfileRegions } from "../machine/map.ts";
 * import { validateProfile } from "../machine/validate.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * const profile = validateProfile({
 *   ...RV64_VIRT, control: { kind: "sim" },
 *   regions: RV64_VIRT.regions.map((r) => ({ ...r, backing: { kind: "heap" } })),
 * }, "doc");
 * let running = false;
 * const backend: RemoteprocBackend = { // a platform that only records the state
 *   kind: "doc",
 *   mapMemory: () => mapProfileRegions(profile),
 *   start: () => Promise.resolve(void (running = true)),
 *   stop: () => Promise.resolve(void (running = false)),
 *   state: () => Promise.resolve(running ? "running" : "offline"),
 *   close: () => Promise.resolve(),
 * };
 * const rp = new Remoteproc(profile, backend);
 * const fw = buildElf({ class: 64, entry: 0x9020_0000,
 *   segments: [{ paddr: 0x9020_0000, data: new Uint8Array(64) }] });
 * await rp.load(fw, { name: "fw.elf" });
 * await rp.start();
 * assert(rp.state === "running");
 * await rp.close();
 * ```
 */
export class Remoteproc {
  /** The machine. */
  readonly profile: MachineProfile;
  /** The control backend. */
  readonly backend: RemoteprocBackend;
  /** The remote cpu this instance drives. */
  readonly cpu: number;
  #lc: Lifecycle;
  #memory: MemoryMap | undefined;
  #rsc: HostResourceTable | undefined;
  #entry: number | undefined;
  #firmware: string | undefined;
  #loaded: LoadedFirmware | undefined;
  #closed = false;

  /** Tie a profile and a backend together (nothing is mapped until needed). */
  constructor(
    profile: MachineProfile,
    backend: RemoteprocBackend,
    options: RemoteprocOptions = {},
  ) {
    this.profile = profile;
    this.backend = backend;
    const cpu = options.cpu ?? profile.cpus[0];
    if (cpu === undefined) {
      throw new AmpError("STATE", `Machine "${profile.name}" lists no remote cpu`);
    }
    this.cpu = checkCpu(profile, cpu);
    this.#lc = new Lifecycle(`remote cpu ${cpu} of machine "${profile.name}"`);
  }

  /** Lifecycle state as amp tracks it. */
  get state(): RemoteprocState {
    return this.#lc.state;
  }

  /** True after {@linkcode close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Name of the loaded firmware, if any. */
  get firmware(): string | undefined {
    return this.#firmware;
  }

  /** Facts about the loaded firmware (its own resource table, code range, shell commands). */
  get loaded(): LoadedFirmware | undefined {
    return this.#loaded;
  }

  /** Boot address of the loaded firmware, if any. */
  get entry(): number | undefined {
    return this.#entry;
  }

  /**
   * The processed resource table of the loaded firmware (undefined before a
   * load, for firmware without a table, and when the backend loads firmware itself).
   */
  get resourceTable(): HostResourceTable | undefined {
    return this.#rsc;
  }

  #ensureOpen(what: string): void {
    if (this.#closed) {
      throw new AmpError("STATE", `Cannot ${what} remote cpu ${this.cpu}: it has been closed`);
    }
  }

  /** The machine memory, mapped on first use. */
  async memory(): Promise<MemoryMap> {
    this.#ensureOpen("map memory of");
    if (!this.#memory) this.#memory = await this.backend.mapMemory();
    return this.#memory;
  }

  /**
   * Load firmware (a path or the file's bytes): parse and check the ELF,
   * process its resource table for the machine layout (vrings with da ANY get
   * the layout's addresses, vdev status reset to 0), then copy the segments
   * and write the host's table to the layout address and the section address.
   * Everything is checked before the first byte is written. Refused with
   * `STATE` while running.
   */
  async load(fw: string | Uint8Array, options: RemoteprocLoadOptions = {}): Promise<LoadSummary> {
    this.#ensureOpen("load");
    this.#lc.check("load");
    const name = options.name ?? (typeof fw === "string" ? fw : "firmware");
    const bytes = typeof fw === "string" ? await readFirmware(fw, firmwareCap(this.profile)) : fw;
    const img = parseElf(bytes, { name });
    const wrong = archMismatch(img, this.profile, name);
    if (wrong) throw wrong;

    if (this.backend.loadFirmware) {
      await this.backend.loadFirmware(this.cpu, { bytes, name });
      this.#rsc = undefined;
      this.#facts(img, name, undefined);
      return this.#done(name, img.entry, {
        name,
        entry: img.entry,
        bytesCopied: 0,
        bytesZeroed: 0,
        warnings: [],
      });
    }

    const map = await this.memory();
    const { rsc } = planFirmware(img, this.profile, map, name);
    const loadOpts: Parameters<typeof loadElf>[2] = { name };
    if (options.onProgress) loadOpts.onProgress = options.onProgress;
    let result: ReturnType<typeof loadElf>;
    try {
      result = loadElf(img, map, loadOpts);
      if (rsc) {
        writeHostTable(rsc, map);
        if (rsc.pa !== rsc.imageAddr) markHostCopy(rsc, map);
      }
    } catch (e) {
      // Memory may hold part of the new image: nothing loaded is runnable any more.
      this.#lc = new Lifecycle(this.#lc.subject);
      this.#rsc = undefined;
      this.#entry = undefined;
      this.#firmware = undefined;
      throw e;
    }
    this.#rsc = rsc;
    this.#facts(img, name, result.rsc);
    return this.#done(name, result.entry, {
      name,
      entry: result.entry,
      bytesCopied: result.bytesCopied,
      bytesZeroed: result.bytesZeroed,
      warnings: [...result.warnings, ...(rsc?.warnings ?? [])],
    });
  }

  /**
   * Check firmware as {@linkcode load} would (read, parse, place every segment
   * and the resource table in this machine's memory) without writing anything
   * and in any lifecycle state, so a running core can keep running when new
   * firmware turns out to be bad. Returns the bytes to pass to `load`.
   */
  async check(fw: string | Uint8Array, options: { name?: string } = {}): Promise<FirmwareCheck> {
    this.#ensureOpen("check firmware for");
    const name = options.name ?? (typeof fw === "string" ? fw : "firmware");
    const bytes = typeof fw === "string" ? await readFirmware(fw, firmwareCap(this.profile)) : fw;
    const img = parseElf(bytes, { name });
    const wrong = archMismatch(img, this.profile, name);
    if (wrong) throw wrong;
    if (this.backend.loadFirmware) return { bytes, entry: img.entry, hasResourceTable: false };
    const { rsc } = planFirmware(img, this.profile, await this.memory(), name);
    return { bytes, entry: img.entry, hasResourceTable: rsc !== undefined };
  }

  /** Record what the backend and the runtime may want to know, and tell the backend. */
  #facts(img: ElfImage, name: string, rsc: LoadResult["rsc"]): void {
    const fw: LoadedFirmware = { name, entry: img.entry, shell: shellCommands(img) };
    if (rsc) {
      fw.resourceTable = {
        addr: rsc.imageAddr,
        bytes: rsc.bytes.slice(0, resourceTableExtent(rsc.table)),
      };
    }
    const code = codeRangeOf(img);
    if (code.len > 0) fw.codeRange = code;
    this.#loaded = fw;
    this.backend.firmwareLoaded?.(this.cpu, fw);
  }

  #done(name: string, entry: number, summary: LoadSummary): LoadSummary {
    this.#firmware = name;
    this.#entry = entry;
    this.#lc.apply("load");
    return summary;
  }

  /**
   * Write the host's processed table again (to the layout address and the
   * section address). The rpmsg layer calls this once the remote has copied
   * its own table over it (machines.md section 1: the host's copy wins).
   */
  async writeResourceTable(): Promise<void> {
    this.#ensureOpen("write the resource table of");
    if (!this.#rsc) {
      throw new AmpError("STATE", `Remote cpu ${this.cpu} has no processed resource table`);
    }
    const map = await this.memory();
    writeHostTable(this.#rsc, map);
    if (this.#rsc.pa !== this.#rsc.imageAddr) markHostCopy(this.#rsc, map);
  }

  /** Start the loaded firmware at its entry address. */
  async start(): Promise<void> {
    this.#ensureOpen("start");
    this.#lc.check("start");
    await this.backend.start(this.cpu, this.#entry!);
    this.#lc.apply("start");
  }

  /** Stop the core (running or crashed). */
  async stop(): Promise<void> {
    this.#ensureOpen("stop");
    this.#lc.check("stop");
    await this.backend.stop(this.cpu);
    this.#lc.apply("stop");
  }

  /**
   * Ask the backend for the core's state and record a crash: a core amp
   * started that the platform reports as `crashed`, `offline` or `invalid`
   * becomes `crashed`. Returns the platform's word.
   */
  async poll(): Promise<string> {
    this.#ensureOpen("query");
    const s = await this.backend.state(this.cpu);
    if (this.#lc.state === "running" && CRASH_WORDS.includes(s)) this.#lc.apply("crash");
    return s;
  }

  /**
   * Stop the core if it runs, release the backend and unmap memory. Every
   * step runs even if an earlier one fails; the first failure is rethrown.
   * A second call is harmless.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let first: unknown;
    if (this.#lc.state === "running") {
      try {
        await this.backend.stop(this.cpu);
        this.#lc.apply("stop");
      } catch (e) {
        first ??= e;
      }
    }
    try {
      await this.backend.close();
    } catch (e) {
      first ??= e;
    }
    try {
      this.#memory?.close();
    } catch (e) {
      first ??= e;
    }
    this.#memory = undefined;
    if (first !== undefined) throw first;
  }

  /** `close()` for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** What {@linkcode Remoteproc.check} found. */
export interface FirmwareCheck {
  /** The firmware file's bytes. */
  bytes: Uint8Array;
  /** Boot address. */
  entry: number;
  /** True when the image has a resource table amp processes. */
  hasResourceTable: boolean;
}

/**
 * Plan loading a parsed image into `map` for `profile`: every loadable
 * segment placed in one region, the resource table processed for the
 * machine layout and its live copy inside one region. Writes nothing;
 * throws `LoadError`/`ResourceTableError` with the first problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planFirmware } from "./remoteproc.ts";
 * import { parseElf } from "../elf/reader.ts";
 * import { buildElf } from "../elf/writer.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * const map = new MemoryMap([heapRegion(0x9020_0000, 0x1000)]);
 * const img = parseElf(buildElf({ class: 64, entry: 0x9020_0000,
 *   segments: [{ paddr: 0x9030_0000, data: new Uint8Array(8) }] }));
 * assert.throws(() => planFirmware(img, simProfile(), map, "fw.elf"), /outside/);
 * ```
 */
export function planFirmware(
  img: ElfImage,
  profile: MachineProfile,
  map: MemoryMap,
  name: string,
): { plan: LoadPlan; rsc: HostResourceTable | undefined } {
  const wrong = archMismatch(img, profile, name);
  if (wrong) throw wrong;
  const plan = planLoad(img, map, { name });
  const rsc = plan.rsc
    ? prepareHostTable(
      { imageAddr: plan.rsc.imageAddr, bytes: plan.rsc.bytes, table: plan.rsc.table },
      profile,
      map,
      name,
    )
    : undefined;
  if (rsc && !map.find(rsc.pa, rsc.bytes.length)) {
    throw new LoadError(
      "LOAD_RSC_OUTSIDE_REGIONS",
      `Cannot load firmware "${name}": the machine's resource table [${hex(rsc.pa)}, +${
        hex(rsc.bytes.length)
      }) is not inside one mapped region`,
    );
  }
  return { plan, rsc };
}

/**
 * Read a firmware file: a regular file (a FIFO or a device is refused before
 * it is opened) of at most `maxBytes` bytes, read with a deadline.
 * `LoadError` `LOAD_READ` / `LOAD_TOO_BIG` otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readFirmware } from "./remoteproc.ts";
 * const e = await readFirmware("/nonexistent/fw.elf").catch((e) => e);
 * assert(e.code === "LOAD_READ" && e.message === 'Cannot load firmware "/nonexistent/fw.elf": no such file');
 * const z = await readFirmware("/dev/zero").catch((e) => e);
 * assert(z.message === 'Cannot load firmware "/dev/zero": not a regular file (a character device)');
 * ```
 */
export async function readFirmware(path: string, maxBytes = MIN_FIRMWARE_CAP): Promise<Uint8Array> {
  try {
    return await readBoundedFile(path, { maxBytes, what: "firmware", code: "LOAD_READ" });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const why = e.message.replace(/^Cannot read firmware .*?: /, "");
    throw new LoadError(
      /more than the/.test(why) ? "LOAD_TOO_BIG" : "LOAD_READ",
      `Cannot load firmware "${path}": ${why}`,
      { cause: e },
    );
  }
}

/** Platform state words that mean a core amp started is no longer running. */
const CRASH_WORDS: readonly string[] = ["crashed", "offline", "invalid"];

/**
 * The smallest range covering the executable (`PF_X`) `PT_LOAD` segments'
 * `[p_paddr, p_paddr + p_memsz)`, or every `PT_LOAD` segment when none is
 * marked executable: what a CPU may hold stale translations of.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { codeRangeOf } from "./remoteproc.ts";
 * import { buildElf } from "../elf/writer.ts";
 * import { parseElf } from "../elf/reader.ts";
 * const img = parseElf(buildElf({ class: 64, entry: 0x9020_0000, segments: [
 *   { paddr: 0x9020_0000, data: new Uint8Array(0x100), flags: 5 },
 *   { paddr: 0x9020_1000, data: new Uint8Array(0x10), flags: 6 },
 * ] }));
 * assert.deepEqual(codeRangeOf(img), { start: 0x9020_0000, len: 0x100 });
 * ```
 */
export function codeRangeOf(img: ElfImage): { start: number; len: number } {
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
 * Mark the live copy a load writes at the layout address as a host's copy:
 * each rpmsg vdev's `gfeatures` gets the name-service bit the host accepts.
 * A remote application copies its table from its image (where `gfeatures`
 * stays as built, 0) when it starts, so a host can tell "an application
 * copied its table and waits" from "the table amp wrote at load" (the remote
 * reads `gfeatures` only after DRIVER_OK, by which time the host wrote it).
 */
function markHostCopy(rsc: HostResourceTable, map: MemoryMap): void {
  for (const v of rsc.vdevs) {
    if (v.id !== VIRTIO_ID_RPMSG) continue;
    const at = rsc.pa + v.offset + VDEV_GFEATURES;
    map.get(at, 4).setU32(at, (v.dfeatures & VIRTIO_RPMSG_F_NS) >>> 0);
  }
}
