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
import { MAX_SEND_FILE_BYTES, readInputFile } from "./_files.ts";
import { maxPingSize } from "../apps/echo.ts";
import { RPMSG_HDR_SIZE } from "../rpmsg/mod.ts";
import { type DemoName, failedDemo, openDemoSession, runDemo } from "../demos/run.ts";
import {
  DEMO_OPTIONS,
  demoIo,
  finishDemo,
  intOption,
  startOptions,
  targetOptions,
} from "./_demos.ts";
import { findTarget, kernelIsDefault } from "./_target.ts";
import { KERNEL_MACHINE, runKernelRpmsg } from "./_kernel.ts";
import { runBenchVerb } from "./_bench.ts";

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
  const { profile, entry } = await findTarget(targetOptions(ctx));
  const ac = new AbortController();
  const onSig = () => ac.abort();
  Deno.addSignalListener("SIGINT", onSig);
  Deno.addSignalListener("SIGTERM", onSig);
  const run = new DemoRun("listen");
  const r = run.result;
  let s: HostSession;
  try {
    s = await openDemoSession(undefined, profile, {
      ...startOptions(ctx),
      ...(entry ? { entry } : {}),
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
    // Listening waits for the service to be announced as long as it listens:
    // until Ctrl+C, unless --timeout bounds it.
    const forever = ctx.values.timeout === undefined;
    if (forever && !ctx.json && !s.services().has(name)) {
      ctx.err(`Waiting for the remote to announce "${name}"; Ctrl+C to stop`);
    }
    let ch;
    try {
      ch = await s.channel(name, { timeoutMs: forever ? 24 * 3_600_000 : timeoutMs });
    } catch (e) {
      if (!ac.signal.aborted) throw e;
      return finishDemo(ctx, run.finish(0)); // Ctrl+C before the service came: nothing heard
    }
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
  const { profile, entry } = await findTarget(targetOptions(ctx));
  const data = typeof file === "string"
    ? await readInputFile(file, { maxBytes: MAX_SEND_FILE_BYTES, what: "the file to send" })
    : new TextEncoder().encode(words.join(" "));
  const run = new DemoRun("send");
  const r = run.result;
  const s = await openDemoSession(undefined, profile, {
    ...startOptions(ctx),
    ...(entry ? { entry } : {}),
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
  summary: "rpmsg demos and tools: ping, test, matrix, listen <name>, send <name>, bench",
  usage: "rpmsg ping|test|matrix|listen <name>|send <name> [text...]|bench [options]",
  description:
    'ping    rpmsg-client-sample: 99 x "hello world!" then "goodbye!", each echo checked\n' +
    "test    msg-test echo: payload sizes 1..480 with the {num, size} header at the remote's\n" +
    "        word size and 0xA5 data; every echo compared; prints the error count\n" +
    "matrix  200 products of random 6x6 matrices, each checked\n" +
    "listen  print the messages the remote sends on a service\n" +
    "send    send text (or --file) to a service, optionally waiting for --replies\n" +
    "bench   measure the echo service: --mode echo (one round trip at a time) or stream\n" +
    "        (a window of messages in flight), per size: round trips/s or msgs/s and MB/s,\n" +
    "        latency min/avg/p50/p99/p99.9/max in us and a log-scale histogram; on sim and\n" +
    "        openamp-linux also the raw limit (two threads ping-ponging one shared word),\n" +
    "        on qemu-rv64 with amp's firmware its raw PING/PONG inside the echo demo,\n" +
    "        measured in the same run, and the ratio. Every echo is checked (also over\n" +
    "        rpmsg_char with --machine kernel, against an echo service of the remote).\n" +
    "With --machine kernel (the default when no amp-owned remote runs and a\n" +
    "/dev/rpmsg_ctrlN exists) each verb runs over the kernel's rpmsg_char devices\n" +
    "(/dev/rpmsg_ctrlN, /dev/rpmsgN) against the channels its remote announced.\n" +
    "Each prints a final PASS/FAIL line and exits 1 on any error.\n" +
    "\n" +
    "Starting the remote's application: when no application waits for a host and the\n" +
    "firmware's console offers the demo's command (the seed's rpmsg_echo, rpmsg_update,\n" +
    "matrix_multiplyd; an RT-Thread `__fsym_` symbol in the ELF), ping/test/matrix type it\n" +
    "first; --start CMD types CMD instead (listen and send type only with --start), and\n" +
    "--no-start never types. The session then waits until the application waits for a\n" +
    "host: its resource table copied again (or amp's readiness word), never a fixed sleep.",
  options: {
    ...DEMO_OPTIONS,
    count: {
      type: "string",
      valueName: "N",
      description:
        "ping: messages (100); test: rounds (1); matrix: iterations (200); listen: stop after N; bench: messages per size (10000)",
    },
    size: {
      type: "string",
      valueName: "N",
      description: "test: largest data size (480); bench: the one payload size",
    },
    sizes: {
      type: "string",
      valueName: "A,B,...",
      description: "bench: payload sizes (default 16, 256 and the largest payload)",
    },
    mode: {
      type: "string",
      valueName: "echo|stream",
      description: "bench: what to measure (echo)",
    },
    duration: {
      type: "string",
      valueName: "S",
      description: "bench: run each size S seconds instead of --count messages",
    },
    "no-limit": { type: "boolean", description: "bench: do not measure the raw limit" },
    warmup: {
      type: "string",
      valueName: "N",
      description:
        "bench: unmeasured echo round trips before each size (20000, at most 2 s; 0: none)",
    },
    file: {
      type: "string",
      valueName: "FILE",
      description: "send: the bytes of FILE (a regular file of at most 4 MiB)",
    },
    replies: { type: "string", valueName: "N", description: "send: wait for N replies (0)" },
    service: {
      type: "string",
      valueName: "NAME",
      description:
        "ping/test/matrix/bench: bind this service instead (matrix default: rpmsg-openamp-matrix, else rpmsg-openamp-demo-channel)",
    },
  },
  args: { min: 1, max: 1000, names: "ping|test|matrix|listen|send|bench" },
  async run(ctx) {
    const [sub, ...rest] = ctx.positionals as [string, ...string[]];
    const kernel = ctx.values.machine === KERNEL_MACHINE ||
      await kernelIsDefault(targetOptions(ctx));
    if (sub === "bench") {
      if (rest.length > 0) throw new UsageError(`rpmsg bench: unexpected argument "${rest[0]}"`);
      return runBenchVerb(ctx, kernel);
    }
    for (const o of ["sizes", "mode", "duration", "no-limit", "warmup"]) {
      if (ctx.values[o] !== undefined) {
        throw new UsageError(`--${o} applies to rpmsg bench only`);
      }
    }
    if (kernel) return runKernelRpmsg(ctx, sub, rest);
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
        `Unknown rpmsg subcommand "${sub}" (ping, test, matrix, listen, send, bench)`,
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
    const start = startOptions(ctx);
    const { profile, entry } = await findTarget(targetOptions(ctx));
    if (opts.size !== undefined) {
      // Refused before connecting: the machine's buffers bound the payload.
      const payload = profile.layout.bufSize.tx - RPMSG_HDR_SIZE;
      const limit = maxPingSize(payload, profile.wordSize);
      if (opts.size > limit) {
        throw new UsageError(
          `--size ${opts.size} does not fit: at most ${limit} data bytes fit one ${payload}-byte payload of machine "${profile.name}"`,
        );
      }
    }
    let r;
    let setupError: unknown;
    try {
      r = await runDemo(demo, profile, demoIo(ctx), {
        ...opts,
        ...start,
        ...(entry ? { entry } : {}),
      });
    } catch (e) {
      if (e instanceof UsageError) throw e;
      setupError = e;
      r = failedDemo(demo, e); // whatever happens, the demo ends with its FAIL line
    }
    return finishDemo(ctx, r, setupError);
  },
});
