/**
 * `amp console <cpu>`: the remote's serial console, through the `amp load`
 * that owns the core (it never stops the core).
 *
 * - On a terminal: keys in, output out, until Ctrl+] detaches.
 * - `--send TEXT`: type TEXT and a newline.
 * - `--expect REGEX`: wait until the output matches (exit 0) or `--timeout`
 *   passes (exit 1, the last console lines in the message); after `--send`
 *   only what comes after the send counts, otherwise also what the remote
 *   printed since it was started.
 * - Without a terminal and without either: print the console output so far.
 *
 * @module
 */

import { AmpError, UsageError } from "../errors.ts";
import { checkCpu } from "../machine/validate.ts";
import {
  attachConsole,
  expectOutput,
  expectTimeout,
  readConsoleLog,
  typeLine,
} from "../runtime/console.ts";
import type { CpuEntry } from "../runtime/registry.ts";
import { type Command, type CommandContext, defineCommand } from "./_command.ts";
import { intOption } from "./_demos.ts";
import { cpuArgument, findTarget } from "./_target.ts";

/** The byte that detaches an interactive console (Ctrl+]). */
export const DETACH_BYTE = 0x1d;

/** Longest `--expect` pattern accepted. */
const MAX_PATTERN = 1000;

async function consoleEntry(ctx: CommandContext): Promise<CpuEntry> {
  const cpuArg = cpuArgument("console", ctx.positionals, ctx.values.cpu);
  const machine = typeof ctx.values.machine === "string" ? ctx.values.machine : undefined;
  const { profile, entry } = await findTarget({
    ...(cpuArg !== undefined ? { cpu: cpuArg } : {}),
    ...(machine !== undefined ? { machine } : {}),
  });
  const cpu = cpuArg !== undefined ? Number(cpuArg) : entry?.cpu ?? profile.cpus[0]!;
  checkCpu(profile, cpu);
  if (!entry) {
    throw new AmpError(
      "NO_CONSOLE",
      `Machine "${profile.name}" has no console amp can reach: no \`amp load\` runs cpu ${cpu} of it` +
        (profile.control.kind === "openamp-linux"
          ? " (its remote is a separate Linux process, amp remote or upstream's app)"
          : ""),
    );
  }
  if (!entry.consoleLog || !entry.control) {
    throw new AmpError(
      "NO_CONSOLE",
      `Machine "${profile.name}" has no console amp can reach (its control kind "${profile.control.kind}" gives none)`,
    );
  }
  return entry;
}

function pattern(v: unknown): RegExp | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (s.length === 0 || s.length > MAX_PATTERN) {
    throw new UsageError(`--expect needs a pattern of 1..${MAX_PATTERN} characters`);
  }
  try {
    return new RegExp(s);
  } catch (e) {
    throw new UsageError(
      `--expect ${JSON.stringify(s)} is not a valid regular expression: ${(e as Error).message}`,
    );
  }
}

async function interactive(ctx: CommandContext, entry: CpuEntry): Promise<number> {
  const con = await attachConsole(entry);
  ctx.err(
    `Connected to the console of cpu ${entry.cpu} (machine "${entry.machine}"); Ctrl+] detaches`,
  );
  Deno.stdin.setRaw(true);
  let detached = false;
  const keys = (async () => {
    const buf = new Uint8Array(1024);
    for (;;) {
      let n: number | null;
      try {
        n = await Deno.stdin.read(buf);
      } catch {
        n = null;
      }
      if (n === null) break;
      const chunk = buf.subarray(0, n);
      const at = chunk.indexOf(DETACH_BYTE);
      if (at >= 0) {
        if (at > 0) await con.write(chunk.slice(0, at)).catch(() => {});
        detached = true;
        break;
      }
      await con.write(chunk.slice()).catch(() => {});
    }
    con.close();
  })();
  const dec = new TextDecoder();
  try {
    for (;;) {
      const out = await con.read();
      if (out === null) break;
      ctx.io.stdout(dec.decode(out, { stream: true }));
    }
  } finally {
    Deno.stdin.setRaw(false);
    con.close();
  }
  if (!detached) {
    ctx.err(`\nThe console of cpu ${entry.cpu} closed (the core stopped)`);
    // Stop waiting for a key: the read loop ends with stdin or the next key.
    return 1;
  }
  await keys;
  ctx.err(`\nDetached from the console of cpu ${entry.cpu}; it keeps running`);
  return 0;
}

/** `amp console`. */
export const consoleCommand: Command = defineCommand({
  name: "console",
  summary: "The remote's serial console: attach, type a line, or wait for output",
  usage: "console [<cpu>|--cpu N] [--send TEXT] [--expect REGEX] [--timeout MS] [--machine NAME]",
  description:
    "Talks to the console of a core run by `amp load` (qemu-rv64: the guest UART; sim: the\n" +
    "simulated core's shell). On a terminal it attaches: keys go to the remote, its output\n" +
    "comes back, Ctrl+] detaches (the core keeps running). --send TEXT types TEXT and a\n" +
    "newline. --expect REGEX waits until the output matches (exit 0) or --timeout passes\n" +
    "(exit 1, with the last lines printed); with --send only output after the send counts,\n" +
    "without it also what the remote printed since it was started. Without a terminal and\n" +
    "without --send/--expect it prints the output so far. Everything the remote prints is\n" +
    "also in the console log next to the state file (`amp status --json` names it).",
  options: {
    send: { type: "string", valueName: "TEXT", description: "Type TEXT and a newline" },
    expect: {
      type: "string",
      valueName: "REGEX",
      description: "Wait until the console output matches",
    },
    timeout: {
      type: "string",
      valueName: "MS",
      description: "With --expect: longest wait (default 10000)",
    },
    cpu: {
      type: "string",
      valueName: "N",
      description: "The remote cpu, as the other verbs take it (same as the <cpu> argument)",
    },
    machine: {
      type: "string",
      short: "m",
      valueName: "NAME",
      description: "The machine (default: the one running the cpu)",
    },
  },
  args: { min: 0, max: 1, names: "[<cpu>]" },
  async run(ctx) {
    const send = ctx.values.send === undefined ? undefined : String(ctx.values.send);
    if (send !== undefined && !/^[\x20-\x7e\t]{0,1000}$/.test(send)) {
      throw new UsageError("--send takes printable text of at most 1000 characters");
    }
    const re = pattern(ctx.values.expect);
    const timeout = intOption(ctx.values.timeout, "timeout");
    if (timeout !== undefined && re === undefined) {
      throw new UsageError("--timeout is only for --expect");
    }
    const entry = await consoleEntry(ctx);
    if (re !== undefined) {
      const timeoutMs = timeout ?? 10_000;
      const r = await expectOutput(entry, {
        pattern: re,
        timeoutMs,
        ...(send !== undefined ? { send } : { fromStart: true }),
      });
      if (!r.matched) throw expectTimeout(re, timeoutMs, r.output);
      if (send !== undefined) ctx.io.stdout(r.output);
      return 0;
    }
    if (send !== undefined) {
      await typeLine(entry, send);
      return 0;
    }
    if (!Deno.stdin.isTerminal() || !Deno.stdout.isTerminal()) {
      ctx.io.stdout(await readConsoleLog(entry));
      return 0;
    }
    return await interactive(ctx, entry);
  },
});
