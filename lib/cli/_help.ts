/**
 * Help text of the `amp` command line, generated from the command registry.
 *
 * @module
 */

import { type Command, COMMON_OPTIONS, type OptionSpecs } from "./_command.ts";

/** Options accepted before the verb. */
export const GLOBAL_OPTIONS: OptionSpecs = {
  help: { type: "boolean", short: "h", description: "Show this help and exit" },
  version: { type: "boolean", short: "V", description: "Print the version and exit" },
  verbose: COMMON_OPTIONS.verbose!,
};

function pad(s: string, width: number): string {
  return s.length >= width ? s + "  " : s + " ".repeat(width - s.length);
}

/**
 * Lines describing `options`, aligned in two columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { optionLines } from "./_help.ts";
 * const lines = optionLines({ json: { type: "boolean", description: "Print JSON" } });
 * assert(lines[0]!.includes("--json") && lines[0]!.includes("Print JSON"));
 * ```
 */
export function optionLines(options: OptionSpecs): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : "    ";
    const value = o.type === "string" ? ` ${o.valueName ?? "VALUE"}` : "";
    return [`  ${short}--${name}${value}`, o.description] as const;
  });
  const width = Math.max(0, ...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, d]) => pad(l, width) + d);
}

/**
 * The top-level help: every verb with its summary, and the global options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { topHelp } from "./_help.ts";
 * const text = topHelp([{ name: "x", summary: "Do x", usage: "x", options: {}, run: () => 0 }], "1.0.0");
 * assert(text.includes("x") && text.includes("Do x") && text.includes("1.0.0"));
 * ```
 */
export function topHelp(commands: readonly Command[], version: string): string {
  const width = Math.max(4, ...commands.map((c) => c.name.length)) + 3;
  return [
    `amp ${version} - drive asymmetric multiprocessing systems (OpenAMP remoteproc + rpmsg)`,
    "",
    "Usage: amp [-h] [-V] [-v] <verb> [options] [args]",
    "",
    "Verbs:",
    ...commands.map((c) => "  " + pad(c.name, width) + c.summary),
    "  " + pad("help", width) + "Show the help of a verb (amp help <verb>)",
    "",
    "Global options:",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    "Exit status: 0 success, 1 failure, 2 command-line error.",
    "Run 'amp <verb> --help' for the options of a verb.",
    "",
  ].join("\n");
}

/**
 * The help of one verb: synopsis, description, options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandHelp } from "./_help.ts";
 * const text = commandHelp({ name: "x", summary: "Do x", usage: "x <file>", options: {}, run: () => 0 });
 * assert(text.startsWith("Usage: amp x <file>") && text.includes("--help"));
 * ```
 */
export function commandHelp(command: Command): string {
  const lines = [`Usage: amp ${command.usage}`, "", command.summary];
  if (command.description) lines.push("", command.description.trimEnd());
  lines.push("", "Options:", ...optionLines({ ...command.options, ...COMMON_OPTIONS }), "");
  return lines.join("\n");
}
