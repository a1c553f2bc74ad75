/**
 * Test helpers for the runtime package: temporary state directories, registry
 * entries, dead pids and child Deno scripts. Product code never imports this.
 *
 * @module
 */

import type { CpuEntry } from "./registry.ts";

/** Run `fn` with a fresh temporary directory, removed afterwards. */
export async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "amp-state-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A registry entry of this process for cpu 1 of "sim", with `over` applied. */
export function entry(over: Partial<CpuEntry>): CpuEntry {
  return {
    cpu: 1,
    machine: "sim",
    pid: Deno.pid,
    firmware: "fw.elf",
    state: "running",
    startedAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ...over,
  };
}

/** A pid that certainly is not running: a child that has exited and been reaped. */
export async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

/** Run a Deno script (fed on stdin) in a child process. */
export async function startScript(code: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(code));
  await w.close();
  return child;
}

/** Read the child's stdout until `marker` appears (with a deadline). */
export async function waitForLine(
  child: Deno.ChildProcess,
  marker: string,
  ms = 30_000,
): Promise<void> {
  const reader = child.stdout.getReader();
  let text = "";
  const deadline = Date.now() + ms;
  try {
    while (!text.includes(marker)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`child did not print ${marker}: ${text}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        reader.read(),
        new Promise<{ done: true; value: undefined }>((res) => {
          timer = setTimeout(() => res({ done: true, value: undefined }), left);
        }),
      ]);
      clearTimeout(timer);
      if (r.done) throw new Error(`child ended before printing ${marker}: ${text}`);
      text += new TextDecoder().decode(r.value);
    }
  } finally {
    reader.releaseLock();
  }
}
