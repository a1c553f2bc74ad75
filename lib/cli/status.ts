/**
 * `amp status`: every remote cpu amp processes own, with state, firmware,
 * machine and uptime, from the runtime state file.
 *
 * @module
 */

import { liveStatus } from "../runtime/client.ts";
import { statusReport } from "../runtime/status.ts";
import { type Command, defineCommand } from "./_command.ts";
import { table } from "./_format.ts";
import { kernelStatusJson, kernelStatusLines } from "./_kernel.ts";

/**
 * Seconds as `1h02m03s` / `2m03s` / `3s`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatUptime } from "./status.ts";
 * assert(formatUptime(3723) === "1h02m03s" && formatUptime(5) === "5s");
 * ```
 */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const p = (n: number) => String(n).padStart(2, "0");
  if (h > 0) return `${h}h${p(m)}m${p(r)}s`;
  if (m > 0) return `${m}m${p(r)}s`;
  return `${r}s`;
}

/** `amp status`. */
export const statusCommand: Command = defineCommand({
  name: "status",
  summary: "Show every remote core amp runs: state, firmware, machine, uptime",
  usage: "status [--json] [--prune] [--machine NAME]",
  description:
    "For each core, the state its platform reports now (asked from the owning `amp load`:\n" +
    "the SBI's hart state on qemu-rv64, the kernel's on remoteproc machines), else the last\n" +
    "recorded one. Entries whose owning process is gone are shown as stale, without an\n" +
    "uptime; --prune removes them and releases what they left (processes, files, shm objects).",
  options: {
    json: { type: "boolean", description: "Print the entries as JSON" },
    prune: { type: "boolean", description: "Remove stale entries and release their leftovers" },
    machine: {
      type: "string",
      short: "m",
      valueName: "NAME",
      description: "Only the cores of this machine (its name as listed)",
    },
  },
  async run(ctx) {
    const machine = typeof ctx.values.machine === "string" ? ctx.values.machine : undefined;
    const entries = (await statusReport({
      prune: ctx.values.prune === true,
      onStale: (l) => ctx.err(l),
    })).filter((e) => machine === undefined || e.machine === machine);
    const now = Date.now();
    const rows = await Promise.all(entries.map(async (e) => {
      const up = (now - Date.parse(e.startedAt)) / 1000;
      const live = e.stale ? undefined : await liveStatus(e);
      const platform = typeof live?.platform === "string" ? live.platform : undefined;
      return {
        ...e,
        state: e.stale ? "stale" : e.state,
        ...(platform !== undefined ? { platform } : {}),
        uptimeSeconds: e.stale ? null : Math.max(0, Math.floor(up)),
      };
    }));
    const kernel = kernelStatusJson();
    if (ctx.json) {
      ctx.out(JSON.stringify({ entries: rows, ...(kernel ? { kernel } : {}) }, null, 2));
      return 0;
    }
    for (const l of kernelStatusLines()) ctx.out(l);
    if (rows.length === 0) {
      ctx.out("No remote cores are running.");
      return 0;
    }
    for (
      const l of table(
        ["cpu", "state", "platform", "machine", "pid", "uptime", "firmware"],
        rows.map((r) => [
          String(r.cpu),
          r.state,
          r.platform ?? "-",
          r.machine,
          String(r.pid),
          r.uptimeSeconds === null ? "-" : formatUptime(r.uptimeSeconds),
          r.firmware,
        ]),
        ["cpu"],
      )
    ) ctx.out(l);
    return 0;
  },
});
