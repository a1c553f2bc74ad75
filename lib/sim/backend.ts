/**
 * The `sim` machine's control backend: the machine's memory is shm objects
 * amp creates, and "starting the core" launches the simulated core as a
 * separate process (`amp __sim-remote`, {@linkcode spawnSimRemote}) that maps
 * the same memory, takes the firmware's resource table from the loaded image
 * and serves amp's demo services. With a console log path it also runs the
 * simulated serial console (the seed's shell commands).
 *
 * In-process tests may instead pass `onStart`/`onStop` hooks and no command.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { mapProfileRegions, type RegionMappers } from "../machine/map.ts";
import type { MachineProfile } from "../machine/types.ts";
import { checkCpu } from "../machine/validate.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { removeShm } from "../mem/shm.ts";
import type { ConsoleEndpoint, LoadedFirmware, RemoteprocBackend } from "../remoteproc/types.ts";
import { type SimProcess, spawnSimRemote } from "./process.ts";
import { SIM_COMMANDS } from "./shell.ts";

/** Hooks run by {@linkcode SimBackend} (in-process tests). */
export interface SimHooks {
  /** The host started `cpu` at `entry`; `memory` is the mapped machine memory (if mapped). */
  onStart?(cpu: number, entry: number, memory: MemoryMap | undefined): void | Promise<void>;
  /** The host stopped `cpu`. */
  onStop?(cpu: number): void | Promise<void>;
}

/** Options for {@linkcode SimBackend}. */
export interface SimBackendOptions extends SimHooks {
  /** Replace region mappers. */
  mappers?: Partial<RegionMappers>;
  /** Remove the shm objects the profile creates when the backend closes (default true). */
  removeOnClose?: boolean;
  /** The command that runs `__sim-remote`; when given, start() launches the simulated core. */
  simCommand?: string[];
  /** The simulated console's log (with `simCommand`): enables the console. */
  consoleLog?: string;
  /** The simulated console's socket (default: `<consoleLog>.sock`). */
  consoleSocket?: string;
  /** The simulated core's log lines. */
  log?: (line: string) => void;
  /** Chaos mode for the simulated core: `SEED` or `SEED:MEAN_MS` (a hostile remote on purpose). */
  chaos?: string;
}

/**
 * The `sim` control backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SimBackend } from "./backend.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * const b = new SimBackend(simProfile({ prefix: `amp-doc-simb-${Deno.pid}` }));
 * const map = await b.mapMemory();
 * assert(map.get(0x9010_0000, 16).name === "90100000.shm");
 * assert(await b.state(1) === "offline");
 * map.close();
 * await b.close(); // removes the shm objects
 * ```
 */
export class SimBackend implements RemoteprocBackend {
  /** Control kind implemented. */
  readonly kind = "sim";
  readonly #profile: MachineProfile;
  readonly #options: SimBackendOptions;
  readonly #running = new Set<number>();
  #memory: MemoryMap | undefined;
  #fw: LoadedFirmware | undefined;
  #child: SimProcess | undefined;
  #ended: Promise<string> | undefined;

  /** Create for a profile. */
  constructor(profile: MachineProfile, options: SimBackendOptions = {}) {
    this.#profile = profile;
    this.#options = options;
  }

  /** Map the profile's regions (creating the shm objects). */
  async mapMemory(): Promise<MemoryMap> {
    const o: Parameters<typeof mapProfileRegions>[1] = {};
    if (this.#options.mappers) o.mappers = this.#options.mappers;
    this.#memory = await mapProfileRegions(this.#profile, o);
    return this.#memory;
  }

  /** Remember the firmware's resource table: the simulated core serves from it. */
  firmwareLoaded(_cpu: number, fw: LoadedFirmware): void {
    this.#fw = fw;
  }

  /** Launch the simulated core (with `simCommand`) or run `onStart`; mark `cpu` running. */
  async start(cpu: number, entry: number): Promise<void> {
    checkCpu(this.#profile, cpu);
    const cmd = this.#options.simCommand;
    if (cmd) {
      const rsc = this.#fw?.resourceTable;
      if (!rsc) {
        throw new ConfigError(
          "SIM_NO_RSC",
          `The sim machine needs firmware with a resource table; "${
            this.#fw?.name ?? "the firmware"
          }" has none`,
        );
      }
      const console = this.console(cpu);
      const child = await spawnSimRemote({
        command: cmd,
        profile: this.#profile,
        rscAddr: rsc.addr,
        rscSize: rsc.bytes.length,
        ...(this.#options.log ? { log: this.#options.log } : {}),
        ...(this.#options.chaos !== undefined ? { chaos: this.#options.chaos } : {}),
        ...(console ? { consoleSocket: console.socketPath, consoleLog: console.logPath } : {}),
      });
      this.#child = child;
      this.#options.log?.(`Simulated remote core: process ${child.pid}`);
      this.#ended = child.exited.then((code) => `the simulated remote exited (code ${code})`);
    }
    await this.#options.onStart?.(cpu, entry, this.#memory);
    this.#running.add(cpu);
  }

  /** Stop the simulated core (or run `onStop`); mark `cpu` offline. */
  async stop(cpu: number): Promise<void> {
    checkCpu(this.#profile, cpu);
    this.#running.delete(cpu);
    const child = this.#child;
    this.#child = undefined;
    this.#ended = undefined;
    if (child) await child.stop();
    await this.#options.onStop?.(cpu);
  }

  /** `running` or `offline` (`crashed` when the simulated core exited on its own). */
  state(cpu: number): Promise<string> {
    checkCpu(this.#profile, cpu);
    if (!this.#running.has(cpu)) return Promise.resolve("offline");
    return Promise.resolve(
      this.#child && this.#child.exitCode !== undefined ? "crashed" : "running",
    );
  }

  /** The simulated console (when a console log was given). */
  console(cpu: number): ConsoleEndpoint | undefined {
    checkCpu(this.#profile, cpu);
    const logPath = this.#options.consoleLog;
    if (!logPath || !this.#options.simCommand) return undefined;
    return { logPath, socketPath: this.#options.consoleSocket ?? `${logPath}.sock` };
  }

  /** Resolves when the simulated core's process ends on its own. */
  ended(_cpu: number): Promise<string> | undefined {
    return this.#ended;
  }

  /** The simulated console's commands (the seed's four). */
  shellCommands(_cpu: number): string[] | undefined {
    return this.console(this.#profile.cpus[0]!) ? Object.keys(SIM_COMMANDS).sort() : undefined;
  }

  /** The simulated core's process, while it runs. */
  children(): { what: string; pid: number }[] {
    return this.#child ? [{ what: "simulated core", pid: this.#child.pid }] : [];
  }

  /** The shm objects the profile creates and the console socket. */
  files(): string[] {
    const out = this.#profile.regions.flatMap((r) =>
      r.backing.kind === "shm" && r.backing.create ? [`/dev/shm/${r.backing.name}`] : []
    );
    const c = this.console(this.#profile.cpus[0]!);
    if (c) out.push(c.socketPath);
    return out;
  }

  /** Stop the simulated core; remove the shm objects the profile creates (unless `removeOnClose` is false). */
  async close(): Promise<void> {
    this.#running.clear();
    const child = this.#child;
    this.#child = undefined;
    if (child) await child.stop();
    if (this.#options.removeOnClose ?? true) {
      for (const r of this.#profile.regions) {
        if (r.backing.kind === "shm" && r.backing.create) removeShm(r.backing.name);
      }
    }
  }
}
