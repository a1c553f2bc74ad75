/**
 * The `amp` command line: the verb registry and the runner.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./mod.ts";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * assert((await main(["--help"], io)) === 0);
 * assert(io.out.includes("inspect"));
 * ```
 *
 * @module
 */

import type { CliIo, Command } from "./_command.ts";
import { inspectCommand } from "./inspect.ts";
import { loadCommand } from "./load.ts";
import { stopCommand } from "./stop.ts";
import { statusCommand } from "./status.ts";
import { rpmsgCommand } from "./rpmsg.ts";
import { shmemCommand } from "./shmem.ts";
import { remoteCommand } from "./remote.ts";
import { demoCommand } from "./demo.ts";
import { traceCommand } from "./trace.ts";
import { consoleCommand } from "./console.ts";
import { vringCommand } from "./vring.ts";
import { simRemoteMain } from "../sim/process.ts";
import { runCli } from "./main.ts";
import { VERSION } from "./_version.ts";

export type {
  CliIo,
  Command,
  CommandContext,
  OptionSpec,
  OptionSpecs,
  OptionValues,
} from "./_command.ts";
export { defineCommand } from "./_command.ts";
export { type CapturedIo, captureIo, denoIo } from "./_io.ts";
export { EXIT_FAILURE, EXIT_USAGE, reportError, runCli, type RunCliOptions } from "./main.ts";
export { DEFAULT_MACHINE, formatInspect, inspectCommand } from "./inspect.ts";
export {
  type ElfInfo,
  type EntryInfo,
  inspectFirmware,
  type InspectOptions,
  type InspectProblem,
  type InspectReport,
  type LoadInfo,
  type ProblemSource,
  type ResourceTableInfo,
  type SectionInfo,
  type SegmentInfo,
  type VringInfo,
} from "../diag/inspect.ts";
export { VERSION } from "./_version.ts";

/**
 * Every verb of `amp`, in the order the help lists them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { COMMANDS } from "./mod.ts";
 * assert(COMMANDS.some((c) => c.name === "inspect"));
 * ```
 */
export const COMMANDS: readonly Command[] = [
  inspectCommand,
  loadCommand,
  stopCommand,
  statusCommand,
  consoleCommand,
  rpmsgCommand,
  shmemCommand,
  demoCommand,
  remoteCommand,
  traceCommand,
  vringCommand,
];

/** Internal verb: the simulated remote's process (started by `amp load`; not in the help). */
export const SIM_REMOTE_VERB = "__sim-remote";

/**
 * Run `amp` with `argv` (without the program name); returns the exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./mod.ts";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * assert((await main(["frobnicate"], io)) === 2);
 * assert(io.err === 'amp: unknown verb "frobnicate" (see amp --help)\n');
 * ```
 */
export function main(argv: readonly string[], io?: CliIo): Promise<number> {
  if (argv[0] === SIM_REMOTE_VERB) {
    return simRemoteMain([...argv.slice(1)], io ? (l) => io.stdout(l + "\n") : undefined);
  }
  return runCli(
    argv,
    io ? { commands: COMMANDS, version: VERSION, io } : {
      commands: COMMANDS,
      version: VERSION,
    },
  );
}
