/**
 * Boot the User-Mode Linux kernel built by `deno task kernel` with the host's
 * `/` as a read-only hostfs root, a guest init script, and (optionally) a
 * vhost-user rpmsg device on a socket; collect the console; never let it
 * outlive the caller.
 *
 * UML runs in its own process group (through `setsid`): at the deadline, on
 * failure or when the caller aborts, the whole group (the kernel and the
 * helper processes it spawns for guest processes) is killed with SIGKILL.
 *
 * Run by hand:
 *
 * ```sh
 * npx deno run --allow-all tests/uml/run.ts [--socket PATH] [--init SCRIPT] [KEY=VALUE...]
 * ```
 *
 * @module
 */

import { findKernel } from "./kernel.ts";

/** The guest init script of the end-to-end tests. */
export const INIT_SCRIPT = new URL("./init.sh", import.meta.url).pathname;

/** Options of {@linkcode bootUml}. */
export interface BootOptions {
  /** The UML `linux` binary. */
  linux: string;
  /** Guest init (default: tests/uml/init.sh). */
  init?: string;
  /** vhost-user socket of an rpmsg back-end: adds `virtio_uml.device=SOCKET:7`. */
  socket?: string;
  /** KEY=VALUE pairs passed on the kernel command line (init sees them as environment). */
  env?: Record<string, string>;
  /** Guest memory (default 256M: one memory region, no highmem). */
  mem?: string;
  /** Kill the guest after this many ms (default 600000). */
  timeoutMs?: number;
  /** Each console line as it arrives. */
  onLine?: (line: string) => void;
  /** Kill the guest early. */
  signal?: AbortSignal;
}

/** What a boot produced. */
export interface BootResult {
  /** Console lines (kernel messages and init's output). */
  lines: string[];
  /** Exit code of the UML process (null when it was killed). */
  code: number | null;
  /** True when it had to be killed (deadline or abort). */
  killed: boolean;
  /** Wall time from spawn to exit, ms. */
  ms: number;
  /** Processes of its group still alive after it ended (should be none). */
  leftovers: number[];
}

/** The kernel command line for `options`. */
export function umlArgs(options: BootOptions): string[] {
  const args = [
    `mem=${options.mem ?? "256M"}`,
    "rootfstype=hostfs",
    "rootflags=/",
    "ro",
    `init=${options.init ?? INIT_SCRIPT}`,
    "con=null",
    "con0=fd:0,fd:1",
    "loglevel=5",
  ];
  if (options.socket) args.push(`virtio_uml.device=${options.socket}:7`);
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (/\s/.test(k + v)) {
      throw new Error(`kernel command line value ${k}=${v} contains whitespace`);
    }
    args.push(`${k}=${v}`);
  }
  return args;
}

function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      // fields after the ")" of the command: state ppid pgrp ...
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[2]) === pgid && rest[0] !== "Z") out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

/** Boot UML and wait until it powers off (or is killed); see the module doc. */
export async function bootUml(options: BootOptions): Promise<BootResult> {
  const t0 = performance.now();
  const child = new Deno.Command("setsid", {
    args: [options.linux, ...umlArgs(options)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { TMPDIR: Deno.env.get("TMPDIR") ?? "/tmp" },
  }).spawn();
  const pgid = child.pid; // setsid execs in place: the child leads its own group
  let killed = false;
  const killGroup = () => {
    killed = true;
    try {
      Deno.kill(-pgid, "SIGKILL");
    } catch { /* already gone */ }
  };
  const timer = setTimeout(killGroup, options.timeoutMs ?? 600_000);
  options.signal?.addEventListener("abort", killGroup, { once: true });
  const lines: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, "");
        buf = buf.slice(i + 1);
        lines.push(line);
        options.onLine?.(line);
      }
    }
    if (buf) {
      lines.push(buf);
      options.onLine?.(buf);
    }
  };
  let status: Deno.CommandStatus;
  try {
    [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", killGroup);
  }
  // UML's helper processes die with it; make sure, then report any survivor.
  let leftovers = groupMembers(pgid);
  if (leftovers.length > 0) {
    try {
      Deno.kill(-pgid, "SIGKILL");
    } catch { /* gone meanwhile */ }
    await new Promise((r) => setTimeout(r, 200));
    leftovers = groupMembers(pgid);
  }
  return {
    lines,
    code: status.signal ? null : status.code,
    killed,
    ms: performance.now() - t0,
    leftovers,
  };
}

if (import.meta.main) {
  const k = await findKernel();
  if (typeof k === "string") {
    console.error(k);
    Deno.exit(1);
  }
  const env: Record<string, string> = { AMP_KO: k.sampleModule };
  let socket: string | undefined, init: string | undefined;
  for (let i = 0; i < Deno.args.length; i++) {
    const a = Deno.args[i]!;
    if (a === "--socket") socket = Deno.args[++i];
    else if (a === "--init") init = Deno.args[++i];
    else if (a.includes("=")) env[a.slice(0, a.indexOf("="))] = a.slice(a.indexOf("=") + 1);
    else throw new Error(`unknown argument ${a}`);
  }
  const r = await bootUml({
    linux: k.linux,
    ...(socket ? { socket } : {}),
    ...(init ? { init } : {}),
    env,
    onLine: (l) => console.log(l),
  });
  console.error(
    `[uml] exit ${r.code}${r.killed ? " (killed)" : ""} after ${
      Math.round(r.ms)
    } ms; leftovers: ${r.leftovers.length}`,
  );
}
