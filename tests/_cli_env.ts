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
