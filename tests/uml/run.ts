/**
 * Boot the User-Mode Linux kernel built by `deno task kernel` with the host's
 * `/` as a read-only hostfs root, a guest init script, and (optionally) a
 * vhost-user rpmsg device on a socket; collect the console; never let it
 * outlive the caller.
 *
 * UML runs in its own process group (through `setsid`), under a small shell
 * watchdog in the same group: at the deadline, on failure or when the caller
 * aborts, the whole group (the kernel and the helper processes it spawns) is
 * killed with SIGKILL; and if the caller itself dies (even by SIGKILL, which
 * no handler sees) the watchdog notices within a second and kills the group.
 * Killing only UML's main process is not enough: two of its helper processes
 * survive it.
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
  // The watchdog: start UML, tell its pid, then poll once a second that both
  // UML and the owner (this process) live. UML moves itself into a process
  // group of its own (its helpers follow it), so the watchdog kills that
  // group and its own when the owner is gone or when it gets SIGTERM.
  const watchdog = 'owner=$1; shift; "$@" & uml=$!; echo "AMP-UML-PID $uml" >&2; ' +
    'die() { kill -9 -- "-$uml" "$uml" 2>/dev/null; kill -9 0; }; trap die TERM INT; ' +
    'while kill -0 "$uml" 2>/dev/null; do ' +
    'kill -0 "$owner" 2>/dev/null || die; sleep 1; done; wait "$uml"';
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", watchdog, "sh", String(Deno.pid), options.linux, ...umlArgs(options)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { TMPDIR: Deno.env.get("TMPDIR") ?? "/tmp" },
  }).spawn();
  const pgid = child.pid; // setsid execs sh in place: it leads the new group
  let umlPid = 0;
  let killed = false;
  const killGroup = (mark: unknown = true) => {
    if (mark !== false) killed = true;
    for (const target of [umlPid > 0 ? -umlPid : 0, -pgid]) {
      if (target === 0) continue;
      try {
        Deno.kill(target, "SIGKILL");
      } catch { /* already gone */ }
    }
  };
  const timer = setTimeout(() => killGroup(), options.timeoutMs ?? 600_000);
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
        const m = /^AMP-UML-PID (\d+)$/.exec(line);
        if (m) {
          umlPid = Number(m[1]);
          continue;
        }
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
  const members = () => [...groupMembers(pgid), ...(umlPid > 0 ? groupMembers(umlPid) : [])];
  let leftovers = members();
  if (leftovers.length > 0) {
    killGroup(false);
    await new Promise((r) => setTimeout(r, 200));
    leftovers = members();
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
