/**
 * Shared pieces of the tests that drive the `amp` CLI as real processes on
 * the `sim` machine: a private state directory and shm prefix per test, the
 * runner, and the leftover check.
 *
 * @module
 */

/** Repository root (with a trailing slash). */
export const ROOT = new URL("../", import.meta.url).pathname;
/** The CLI entry. */
export const CLI = `${ROOT}cli.ts`;
/** The minimal seed-layout image. */
export const SEED_ELF = `${ROOT}examples/seed-layout.elf`;
/** The demo firmware. */
export const DEMO_ELF = `${ROOT}examples/firmware/rv64-virt/amp-demo.elf`;

/** A private environment: state directory and sim shm prefix. */
export interface Env {
  dir: string;
  prefix: string;
  env: Record<string, string>;
}

/** What a finished `amp` process printed. */
export type Result = { code: number; out: string; err: string };

/** A fresh private environment; `group` names the test file, `tag` the test. */
export async function setup(group: string, tag: string): Promise<Env> {
  const dir = await Deno.makeTempDir({ prefix: `amp-${group}-` });
  const prefix = `amp-${group}-${tag}-${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
  return { dir, prefix, env: { AMP_STATE_DIR: dir, AMP_SIM_PREFIX: prefix, NO_COLOR: "1" } };
}

/** The shm objects of `prefix` still in /dev/shm. */
export function shmLeft(prefix: string): string[] {
  return [...Deno.readDirSync("/dev/shm")].map((e) => e.name).filter((n) =>
    n.startsWith(prefix + ".")
  );
}

/** `amp ARGS` in a new process; `script` runs the CLI through a stdin module instead. */
export async function runAmp(e: Env, args: string[], script?: string): Promise<Result> {
  const dec = new TextDecoder();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script ? "-" : CLI, ...args],
    env: e.env,
    stdin: script ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (script) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(script));
    await w.close();
  }
  const o = await child.output();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

/** A background `amp -v load ARGS` (or a stdin module `script` running the CLI), its output collected. */
export class LoadProcess {
  /** The process. */
  readonly child: Deno.ChildProcess;
  /** What it printed so far on standard output. */
  out = "";
  /** What it printed so far on standard error. */
  err = "";
  /** Resolves with its exit code once its output is read. */
  readonly done: Promise<number>;
  constructor(e: Env, args: string[], script?: string) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", script ? "-" : CLI, "-v", "load", ...args],
      env: e.env,
      stdin: script ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (script) {
      const w = this.child.stdin.getWriter();
      w.write(new TextEncoder().encode(script)).then(() => w.close());
    }
    const pump = async (s: ReadableStream<Uint8Array>, k: "out" | "err") => {
      for await (const c of s.pipeThrough(new TextDecoderStream())) this[k] += c;
    };
    const pumps = Promise.all([pump(this.child.stdout, "out"), pump(this.child.stderr, "err")]);
    this.done = this.child.status.then(async (s) => {
      await pumps;
      return s.code;
    });
  }
  /** Wait until the output matches `re` (an Error naming what it printed otherwise). */
  async waitFor(re: RegExp, ms = 60_000): Promise<void> {
    const end = Date.now() + ms;
    let exited = false;
    this.done.then(() => (exited = true));
    while (!re.test(this.out)) {
      if (exited || Date.now() > end) {
        throw new Error(`amp load never printed ${re}:\n${this.out}\n${this.err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** Pids of the simulated cores it started (verbose output). */
  simPids(): number[] {
    return [...this.out.matchAll(/Simulated remote core: process (\d+)/g)].map((m) => Number(m[1]));
  }
  /** The pid of the first simulated core. */
  simPid(): number {
    const p = this.simPids()[0];
    if (p === undefined) throw new Error(`no simulated core in:\n${this.out}`);
    return p;
  }
}

/** Kill `load` (if any), remove the environment's shm objects and directory. */
export async function cleanup(e: Env, load?: LoadProcess): Promise<void> {
  if (load) {
    try {
      load.child.kill("SIGKILL");
    } catch { /* exited */ }
    await load.done;
  }
  for (const n of shmLeft(e.prefix)) await Deno.remove(`/dev/shm/${n}`).catch(() => {});
  await Deno.remove(e.dir, { recursive: true }).catch(() => {});
}
