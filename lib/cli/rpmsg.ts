/**
 * `amp rpmsg ping|test|matrix|listen|send`: the seed's rpmsg demos and two
 * tools, run as a host session against the running remote.
 *
 * @module
 */

import { isAmpError, UsageError } from "../errors.ts";
import { DemoRun } from "../apps/channel.ts";
import type { HostSession } from "../host/session.ts";
import { type Command, type CommandContext, defineCommand } from "./_command.ts";
import { readInputFile } from "./_files.ts";
import {
  DEMO_OPTIONS,
  demoIo,
  type DemoName,
  finishDemo,
  intOption,
  openRemoteSession,
  runDemo,
  targetOptions,
} from "./_demos.ts";
import { findTarget } from "./_target.ts";
import { KERNEL_MACHINE, runKernelRpmsg } from "./_kernel.ts";

const SUBS: Record<string, DemoName> = { ping: "ping", test: "test", matrix: "matrix" };

function printable(d: Uint8Array): string | undefined {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(d).replace(/\0+$/, "");
  return /^[\x20-\x7e\t\n\r\u00a0-\uffff]*$/.test(text) && !text.includes("\ufffd")
    ? text
    : undefined;
}

function hexBytes(d: Uint8Array): string {
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

async function listen(ctx: CommandContext, name: string): Promise<number> {
  const timeoutMs = intOption(ctx.values.timeout, "timeout") ?? 5000;
  const count = intOption(ctx.values.count, "count");
  const { profile } = await findTarget(targetOptions(ctx));
  const ac = new AbortController();
  const onSig = () => ac.abort();
  Deno.addSignalListener("SIGINT", onSig);
  Deno.addSignalListener("SIGTERM", onSig);
  const run = new DemoRun("listen");
  const r = run.result;
  let s: HostSession;
  try {
    s = await openRemoteSession(profile, {
      timeoutMs,
      signal: ac.signal,
      log: (l) => ctx.verbose && !ctx.json && ctx.out(l),
    });
  } catch (e) {
    Deno.removeSignalListener("SIGINT", onSig);
    Deno.removeSignalListener("SIGTERM", onSig);
    throw e;
  }
  try {
    const ch = await s.channel(name);
    if (!ctx.json) {
      ctx.out(
        `Listening on "${name}" (local ${ch.endpoint.addr}, remote ${ch.endpoint.dst})${
          count ? ` for ${count} message(s)` : "; Ctrl+C to stop"
        }`,
      );
    }
    while (!ac.signal.aborted && (count === undefined || r.received < count)) {
      let d: Uint8Array;
      try {
        // Without --count, wait until interrupted; with it, each message within --timeout.
        d = await ch.recv(count === undefined ? 3_600_000 : timeoutMs);
      } catch (e) {
        if (ac.signal.aborted) break;
        if (isAmpError(e) && e.code === "TIMEOUT" && count === undefined) continue;
        run.fail((e as Error).message);
        break;
      }
      r.received++;
      const text = printable(d);
      if (ctx.json) {
        ctx.out(
          JSON.stringify({
            n: r.received,
            len: d.length,
            ...(text !== undefined ? { text } : { hex: hexBytes(d) }),
          }),
        );
      } else ctx.out(`[${r.received}] ${d.length} bytes: ${text ?? hexBytes(d)}`);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSig);
    Deno.removeSignalListener("SIGTERM", onSig);
    await s.close();
  }
  return finishDemo(ctx, run.finish(count ?? r.received));
}

async function send(ctx: CommandContext, name: string, words: readonly string[]): Promise<number> {
  const file = ctx.values.file;
  if ((typeof file === "string") === (words.length > 0)) {
    throw new UsageError(`rpmsg send: give the text or --file FILE (one of them)`);
  }
  const timeoutMs = intOption(ctx.values.timeout, "timeout") ?? 5000;
  const replies = intOption(ctx.values.replies, "replies", 0) ?? 0;
  const { profile } = await findTarget(targetOptions(ctx));
  const data = typeof file === "string"
    ? await readInputFile(file)
    : new TextEncoder().encode(words.join(" "));
  const run = new DemoRun("send");
  const r = run.result;
  const s = await openRemoteSession(profile, {
    timeoutMs,
    log: (l) => ctx.verbose && !ctx.json && ctx.out(l),
  });
  try {
    const ch = await s.channel(name);
    const max = ch.maxPayload;
    const parts = data.length === 0 ? 1 : Math.ceil(data.length / max);
    for (let i = 0; i < parts; i++) {
      await ch.send(data.subarray(i * max, Math.min(data.length, (i + 1) * max)));
      r.sent++;
    }
    if (!ctx.json) {
      ctx.out(
        `Sent ${data.length} bytes to "${name}" (remote ${ch.endpoint.dst}) in ${r.sent} message(s)`,
      );
    }
    while (r.received < replies) {
      let d: Uint8Array;
      try {
        d = await ch.recv(timeoutMs);
      } catch (e) {
        if (!isAmpError(e)) throw e;
        run.fail(`reply ${r.received + 1} of ${replies}: ${e.message}`);
        break;
      }
      r.received++;
      if (!ctx.json) {
        ctx.out(`reply ${r.received}: ${d.length} bytes: ${printable(d) ?? hexBytes(d)}`);
      }
    }
  } finally {
    await s.close();
  }
  return finishDemo(ctx, run.finish(r.received));
}

/** `amp rpmsg`. */
export const rpmsgCommand: Command = defineCommand({
  name: "rpmsg",
  summary: "rpmsg demos and tools: ping, test, matrix, listen <name>, send <name>",
  usage: "rpmsg ping|test|matrix|listen <name>|send <name> [text...] [options]",
  description:
    'ping    rpmsg-client-sample: 99 x "hello world!" then "goodbye!", each echo checked\n' +
    "test    msg-test echo: payload sizes 1..480 with the {num, size} header at the remote's\n" +
    "        word size and 0xA5 data; every echo compared; prints the error count\n" +
    "matrix  200 products of random 6x6 matrices, each checked\n" +
    "listen  print the messages the remote sends on a service\n" +
    "send    send text (or --file) to a service, optionally waiting for --replies\n" +
    "With --machine kernel each verb runs over the kernel's rpmsg_char devices\n" +
    "(/dev/rpmsg_ctrlN, /dev/rpmsgN) against the channels its remote announced.\n" +
    "Each prints a final PASS/FAIL line and exits 1 on any error.",
  options: {
    ...DEMO_OPTIONS,
    count: {
      type: "string",
      valueName: "N",
      description:
        "ping: messages (100); test: rounds (1); matrix: iterations (200); listen: stop after N",
    },
    size: { type: "string", valueName: "N", description: "test: largest data size (480)" },
    file: { type: "string", valueName: "FILE", description: "send: the file's bytes" },
    replies: { type: "string", valueName: "N", description: "send: wait for N replies (0)" },
    service: {
      type: "string",
      valueName: "NAME",
      description:
        "ping/test/matrix: bind this service instead (matrix default: rpmsg-openamp-matrix, else rpmsg-openamp-demo-channel)",
    },
  },
  args: { min: 1, max: 1000, names: "ping|test|matrix|listen|send" },
  async run(ctx) {
    const [sub, ...rest] = ctx.positionals as [string, ...string[]];
    if (ctx.values.machine === KERNEL_MACHINE) return runKernelRpmsg(ctx, sub, rest);
    if (sub === "listen" || sub === "send") {
      const name = rest[0];
      if (name === undefined) throw new UsageError(`rpmsg ${sub}: missing <name>`);
      if (sub === "listen" && rest.length > 1) {
        throw new UsageError(`rpmsg listen: unexpected argument "${rest[1]}"`);
      }
      return sub === "listen" ? listen(ctx, name) : send(ctx, name, rest.slice(1));
    }
    const demo = Object.hasOwn(SUBS, sub) ? SUBS[sub] : undefined;
    if (!demo) {
      throw new UsageError(
        `rpmsg: unknown subcommand "${sub}" (ping, test, matrix, listen, send)`,
      );
    }
    if (rest.length > 0) throw new UsageError(`rpmsg ${sub}: unexpected argument "${rest[0]}"`);
    const opts = {
      ...(ctx.values.count !== undefined ? { count: intOption(ctx.values.count, "count")! } : {}),
      ...(ctx.values.size !== undefined
        ? { size: intOption(ctx.values.size, "size", 1, 0xffff)! }
        : {}),
      timeoutMs: intOption(ctx.values.timeout, "timeout") ?? 5000,
      ...(typeof ctx.values.service === "string" ? { service: ctx.values.service } : {}),
    };
    const { profile } = await findTarget(targetOptions(ctx));
    const r = await runDemo(demo, profile, demoIo(ctx), opts);
    return finishDemo(ctx, r);
  },
});
