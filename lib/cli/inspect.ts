/**
 * `amp inspect`: decode a firmware ELF and its resource table and list every
 * problem that would stop it from loading, like a linter.
 *
 * `inspectFirmware` (`lib/diag/inspect.ts`) builds the plain-data
 * `InspectReport` (what `--json` prints); here are the command line and
 * {@linkcode formatInspect}, which renders the report as text.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type EntryInfo, inspectFirmware, type InspectReport } from "../diag/inspect.ts";
import { loadProfile } from "../machine/mod.ts";
import { type Command, defineCommand } from "./_command.ts";
import { readInputFile } from "./_files.ts";
import { hex, table } from "./_format.ts";

/** Machine profile planned against when `--machine` is not given. */
export const DEFAULT_MACHINE = "rv64-virt";

function plural(n: number, word: string, many = word + "s"): string {
  return `${n} ${n === 1 ? word : many}`;
}

function bits(value: number, names: readonly string[], empty: string): string {
  return `${hex(value)} (${names.length ? names.join("|") : empty})`;
}

function entryLines(e: EntryInfo): string[] {
  const head = `[${e.index}] `;
  const at = `at +${hex(e.offset)}`;
  switch (e.kind) {
    case "vdev":
      return [
        `${head}vdev ${e.idName} (id ${e.id}) ${at}: notifyid ${e.notifyid}, config_len ${e.configLen}`,
        `    dfeatures ${bits(e.dfeatures, e.dfeatureNames, "none")}` +
        `, gfeatures ${bits(e.gfeatures, e.gfeatureNames, "none")}` +
        `, status ${bits(e.status, e.statusNames, "reset")}`,
        ...table(
          ["vring", "da", "align", "num", "notifyid"],
          e.vrings.map((v) => [
            String(v.index),
            v.daHex,
            hex(v.align),
            String(v.num),
            String(v.notifyid),
          ]),
          ["vring", "num", "notifyid"],
        ).map((l) => "    " + l),
      ];
    case "carveout":
    case "devmem":
      return [
        `${head}${e.kind} "${e.name}" ${at}: da ${e.daHex}, pa ${e.paHex}, len ${
          hex(e.len)
        }, flags ${hex(e.flags)}`,
      ];
    case "trace":
      return [`${head}trace "${e.name}" ${at}: da ${e.daHex}, len ${hex(e.len)}`];
    case "vendor":
      return [`${head}vendor type ${e.type} ${at}: ${e.size} bytes (skipped)`];
  }
}

/**
 * Render a report as text. Sections of the ELF are listed only when `verbose`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatInspect } from "./inspect.ts";
 * const text = formatInspect({ file: "x", size: 3, problems: [], errors: 0, warnings: 0, ok: true });
 * assert(text.includes("Problems: none"));
 * ```
 */
export function formatInspect(r: InspectReport, verbose = false): string {
  const out: string[] = [];
  out.push(`File      ${r.file} (${r.size} bytes)`);
  const elf = r.elf;
  if (elf) {
    out.push(
      `ELF       ELF${elf.class} little-endian, ${elf.machineName} (${elf.machine}), ` +
        `${elf.typeName} (${elf.type}), flags ${hex(elf.flags)}`,
    );
    out.push(`Entry     ${elf.entryHex}`);
    out.push("", `Segments (${elf.segments.length})`);
    out.push(
      ...table(
        ["idx", "type", "offset", "paddr", "vaddr", "filesz", "memsz", "flags", "align"],
        elf.segments.map((s) => [
          String(s.index),
          s.typeName,
          hex(s.offset),
          s.paddrHex,
          s.vaddrHex,
          hex(s.filesz),
          hex(s.memsz),
          s.flagsText,
          hex(s.align),
        ]),
        ["idx"],
      ).map((l) => "  " + l),
    );
    if (verbose) {
      out.push("", `Sections (${elf.sections.length})`);
      out.push(
        ...table(
          ["idx", "name", "type", "flags", "addr", "offset", "size"],
          elf.sections.map((s) => [
            String(s.index),
            s.name,
            s.typeName,
            s.flagsText,
            s.addrHex,
            hex(s.offset),
            hex(s.size),
          ]),
          ["idx"],
        ).map((l) => "  " + l),
      );
    }
  }
  if (r.resourceTable === null) {
    out.push("", "Resource table: none (no .resource_table section, so no vdevs)");
  } else if (r.resourceTable) {
    const t = r.resourceTable;
    const header = t.version === undefined
      ? ""
      : `, ver ${t.version}, ${plural(t.num ?? 0, "entry", "entries")}`;
    out.push("", `Resource table: .resource_table at ${t.addrHex}, ${t.size} bytes${header}`);
    if (t.entries) { for (const e of t.entries) out.push(...entryLines(e).map((l) => "  " + l)); }
    else out.push("  (entries not decoded: the table structure is broken, see problems)");
  }
  if (r.load) {
    const l = r.load;
    out.push(
      "",
      `Load plan on ${l.machine}: ` +
        (l.ok ? `fits, ${l.totalBytes} bytes to copy or zero` : "does not fit (see problems)"),
    );
    for (const s of l.segments) {
      out.push(`  segment ${s.index} ${s.paddrHex} +${hex(s.memsz)} -> region ${s.region}`);
    }
    const t = l.resourceTable;
    if (t) {
      out.push(`  resource table ${t.imageAddrHex} -> region ${t.imageRegion}`);
      out.push(`  live resource table ${t.addrHex} -> region ${t.region}`);
    }
  }
  out.push("");
  if (r.problems.length === 0) {
    out.push("Problems: none");
  } else {
    out.push(`Problems: ${plural(r.errors, "error")}, ${plural(r.warnings, "warning")}`);
    for (const p of r.problems) out.push(`  ${p.severity.padEnd(7)}  ${p.code}  ${p.message}`);
  }
  return out.join("\n") + "\n";
}

/** The `amp inspect` verb. */
export const inspectCommand: Command = defineCommand({
  name: "inspect",
  summary: "Decode a firmware ELF and its resource table; list every problem",
  usage: "inspect <fw.elf> [--json] [--machine NAME|PATH] [-v]",
  description: [
    "Prints the ELF header, the program headers (and with -v the sections), the",
    "resource table decoded (vdevs with their vrings, carveouts, devmem, traces,",
    "vendor entries), the load plan on a machine profile, then every problem found",
    "by the ELF checks, the resource table checks and the load planner.",
    `The plan uses heap memory shaped like the machine's regions (default ${DEFAULT_MACHINE});`,
    "nothing is mapped or written.",
    "",
    "Exit status 1 when any problem is an error (the firmware could not be loaded).",
    "--json prints the same data as one JSON object: numbers are numbers, addresses",
    'also have a "...Hex" string twin ("ANY" for 0xffffffff in the resource table).',
  ].join("\n"),
  options: {
    json: { type: "boolean", description: "Print the report as JSON" },
    machine: {
      type: "string",
      short: "m",
      valueName: "NAME|PATH",
      description: `Machine profile to plan the load on (default ${DEFAULT_MACHINE})`,
    },
  },
  args: { min: 1, max: 1, names: "<fw.elf>" },
  async run(ctx) {
    const path = ctx.positionals[0]!;
    const machineArg = ctx.values.machine;
    if (machineArg !== undefined && (typeof machineArg !== "string" || machineArg === "")) {
      throw new UsageError("inspect: --machine needs a profile name or path");
    }
    const bytes = await readInputFile(path);
    const machine = await loadProfile(machineArg ?? DEFAULT_MACHINE);
    const report = inspectFirmware(bytes, { name: path, machine });
    if (ctx.json) ctx.io.stdout(JSON.stringify(report, null, 2) + "\n");
    else ctx.io.stdout(formatInspect(report, ctx.verbose));
    if (!report.ok) {
      ctx.err(
        `amp: firmware "${path}" cannot be loaded: ${
          plural(report.errors, "error")
        } (listed above)`,
      );
      return 1;
    }
    return 0;
  },
});
