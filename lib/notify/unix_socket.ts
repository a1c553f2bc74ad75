/**
 * Notification by one byte (0x01) over a UNIX stream socket, as upstream
 * OpenAMP's Linux machine port does it (machines.md section 2): the device
 * (remote) listens, the driver (host) connects.
 *
 * @module
 */

import { OsError, TimeoutError } from "../errors.ts";
import { KickSignal } from "./_signal.ts";
import type { Notifier, NotifyWaitOptions } from "./types.ts";
import { sleep, waitUntil, yieldTurn } from "../util/wait.ts";

/** The byte one kick puts on the wire. */
export const KICK_BYTE = 0x01;
/** One kick, written as it is (the bytes are never changed). */
const ONE_KICK = new Uint8Array([KICK_BYTE]);
/** Kick writes in flight before more are coalesced into one backlog write. */
const MAX_INFLIGHT = 16;

/** Options for {@linkcode UnixSocketNotifier.connect}. */
export interface UnixConnectOptions {
  /** How long to retry while the listener is not there yet, in ms (default 10000). */
  retryMs?: number;
  /** Delay between attempts in ms (default 20). */
  retryIntervalMs?: number;
}

function osError(e: unknown, syscall: string, path: string): OsError {
  const errno = e instanceof Deno.errors.NotFound
    ? 2
    : e instanceof Deno.errors.ConnectionRefused
    ? 111
    : e instanceof Deno.errors.PermissionDenied
    ? 13
    : e instanceof Deno.errors.AddrInUse
    ? 98
    : 5;
  return new OsError(syscall, errno, path, { cause: e });
}

/**
 * A notifier over a UNIX stream socket. Kicks are single `0x01` bytes; a read
 * of any number of bytes counts as one (coalesced) kick. The listening side
 * accepts a new connection whenever the host reconnects (a new session).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnixSocketNotifier } from "./unix_socket.ts";
 * const path = Deno.makeTempFileSync() + ".sock";
 * const device = UnixSocketNotifier.listen(path);
 * const driver = await UnixSocketNotifier.connect(path);
 * await device.waitConnected({ deadlineMs: 5000 });
 * driver.notify(1);
 * assert(await device.wait({ deadlineMs: 5000 }));
 * driver.close();
 * device.close();
 * ```
 */
export class UnixSocketNotifier implements Notifier {
  /** Waits block on an event a kick sets (see {@linkcode Notifier.eventDriven}). */
  readonly eventDriven = true;
  /** Socket path. */
  readonly path: string;
  /** `"device"` when listening, `"driver"` when connected out. */
  readonly role: "device" | "driver";
  /** Kicks requested by this side. */
  kicksSent = 0;
  /** Kick bytes received. */
  bytesReceived = 0;
  /** Kicks dropped because the write to the peer failed (a kick made with no peer is kept for the next one). */
  kicksDropped = 0;
  /** Connections accepted (listening side). */
  connections = 0;
  readonly #signal = new KickSignal();
  readonly #connSignal = new KickSignal();
  #listener: Deno.UnixListener | null = null;
  #conn: Deno.UnixConn | null = null;
  #owed = 0;
  #writing = false;
  #inflight = 0; // kick writes not yet seen to complete
  #closed = false;

  private constructor(path: string, role: "device" | "driver") {
    this.path = path;
    this.role = role;
  }

  /**
   * Device role: listen on `path` (a stale socket file there is removed first)
   * and serve every connection the host makes, one at a time (the newest wins).
   */
  static listen(path: string): UnixSocketNotifier {
    const n = new UnixSocketNotifier(path, "device");
    try {
      Deno.removeSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw osError(e, "unlink", path);
    }
    try {
      n.#listener = Deno.listen({ transport: "unix", path });
    } catch (e) {
      throw osError(e, "listen", path);
    }
    void n.#acceptLoop();
    return n;
  }

  /** Driver role: connect to `path`, retrying while the listener is not up. */
  static async connect(
    path: string,
    options: UnixConnectOptions = {},
  ): Promise<UnixSocketNotifier> {
    const retryMs = options.retryMs ?? 10_000;
    const interval = options.retryIntervalMs ?? 20;
    const end = performance.now() + retryMs;
    for (;;) {
      try {
        const conn = await Deno.connect({ transport: "unix", path });
        const n = new UnixSocketNotifier(path, "driver");
        n.#attach(conn);
        return n;
      } catch (e) {
        const retryable = e instanceof Deno.errors.NotFound ||
          e instanceof Deno.errors.ConnectionRefused;
        if (!retryable) throw osError(e, "connect", path);
        if (performance.now() >= end) {
          throw new TimeoutError(
            `connecting to notification socket ${path} (last error: ${(e as Error).message})`,
            retryMs,
            { cause: e },
          );
        }
        await sleep(interval);
      }
    }
  }

  /** True while a peer connection is open. */
  get connected(): boolean {
    return this.#conn !== null;
  }

  /** Wait until a peer is connected; throws TimeoutError at the deadline. */
  async waitConnected(options: { deadlineMs: number; signal?: AbortSignal }): Promise<void> {
    const ok = await waitUntil(() => this.#conn !== null || this.#closed, {
      deadlineMs: options.deadlineMs,
      signal: options.signal,
      spinUs: 0,
      yieldUs: 0,
      sleepMs: 1,
      maxSleepMs: 50,
      wake: (w) => this.#connSignal.subscribe(w),
    });
    if (!ok || this.#closed) {
      throw new TimeoutError(
        `waiting for a peer on notification socket ${this.path}`,
        options.deadlineMs,
      );
    }
  }

  /**
   * Call `fn` whenever a peer connects or the peer's connection ends (and at
   * close) until the returned function is called.
   */
  onConnectionChange(fn: () => void): () => void {
    return this.#connSignal.subscribe(fn);
  }

  async #acceptLoop(): Promise<void> {
    const l = this.#listener;
    if (!l) return;
    try {
      for await (const conn of l) {
        if (this.#closed) {
          conn.close();
          break;
        }
        this.connections++;
        const old = this.#conn;
        this.#attach(conn);
        if (old) {
          try {
            old.close();
          } catch { /* already closed */ }
        }
      }
    } catch {
      // listener closed
    }
  }

  #attach(conn: Deno.UnixConn): void {
    this.#conn = conn;
    this.#connSignal.raise();
    void this.#readLoop(conn);
    if (this.#owed > 0) this.#flush();
  }

  async #readLoop(conn: Deno.UnixConn): Promise<void> {
    const buf = new Uint8Array(256);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        if (n > 0) {
          this.bytesReceived += n;
          this.#signal.raise();
        }
      }
    } catch {
      // connection reset or closed locally
    }
    if (this.#conn === conn) {
      this.#conn = null;
      try {
        conn.close();
      } catch { /* already closed */ }
      this.#connSignal.raise();
    }
  }

  /** Send one kick byte (queued and written in order; never blocks). */
  notify(_id: number): void {
    if (this.#closed) return;
    this.kicksSent++;
    if (!this.#conn) {
      // No peer attached yet: the listening side can see the driver's DRIVER_OK
      // in shared memory before its connection is accepted. Keep one (coalesced)
      // kick for the next peer instead of losing it.
      this.#owed = 1;
      return;
    }
    // Deno writes a socket at once when it can, but a write's completion is
    // seen only at the event loop's next turn, which a spinning wait may not
    // take for a while: the next kick is not held behind it. A backlog (the
    // peer stopped reading) is coalesced and written by #flush.
    if (this.#owed === 0 && this.#inflight < MAX_INFLIGHT) {
      this.#inflight++;
      this.#conn.write(ONE_KICK).then(this.#wrote, this.#writeFailed);
      return;
    }
    this.#owed++;
    if (!this.#writing) this.#flush();
  }

  /** A kick written by {@linkcode notify}: write the backlog, if any, after it. */
  readonly #wrote = (): void => {
    this.#inflight--;
    if (this.#owed > 0 && !this.#writing) this.#flush();
  };

  /** A kick that could not be written: the connection is going (its read loop drops it). */
  readonly #writeFailed = (): void => {
    this.#inflight--;
    this.kicksDropped++;
  };

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#owed > 0 && !this.#closed) {
        const conn = this.#conn;
        if (!conn) {
          this.kicksDropped += this.#owed;
          this.#owed = 0;
          break;
        }
        const n = Math.min(this.#owed, 4096);
        const bytes = new Uint8Array(n).fill(KICK_BYTE);
        try {
          let off = 0;
          while (off < n) off += await conn.write(bytes.subarray(off));
          this.#owed -= n;
        } catch {
          this.kicksDropped += this.#owed;
          this.#owed = 0;
          if (this.#conn === conn) this.#conn = null;
        }
        if (this.#owed > 0) await yieldTurn();
      }
    } finally {
      this.#writing = false;
    }
  }

  /** True when kick bytes arrived since the last consuming wait. */
  pending(): boolean {
    return this.#signal.pending;
  }

  /** Wait for kick bytes (or `until()`); see {@linkcode Notifier.wait}. */
  wait(options: NotifyWaitOptions): Promise<boolean> {
    return this.#signal.wait(options);
  }

  /** Close the connection and (device role) the listener; the socket file is removed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal.close();
    this.#connSignal.close();
    const conn = this.#conn;
    this.#conn = null;
    try {
      conn?.close();
    } catch { /* already closed */ }
    if (this.#listener) {
      try {
        this.#listener.close();
      } catch { /* already closed */ }
      try {
        Deno.removeSync(this.path);
      } catch { /* gone */ }
    }
  }
}
