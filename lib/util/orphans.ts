/**
 * Nothing outlives its owner: processes amp starts die with the process that
 * started them, even when that one is killed with SIGKILL.
 *
 * - A foreign program (QEMU) is started through `setpriv --pdeathsig KILL`
 *   ({@linkcode orphanProofCommand}): the kernel kills it when its parent dies.
 * - An amp child process (the simulated core, `amp remote`) asks the same of
 *   the kernel for itself at start ({@linkcode dieWithParent}, `prctl` through
 *   FFI), and exits at once if its parent is already gone.
 *
 * @module
 */

/** `prctl` option: the signal sent to this process when its parent dies. */
const PR_SET_PDEATHSIG = 1;
/** Signal numbers on Linux. */
const SIGNALS = { SIGKILL: 9, SIGTERM: 15 } as const;

const SYMBOLS = {
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  getppid: { parameters: [], result: "i32" },
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | null | undefined;

function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | null {
  if (lib !== undefined) return lib;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch {
    lib = null; // No FFI permission or no glibc: the parent's registry cleans up instead.
  }
  return lib;
}

/**
 * Ask the kernel to send `signal` (default SIGTERM, so the process can clean
 * up) to this process when its parent dies; when the parent is already gone
 * (this process was re-parented before the call) return false so the caller
 * can exit. Returns true when armed (or when FFI is unavailable, which leaves
 * the owner's registry cleanup as the guard).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dieWithParent } from "./orphans.ts";
 * // In a process whose parent is alive this arms the guard and returns true.
 * assert(typeof dieWithParent === "function");
 * ```
 */
export function dieWithParent(signal: keyof typeof SIGNALS = "SIGTERM"): boolean {
  const c = libc();
  if (!c) return true;
  c.prctl(PR_SET_PDEATHSIG, BigInt(SIGNALS[signal]), 0n, 0n, 0n);
  const ppid = c.getppid();
  return ppid !== 1;
}

/** True when `setpriv` (util-linux) with `--pdeathsig` can be used. */
let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  for (const d of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
    try {
      const st = Deno.statSync(`${d}/setpriv`);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) {
        setprivPath = `${d}/setpriv`;
        break;
      }
    } catch { /* not there */ }
  }
  return setprivPath;
}

/**
 * The command line that runs `binary args` so that it dies with this process:
 * `setpriv --pdeathsig KILL -- binary args` when util-linux's setpriv is
 * there, else the command unchanged (the registry then names the child, and
 * the next `amp load` or `amp status --prune` kills it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { orphanProofCommand } from "./orphans.ts";
 * const [cmd, ...args] = orphanProofCommand("qemu-system-riscv64", ["-S"]);
 * assert(cmd === "qemu-system-riscv64" || args.slice(0, 3).join(" ") === "--pdeathsig KILL --");
 * assert(args.at(-1) === "-S");
 * ```
 */
export function orphanProofCommand(binary: string, args: string[]): [string, ...string[]] {
  const sp = findSetpriv();
  return sp ? [sp, "--pdeathsig", "KILL", "--", binary, ...args] : [binary, ...args];
}
