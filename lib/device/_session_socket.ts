/**
 * The remote's notification socket with one listener per host session, as
 * upstream's Linux port has it (a device process listens, serves one driver
 * and exits): between sessions the socket file does not exist, so a host that
 * comes early retries its connect instead of starting on a half-reset device.
 *
 * Each listener is bound to a private name next to the socket path and then
 * renamed onto it: Deno removes a unix listener's file when the listener is
 * finally released, some time after `close()`, and would otherwise delete the
 * next session's socket file at the same path.
 *
 * @module
 */

import { OsError } from "../errors.ts";
import type { Notifier, NotifyWaitOptions } from "../notify/types.ts";
import { UnixSocketNotifier } from "../notify/unix_socket.ts";
import { sleep, waitUntil as backoffWait } from "../util/wait.ts";

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* not there */ }
}

/**
 * A {@linkcode Notifier} that forwards to the current session's
 * {@linkcode UnixSocketNotifier} (none between sessions).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SessionSocket } from "./_session_socket.ts";
 * import { UnixSocketNotifier } from "../notify/unix_socket.ts";
 * const path = `${Deno.makeTempDirSync()}/event`;
 * const s = new SessionSocket(path);
 * s.listen();
 * const host = await UnixSocketNotifier.connect(path);
 * host.notify(1);
 * assert(await s.wait({ deadlineMs: 5000 }));
 * s.unlisten(); // the socket file is gone until the next listen()
 * host.close();
 * s.close();
 * ```
 */
export class SessionSocket implements Notifier {
  /** Waits block on an event a kick sets (see {@linkcode Notifier.eventDriven}). */
  readonly eventDriven = true;
  /** Socket path. */
  readonly path: string;
  #cur: UnixSocketNotifier | null = null;
  #bytesBefore = 0;
  #listens = 0;
  #closed = false;

  /** Wrap `path`; nothing listens until {@linkcode listen}. */
  constructor(path: string) {
    this.path = path;
  }

  /** Start listening for the next host (replaces a stale socket file). */
  listen(): void {
    if (this.#closed || this.#cur) return;
    const bound = `${this.path}.${Deno.pid}.${this.#listens + 1}`;
    const cur = UnixSocketNotifier.listen(bound);
    try {
      Deno.renameSync(bound, this.path);
    } catch (e) {
      cur.close();
      removeQuietly(bound);
      throw new OsError("rename", e instanceof Deno.errors.PermissionDenied ? 13 : 5, this.path, {
        cause: e,
      });
    }
    this.#cur = cur;
    this.#listens++;
  }

  /** Stop listening and drop the current host's connection (the socket file is removed). */
  unlisten(): void {
    const cur = this.#cur;
    if (!cur) return;
    this.#bytesBefore += cur.bytesReceived;
    this.#cur = null;
    cur.close();
    removeQuietly(this.path);
  }

  /** True while a host is connected. */
  get connected(): boolean {
    return this.#cur?.connected ?? false;
  }
  /** True while listening. */
  get listening(): boolean {
    return this.#cur !== null;
  }
  /** Kick bytes received over all sessions. */
  get bytesReceived(): number {
    return this.#bytesBefore + (this.#cur?.bytesReceived ?? 0);
  }
  /** Listeners opened so far (one per session offered). */
  get listens(): number {
    return this.#listens;
  }

  /**
   * Wait until {@linkcode connected} is no longer `connected` (a host came or
   * left, or the listener changed), the deadline passes or `signal` aborts.
   * Event-driven: an idle remote does not wake up for it.
   */
  async waitConnectionChange(
    connected: boolean,
    options: { deadlineMs: number; signal?: AbortSignal },
  ): Promise<void> {
    const cur = this.#cur;
    await backoffWait(() => this.#cur !== cur || this.connected !== connected, {
      deadlineMs: options.deadlineMs,
      signal: options.signal,
      spinUs: 0,
      yieldUs: 0,
      sleepMs: options.deadlineMs,
      ...(cur ? { wake: (w: () => void) => cur.onConnectionChange(w) } : {}),
    });
  }

  /** Kick the current host (kept for it if it has not been accepted yet). */
  notify(id: number): void {
    this.#cur?.notify(id);
  }

  /** Wait for a kick from the current host (or `until()`). */
  async wait(options: NotifyWaitOptions): Promise<boolean> {
    const cur = this.#cur;
    if (cur) return await cur.wait(options);
    if (options.until?.()) return true;
    await sleep(Math.min(1, Math.max(0, options.deadlineMs)));
    return options.until?.() ?? false;
  }

  /** True when a kick is waiting. */
  pending(): boolean {
    return this.#cur?.pending() ?? false;
  }

  /** Stop listening for good. */
  close(): void {
    this.unlisten();
    this.#closed = true;
  }
}
