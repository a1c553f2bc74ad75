/**
 * The `amp` command line: the verb registry and the runner.
 *
 * @example
 * ```ts
 * import { main } from "./mod.ts";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * console.assert((await main(["--help"], io)) === 0);
 * console.assert(io.out.includes("inspect"));
 * ```
 *
 * @module
 */

import type { CliIo, Command } from "./_command.ts";
import { inspectCommand } from "./inspect.ts";
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
export {
  DEFAULT_MACHINE,
  type ElfInfo,
  type EntryInfo,
  formatInspect,
  inspectCommand,
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
} from "./inspect.ts";
export { VERSION } from "./_version.ts";

/**
 * Every verb of `amp`, in the order the help lists them.
 *
 * @example
 * ```ts
 * import { COMMANDS } from "./mod.ts";
 * console.assert(COMMANDS.some((c) => c.name === "inspect"));
 * ```
 */
export const COMMANDS: readonly Command[] = [inspectCommand];

/**
 * Run `amp` with `argv` (without the program name); returns the exit code.
 *
 * @example
 * ```ts
 * import { main } from "./mod.ts";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * console.assert((await main(["frobnicate"], io)) === 2);
 * console.assert(io.err === 'amp: unknown verb "frobnicate" (see amp --help)\n');
 * ```
 */
export function main(argv: readonly string[], io?: CliIo): Promise<number> {
  return runCli(
    argv,
    io ? { commands: COMMANDS, version: VERSION, io } : {
      commands: COMMANDS,
      version: VERSION,
    },
  );
}
