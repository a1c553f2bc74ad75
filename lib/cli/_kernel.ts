/**
 * The command-line verbs against a Linux kernel's own rpmsg stack: amp as a
 * vhost-user rpmsg device (`amp remote ... --vhost-user SOCKET`), the host
 * demos over rpmsg_char (`amp rpmsg ... --machine kernel`) and the kernel's
 * channels in `amp status`. Kept in one file so the existing verbs only
 * branch here.
 *
 * @module
 */

import { AmpError, isAmpError, UsageError } from "../errors.ts";
import { vhostLock } from "../runtime/locks.ts";
import { dieWithParent } from "../util/orphans.ts";
import { type Channel, type DemoResult, DemoRun } from "../apps/channel.ts";
import { MATRIX_SERVICE, runMatrix } from "../apps/matrix.ts";
import { ECHO_SERVICE, maxPingSize, runMsgTest } from "../apps/echo.ts";
import { runSample, SAMPLE_SERVICE } from "../apps/sample.ts";
import { sampleService, type Service } from "../apps/services.ts";
import {
  findRpmsgChannel,
  listRpmsgChannels,
  listRpmsgEndpoints,
  RpmsgCharEndpoint,
} from "../kernel/rpmsg_char.ts";
import { remoteServices } from "../device/services.ts";
import { serveVhostUserRpmsg } from "../vhost/rpmsg_backend.ts";
import type { CommandContext } from "./_command.ts";
import { readInputFile } from "./_files.ts";
import { demoIo, finishDemo, intOption } from "./_demos.ts";
import { table } from "./_format.ts";
import { sleep } from "../util/wait.ts";

/** The `--machine` value that selects the kernel's rpmsg_char interface. */
export const KERNEL_MACHINE = "kernel";

/**
 * The services for a vhost-user remote: as `amp remote` names them, except
 * that the sample keeps answering after 100 messages instead of destroying
 * its endpoint (the kernel's own sample client does not wait for that, and
 * the remote serves one kernel for its whole life).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vhostServices } from "./_kernel.ts";
 * const [s] = vhostServices(["sample"]);
 * for (let i = 0; i < 150; i++) s!.handle(new Uint8Array(1));
 * assert.equal(s!.stopped, false);
 * ```
 */
export function vhostServices(names: readonly string[]): Service[] {
  return remoteServices(names).map((s) => (s.name === SAMPLE_SERVICE ? sampleService() : s));
}

/**
 * Default delay of the interrupts `amp remote --vhost-user` gives the guest,
 * ms: Linux's rpmsg_client_sample replies from its receive callback, and under
 * UML an interrupt landing while the guest's sender still holds the rpmsg TX
 * mutex kills the guest ("BUG: scheduling while atomic"; seen in about half
 * the boots with no delay). See `VhostServerOptions.callDelayMs`.
 */
export const VHOST_CALL_DELAY_MS = 2;

/** `amp remote <services> --vhost-user SOCKET [--sessions N] [--call-delay MS]`. */
export async function runVhostRemote(
  ctx: CommandContext,
  names: readonly string[],
  socketPath: string,
): Promise<number> {
  if (socketPath === "") throw new UsageError("--vhost-user must name a socket path");
  for (const k of ["machine", "shm-name", "socket", "keep-shm"]) {
    if (ctx.values[k] !== undefined) {
      throw new UsageError(
        `--${k} does not apply with --vhost-user (the front-end owns the memory)`,
      );
    }
  }
  const services = vhostServices(names);
  const maxConnections = intOption(ctx.values.sessions, "sessions");
  const callDelayMs = intOption(ctx.values["call-delay"], "call-delay", 0, 1000) ??
    VHOST_CALL_DELAY_MS;
  if (ctx.values.detach !== true && !dieWithParent("SIGTERM")) {
    throw new AmpError("PARENT_GONE", "The process that started amp remote is already gone");
  }
  // One back-end per socket: a second one is refused at once, naming the first.
  const lock = await vhostLock(socketPath);
  const { server, device } = serveVhostUserRpmsg(socketPath, {
    services,
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    callDelayMs,
    log: (l) => {
      if (ctx.verbose || !l.includes(": guest memory")) ctx.out(l);
    },
  });
  const stop = () => void server.close();
  const signals: Deno.Signal[] = ctx.values.detach === true
    ? ["SIGINT", "SIGTERM"]
    : ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const sig of signals) Deno.addSignalListener(sig, stop);
  try {
    ctx.out(
      `amp remote: serving ${
        services.map((s) => `"${s.name}"`).join(", ")
      } as a vhost-user rpmsg device (virtio id 7) on ${socketPath}${
        maxConnections === undefined ? "; Ctrl+C to stop" : ` for ${maxConnections} front-end(s)`
      }`,
    );
    await server.done;
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, stop);
    lock.release();
  }
  const failed = server.ended.filter((e) => e.error !== null).length;
  ctx.out(
    `amp remote: stopped after ${server.connections} front-end(s), ${device.sessions} session(s)${
      failed ? `; ${failed} dropped for errors` : ""
    }`,
  );
  return 0;
}

function progress(ctx: CommandContext, what: string): (done: number, total: number) => void {
  const io = demoIo(ctx);
  let last = -1;
  return (done, total) => {
    const pct = Math.floor((done * 100) / total);
    if (pct === last && done !== total) return;
    last = pct;
    io.progress(`${what}: ${done}/${total}`, done === total);
  };
}

async function pickService(names: string[], timeoutMs: number): Promise<string> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const have = new Set(listRpmsgChannels().map((c) => c.name));
    const n = names.find((n) => have.has(n));
    if (n) return n;
    if (performance.now() >= end) {
      // Name the first choice in the error, with what the kernel has.
      return (await findRpmsgChannel(names[0]!, { timeoutMs: 0 })).name;
    }
    await sleep(20);
  }
}

async function withEndpoint<T>(
  name: string,
  timeoutMs: number,
  fn: (ep: RpmsgCharEndpoint) => Promise<T>,
): Promise<T> {
  const ep = await RpmsgCharEndpoint.open(name, { timeoutMs });
  try {
    return await fn(ep);
  } finally {
    ep.close();
  }
}

/** `amp rpmsg ping|test|matrix|listen|send ... --machine kernel`: over rpmsg_char. */
export async function runKernelRpmsg(
  ctx: CommandContext,
  sub: string,
  rest: readonly string[],
): Promise<number> {
  if (ctx.values.cpu !== undefined) {
    throw new UsageError("--cpu does not apply with --machine kernel (the kernel owns the remote)");
  }
  const timeoutMs = intOption(ctx.values.timeout, "timeout") ?? 5000;
  const count = intOption(ctx.values.count, "count");
  const service = typeof ctx.values.service === "string" ? ctx.values.service : undefined;
  const io = demoIo(ctx);
  let r: DemoResult;
  switch (sub) {
    case "ping":
      r = await withEndpoint(service ?? SAMPLE_SERVICE, timeoutMs, (ep) => {
        io.out(`rpmsg sample test: "${ep.name}" over ${ep.path} (remote address ${ep.dst})`);
        return runSample(ep, {
          count: count ?? 100,
          timeoutMs,
          log: (l) => io.detail(l),
          onProgress: progress(ctx, "rpmsg sample test"),
        });
      });
      break;
    case "test":
      r = await withEndpoint(service ?? ECHO_SERVICE, timeoutMs, async (ep) => {
        io.out(
          `Echo test: "${ep.name}" over ${ep.path} (remote address ${ep.dst}), header fields of 8 bytes`,
        );
        const size = intOption(ctx.values.size, "size", 1, 0xffff);
        const limit = maxPingSize(ep.maxPayload, 8);
        if (size !== undefined && size > limit) {
          throw new UsageError(`--size ${size} does not fit: at most ${limit} data bytes`);
        }
        const res = await runMsgTest(ep, {
          wordSize: 8,
          ...(size !== undefined ? { maxSize: size } : {}),
          rounds: count ?? 1,
          timeoutMs,
          log: (l) => io.detail(l),
          onProgress: progress(ctx, "echo test"),
        });
        io.out("**********************************");
        io.out(` Test Results: Error count = ${res.errors}`);
        io.out("**********************************");
        return res;
      });
      break;
    case "matrix": {
      const name = service ?? await pickService([MATRIX_SERVICE, ECHO_SERVICE], timeoutMs);
      r = await withEndpoint(name, timeoutMs, (ep) => {
        io.out(`Matrix multiply: "${ep.name}" over ${ep.path} (remote address ${ep.dst})`);
        return runMatrix(ep, {
          count: count ?? 200,
          timeoutMs,
          log: (l) => io.detail(l),
          onProgress: progress(ctx, "matrix multiply"),
        });
      });
      break;
    }
    case "listen":
    case "send": {
      const name = rest[0];
      if (name === undefined) throw new UsageError(`rpmsg ${sub}: missing <name>`);
      r = await withEndpoint(
        name,
        timeoutMs,
        (ep) =>
          sub === "listen"
            ? listen(ctx, ep, count, timeoutMs)
            : send(ctx, ep, rest.slice(1), timeoutMs),
      );
      break;
    }
    default:
      throw new UsageError(`Unknown rpmsg subcommand "${sub}" (ping, test, matrix, listen, send)`);
  }
  return finishDemo(ctx, r);
}

async function listen(
  ctx: CommandContext,
  ch: RpmsgCharEndpoint,
  count: number | undefined,
  timeoutMs: number,
): Promise<DemoResult> {
  const run = new DemoRun("listen");
  const r = run.result;
  const ac = new AbortController();
  const onSig = () => ac.abort();
  Deno.addSignalListener("SIGINT", onSig);
  try {
    if (!ctx.json) ctx.out(`Listening on "${ch.name}" over ${ch.path} (remote ${ch.dst})`);
    while (!ac.signal.aborted && (count === undefined || r.received < count)) {
      let d: Uint8Array;
      try {
        d = await ch.recv(count === undefined ? 1000 : timeoutMs);
      } catch (e) {
        if (isAmpError(e) && e.code === "TIMEOUT" && count === undefined) continue;
        run.fail((e as Error).message);
        break;
      }
      r.received++;
      const text = new TextDecoder().decode(d);
      ctx.out(
        ctx.json
          ? JSON.stringify({ n: r.received, len: d.length, text })
          : `[${r.received}] ${d.length} bytes: ${text}`,
      );
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSig);
  }
  return run.finish(count ?? r.received);
}

async function send(
  ctx: CommandContext,
  ch: Channel & { name: string; dst: number },
  words: readonly string[],
  timeoutMs: number,
): Promise<DemoResult> {
  const file = ctx.values.file;
  if ((typeof file === "string") === (words.length > 0)) {
    throw new UsageError(`rpmsg send: give the text or --file FILE (one of them)`);
  }
  const replies = intOption(ctx.values.replies, "replies", 0) ?? 0;
  const data = typeof file === "string"
    ? await readInputFile(file)
    : new TextEncoder().encode(words.join(" "));
  const run = new DemoRun("send");
  const r = run.result;
  const max = ch.maxPayload;
  const parts = data.length === 0 ? 1 : Math.ceil(data.length / max);
  for (let i = 0; i < parts; i++) {
    await ch.send(data.subarray(i * max, Math.min(data.length, (i + 1) * max)));
    r.sent++;
  }
  if (!ctx.json) {
    ctx.out(`Sent ${data.length} bytes to "${ch.name}" (remote ${ch.dst}) in ${r.sent} message(s)`);
  }
  while (r.received < replies) {
    try {
      const d = await ch.recv(timeoutMs);
      r.received++;
      if (!ctx.json) {
        ctx.out(`reply ${r.received}: ${d.length} bytes: ${new TextDecoder().decode(d)}`);
      }
    } catch (e) {
      if (!isAmpError(e)) throw e;
      run.fail(`reply ${r.received + 1} of ${replies}: ${e.message}`);
      break;
    }
  }
  return run.finish(r.received);
}

/**
 * Lines describing the kernel's rpmsg channels and rpmsg_char endpoints for
 * `amp status`, or `[]` when the kernel has no rpmsg bus.
 */
export function kernelStatusLines(): string[] {
  try {
    if (!Deno.statSync("/sys/bus/rpmsg").isDirectory) return [];
  } catch {
    return [];
  }
  const hexAddr = (a: number) => (a === 0xffff_ffff ? "any" : `0x${a.toString(16)}`);
  const chans = listRpmsgChannels();
  const eps = listRpmsgEndpoints();
  const out = [
    `Kernel rpmsg bus: ${chans.length} channel(s), ${eps.length} rpmsg_char endpoint(s)`,
  ];
  if (chans.length > 0) {
    out.push(
      ...table(
        ["channel", "name", "src", "dst", "driver"],
        chans.map((c) => [c.device, c.name, hexAddr(c.src), hexAddr(c.dst), c.driver || "-"]),
      ),
    );
  }
  if (eps.length > 0) {
    out.push(
      ...table(
        ["endpoint", "name", "src", "dst"],
        eps.map((e) => [`/dev/${e.device}`, e.name, hexAddr(e.src), hexAddr(e.dst)]),
      ),
    );
  }
  return out;
}

/** The same as JSON for `amp status --json`, or undefined without an rpmsg bus. */
export function kernelStatusJson(): unknown {
  try {
    if (!Deno.statSync("/sys/bus/rpmsg").isDirectory) return undefined;
  } catch {
    return undefined;
  }
  return { channels: listRpmsgChannels(), endpoints: listRpmsgEndpoints() };
}
