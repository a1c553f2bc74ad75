/**
 * The shape of one `amp` verb and the context it runs in.
 *
 * A command declares its options as a `node:util` `parseArgs` configuration
 * (plus a description per option for `--help`), says how many positional
 * arguments it takes, and implements `run(ctx)` returning the process exit
 * code. Output goes through `ctx.out` / `ctx.err` so a command can run
 * in-process under a test with captured output.
 *
 * @module
 */

/** One option of a command: a `parseArgs` option plus help text. */
export interface OptionSpec {
  /** `"boolean"` for a flag, `"string"` for an option taking a value. */
  readonly type: "string" | "boolean";
  /** Single-character alias, e.g. `"v"` for `-v`. */
  readonly short?: string;
  /** Collect repeated occurrences into an array. */
  readonly multiple?: boolean;
  /** One-line description shown by `--help`. */
  readonly description: string;
  /** Placeholder for the value in `--help`, e.g. `"NAME"`. Only for string options. */
  readonly valueName?: string;
}

/** Options of a command, keyed by long name (without `--`). */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** Parsed option values, keyed by long name. */
export type OptionValues = Readonly<
  Record<string, string | boolean | (string | boolean)[] | undefined>
>;

/** Where a command writes. Each call writes `text` exactly as given. */
export interface CliIo {
  /** Write to standard output. */
  stdout(text: string): void;
  /** Write to standard error. */
  stderr(text: string): void;
}

/** What `run` receives. */
export interface CommandContext {
  /** Positional arguments after the verb. */
  readonly positionals: readonly string[];
  /** Option values after the verb (and the global ones before it). */
  readonly values: OptionValues;
  /** `--verbose` / `-v` was given. */
  readonly verbose: boolean;
  /** `--json` was given (only meaningful for commands that declare it). */
  readonly json: boolean;
  /** Write one line (a newline is appended) to standard output. */
  out(line?: string): void;
  /** Write one line (a newline is appended) to standard error. */
  err(line?: string): void;
  /** The raw writers. */
  readonly io: CliIo;
}

/** One verb of the `amp` command line. */
export interface Command {
  /** The verb, e.g. `"inspect"`. */
  readonly name: string;
  /** One line for the top-level help. */
  readonly summary: string;
  /** Synopsis after `amp`, e.g. `"inspect <fw.elf> [--json] [--machine NAME]"`. */
  readonly usage: string;
  /** Longer text shown by `amp VERB --help` (optional). */
  readonly description?: string;
  /** Options of this verb. `--help`/`-h` and `--verbose`/`-v` are added for every verb. */
  readonly options: OptionSpecs;
  /** Minimum and maximum number of positional arguments (default 0 and 0). */
  readonly args?: { readonly min: number; readonly max: number; readonly names: string };
  /** Do the work; return the exit code. Throw `UsageError` for command-line mistakes. */
  run(ctx: CommandContext): number | Promise<number>;
}

/**
 * Options every verb accepts, added by the runner.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { COMMON_OPTIONS } from "./_command.ts";
 * assert(COMMON_OPTIONS.help?.short === "h");
 * ```
 */
export const COMMON_OPTIONS: OptionSpecs = {
  help: { type: "boolean", short: "h", description: "Show this help and exit" },
  verbose: {
    type: "boolean",
    short: "v",
    description: "More detail; on failure also print the stack and cause chain",
  },
};

/**
 * Identity helper that type-checks a command definition.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineCommand } from "./_command.ts";
 * const hello = defineCommand({
 *   name: "hello",
 *   summary: "Say hello",
 *   usage: "hello",
 *   options: {},
 *   run(ctx) {
 *     ctx.out("hello");
 *     return 0;
 *   },
 * });
 * assert(hello.name === "hello");
 * ```
 */
export function defineCommand(command: Command): Command {
  return command;
}
