/**
 * The `amp` command-line runner: global options, verb dispatch, strict option
 * parsing, help, and the error policy.
 *
 * Error policy: a failure prints ONE line `amp: <message>` on standard error.
 * Command-line mistakes ({@linkcode UsageError}, unknown verb or option,
 * missing argument) exit 2; every other failure exits 1. With `--verbose` the
 * stack and the `cause` chain follow that line.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { isAmpError, UsageError } from "../errors.ts";
import {
  type CliIo,
  type Command,
  type CommandContext,
  COMMON_OPTIONS,
  type OptionSpecs,
  type OptionValues,
} from "./_command.ts";
import { commandHelp, GLOBAL_OPTIONS, topHelp } from "./_help.ts";
import { denoIo } from "./_io.ts";

/** Exit code of a command-line mistake. */
export const EXIT_USAGE = 2;
/** Exit code of a runtime failure. */
export const EXIT_FAILURE = 1;

/** Options of {@linkcode runCli}. */
export interface RunCliOptions {
  /** The verbs. */
  readonly commands: readonly Command[];
  /** Printed by `--version`. */
  readonly version: string;
  /** Output writers (default: the process's standard streams). */
  readonly io?: CliIo;
}

function parseConfig(options: OptionSpecs) {
  const out: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> =
    {};
  for (const [name, o] of Object.entries(options)) {
    out[name] = { type: o.type };
    if (o.short !== undefined) out[name].short = o.short;
    if (o.multiple !== undefined) out[name].multiple = o.multiple;
  }
  return out;
}

/** Turn a `node:util` parseArgs error into a one-line UsageError. */
function usageFromParseArgs(e: unknown, where: string, helpHint: string): unknown {
  const code = (e as { code?: unknown } | null)?.code;
  if (!(e instanceof TypeError) || typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS")) {
    return e;
  }
  const first = e.message.split("\n")[0]!.split(". ")[0]!.replace(/\.$/, "");
  const msg = first.charAt(0).toLowerCase() + first.slice(1);
  return new UsageError(`${msg} for ${where} (see ${helpHint})`, { cause: e });
}

function parse(args: string[], options: OptionSpecs, positionals: boolean) {
  return parseArgs({
    args,
    options: parseConfig(options),
    strict: true,
    allowPositionals: positionals,
  });
}

/**
 * Write the one-line error report for `e` (plus stack and causes when
 * `verbose`) and return the exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportError } from "./main.ts";
 * import { captureIo } from "./_io.ts";
 * import { UsageError } from "../errors.ts";
 * const io = captureIo();
 * assert(reportError(new UsageError("missing <fw.elf>"), io, false) === 2);
 * assert(io.err === "amp: missing <fw.elf>\n");
 * ```
 */
export function reportError(e: unknown, io: CliIo, verbose: boolean): number {
  const oneLine = (s: string) => s.replace(/\s*\n\s*/g, " ").trim();
  let line: string;
  let code = EXIT_FAILURE;
  if (e instanceof UsageError) {
    line = oneLine(e.message);
    code = EXIT_USAGE;
  } else if (isAmpError(e)) {
    line = oneLine(e.message);
  } else {
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    line = `internal error: ${oneLine(msg)}${verbose ? "" : " (run with --verbose for the stack)"}`;
  }
  io.stderr(`amp: ${line}\n`);
  if (verbose) {
    let cur: unknown = e;
    for (let depth = 0; cur !== undefined && depth < 16; depth++) {
      const text = cur instanceof Error
        ? (cur.stack ?? `${cur.name}: ${cur.message}`)
        : String(cur);
      const code = isAmpError(cur) ? ` [${cur.code}]` : "";
      io.stderr(`${depth === 0 ? "" : "caused by: "}${text}${code}\n`);
      cur = cur instanceof Error ? cur.cause : undefined;
    }
  }
  return code;
}

/**
 * Run the `amp` command line `argv` (without the program name) and return the
 * exit code. Never throws: every failure is reported on `io.stderr`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCli } from "./main.ts";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * const code = await runCli(["--version"], { commands: [], version: "1.2.3", io });
 * assert(code === 0 && io.out === "amp 1.2.3\n");
 * ```
 */
export async function runCli(argv: readonly string[], options: RunCliOptions): Promise<number> {
  const io = options.io ?? denoIo();
  const { commands, version } = options;
  let verbose = false;
  let jsonOut = false;
  try {
    // Global options are those before the first non-option argument (the verb).
    let i = 0;
    while (i < argv.length && argv[i]!.startsWith("-") && argv[i] !== "-" && argv[i] !== "--") i++;
    const globalArgs = argv.slice(0, i);
    if (argv[i] === "--") i++;
    let globals;
    try {
      globals = parse(globalArgs, GLOBAL_OPTIONS, false).values;
    } catch (e) {
      throw usageFromParseArgs(e, "amp", "amp --help");
    }
    verbose = globals.verbose === true;
    if (globals.help) {
      io.stdout(topHelp(commands, version));
      return 0;
    }
    if (globals.version) {
      io.stdout(`amp ${version}\n`);
      return 0;
    }
    const verb = argv[i];
    if (verb === undefined) throw new UsageError("missing verb (see amp --help)");
    const rest = argv.slice(i + 1);
    if (verb === "help") {
      if (rest.length === 0 || (rest.length === 1 && (rest[0] === "--help" || rest[0] === "-h"))) {
        io.stdout(topHelp(commands, version));
        return 0;
      }
      const target = commands.find((c) => c.name === rest[0]);
      if (!target || rest.length > 1) {
        throw new UsageError(`help: unknown verb "${rest.join(" ")}" (see amp --help)`);
      }
      io.stdout(commandHelp(target));
      return 0;
    }
    const command = commands.find((c) => c.name === verb);
    if (!command) throw new UsageError(`unknown verb "${verb}" (see amp --help)`);

    let parsed;
    try {
      parsed = parse(
        joinNegativeValues(rest, { ...command.options, ...COMMON_OPTIONS }),
        { ...command.options, ...COMMON_OPTIONS },
        true,
      );
    } catch (e) {
      throw usageFromParseArgs(e, `amp ${verb}`, `amp ${verb} --help`);
    }
    const values = parsed.values as OptionValues;
    verbose ||= values.verbose === true;
    if (values.help) {
      io.stdout(commandHelp(command));
      return 0;
    }
    const { min, max, names } = command.args ?? { min: 0, max: 0, names: "" };
    const n = parsed.positionals.length;
    if (n < min) {
      throw new UsageError(`${verb}: missing ${names} (see amp ${verb} --help)`);
    }
    if (n > max) {
      throw new UsageError(
        `${verb}: unexpected argument "${parsed.positionals[max]}" (see amp ${verb} --help)`,
      );
    }
    const ctx: CommandContext = {
      positionals: parsed.positionals,
      values,
      verbose,
      json: values.json === true,
      out: (line = "") => io.stdout(line + "\n"),
      err: (line = "") => io.stderr(line + "\n"),
      io,
    };
    jsonOut = ctx.json;
    return await command.run(ctx);
  } catch (e) {
    if (jsonOut) {
      // --json: the failure as JSON on standard output too, for scripts.
      io.stdout(JSON.stringify({ ok: false, ...errorFields(e) }) + "\n");
    }
    return reportError(e, io, verbose);
  }
}

function errorFields(e: unknown): { code: string; error: string } {
  return {
    code: isAmpError(e) ? e.code : e instanceof UsageError ? "USAGE" : "INTERNAL",
    error: e instanceof Error ? e.message : String(e),
  };
}

/**
 * `--opt -5` as `--opt=-5` for string options: a value that starts with "-"
 * and a digit is a (bad) number, not an unknown option, so the option's own
 * check reports it ("--count must be an integer in 1..").
 */
function joinNegativeValues(args: readonly string[], options: OptionSpecs): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    const name = a.startsWith("--") ? a.slice(2) : undefined;
    const spec = name !== undefined && !name.includes("=") ? options[name] : undefined;
    if (spec?.type === "string" && next !== undefined && /^-[0-9.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
