/**
 * Output writers for the CLI: the real standard streams, or a capture for tests.
 *
 * @module
 */

import type { CliIo } from "./_command.ts";

const encoder = new TextEncoder();

function writeAll(file: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

/**
 * Writers on the process's standard output and error. A closed pipe on
 * standard output (`amp inspect fw.elf | head -1`) silently drops the rest of
 * the output instead of failing.
 *
 * @example
 * ```ts
 * import { denoIo } from "./_io.ts";
 * const io = denoIo();
 * io.stderr("");
 * ```
 */
export function denoIo(): CliIo {
  let stdoutClosed = false;
  return {
    stdout(text: string): void {
      if (stdoutClosed || text.length === 0) return;
      try {
        writeAll(Deno.stdout, encoder.encode(text));
      } catch (e) {
        if (e instanceof Deno.errors.BrokenPipe) stdoutClosed = true;
        else throw e;
      }
    },
    stderr(text: string): void {
      if (text.length === 0) return;
      try {
        writeAll(Deno.stderr, encoder.encode(text));
      } catch {
        // Nowhere left to report a failure to write an error.
      }
    },
  };
}

/** A {@linkcode CliIo} that keeps everything written, for tests. */
export interface CapturedIo extends CliIo {
  /** Everything written to standard output so far. */
  readonly out: string;
  /** Everything written to standard error so far. */
  readonly err: string;
}

/**
 * Writers that collect output in memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { captureIo } from "./_io.ts";
 * const io = captureIo();
 * io.stdout("a\n");
 * io.stderr("b\n");
 * assert(io.out === "a\n" && io.err === "b\n");
 * ```
 */
export function captureIo(): CapturedIo {
  let out = "", err = "";
  return {
    stdout(text: string): void {
      out += text;
    },
    stderr(text: string): void {
      err += text;
    },
    get out(): string {
      return out;
    },
    get err(): string {
      return err;
    },
  };
}
