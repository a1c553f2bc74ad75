/**
 * A minimal QMP (QEMU Machine Protocol) client over a UNIX stream socket:
 * the greeting, `qmp_capabilities`, and `execute` with a deadline on every
 * step. Replies are matched to commands by an `id`; asynchronous events are
 * kept (bounded) in {@linkcode QmpClient.events}.
 *
 * @module
 */

import { AmpError, ConfigError, TimeoutError } from "../errors.ts";
import { sleep } from "../util/wait.ts";

/** One asynchronous QMP event, e.g. `{ event: "RESET", data: {...} }`. */
export interface QmpEvent {
  /** The event's name, e.g. `"RESET"` or `"SHUTDOWN"`. */
  event: string;
  /** Its `data` member as QEMU sent it (unchecked). */
  data?: unknown;
  /** Its `timestamp` member (`{ seconds, microseconds }`) as QEMU sent it (unchecked). */
  timestamp?: unknown;
}

/** Options of {@linkcode QmpClient.connect}. */
export interface QmpConnectOptions {
  /** Deadline for connecting (retried while the socket does not exist yet) plus the handshake. Default 5000 ms. */
  timeoutMs?: number;
  /** Called between connection attempts; throw from it to give up early (e.g. QEMU exited). */
  onRetry?: () => void;
}

/** Most events kept in {@linkcode QmpClient.events}. */
export const QMP_MAX_EVENTS = 256;
/** Longest line accepted from the server (a QMP reply is far smaller). */
export const QMP_MAX_LINE = 1 << 20;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A connected QMP session.
 *
 * @example
 * ```ts
 * import { QmpClient } from "./qmp.ts";
 * // A one-shot fake QMP server on a temporary socket.
 * const dir = Deno.makeTempDirSync();
 * const path = `${dir}/qmp.sock`;
 * const server = Deno.listen({ transport: "unix", path });
 * (async () => {
 *   const c = await server.accept();
 *   const enc = new TextEncoder();
 *   await c.write(enc.encode('{"QMP": {"version": {}, "capabilities": []}}\r\n'));
 *   const buf = new Uint8Array(4096);
 *   for (let i = 0; i < 2; i++) {
 *     const n = await c.read(buf);
 *     if (n === null) break;
 *     const id = JSON.parse(new TextDecoder().decode(buf.subarray(0, n))).id;
 *     await c.write(enc.encode(JSON.stringify({ return: {}, id }) + "\r\n"));
 *   }
 *   c.close();
 * })();
 * const qmp = await QmpClient.connect(path, { timeoutMs: 2000 });
 * await qmp.execute("cont");
 * qmp.close();
 * server.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class QmpClient {
  /** Socket path, for messages. */
  readonly path: string;
  /** The server's greeting object (`{ QMP: { version, capabilities } }`). */
  readonly greeting: Record<string, unknown>;
  /** Events received so far (oldest dropped beyond {@linkcode QMP_MAX_EVENTS}). */
  readonly events: QmpEvent[] = [];
  #conn: Deno.UnixConn;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  #failure: Error | undefined;
  #greetingWaiter: Pending | undefined;
  #greeting: Record<string, unknown> | undefined;

  private constructor(path: string, conn: Deno.UnixConn) {
    this.path = path;
    this.#conn = conn;
    this.greeting = {};
  }

  /**
   * Connect to `path`, retrying while the socket is not there yet, read the
   * greeting and negotiate capabilities (`qmp_capabilities`).
   *
   * Errors: `QMP_BAD_PATH` (ConfigError), `QMP_PROTOCOL` (the peer is not a QMP
   * server), `QMP_CLOSED`, {@linkcode TimeoutError}.
   */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
      throw new ConfigError("QMP_BAD_PATH", `QMP socket path ${JSON.stringify(path)} is not valid`);
    }
    const timeoutMs = options.timeoutMs ?? 5000;
    const t0 = performance.now();
    let conn: Deno.UnixConn | undefined;
    let lastError: unknown;
    while (conn === undefined) {
      try {
        conn = await Deno.connect({ transport: "unix", path });
      } catch (e) {
        lastError = e;
        options.onRetry?.();
        if (performance.now() - t0 > timeoutMs) {
          throw new TimeoutError(`connecting to the QMP socket ${path}`, timeoutMs, {
            cause: lastError,
          });
        }
        await sleep(5);
      }
    }
    const client = new QmpClient(path, conn);
    client.#readLoop();
    try {
      const left = Math.max(1, timeoutMs - (performance.now() - t0));
      const greeting = await client.#waitGreeting(left);
      (client as { greeting: Record<string, unknown> }).greeting = greeting;
      await client.execute("qmp_capabilities", undefined, Math.max(1, left));
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  /** True once closed, or once the connection failed. */
  get closed(): boolean {
    return this.#closed || this.#failure !== undefined;
  }

  /**
   * Run one command and resolve with its `return` value.
   *
   * Errors: `QMP_ERROR` (QEMU answered with an error; the message carries its
   * class and description), `QMP_CLOSED`, {@linkcode TimeoutError}.
   */
  execute(command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) {
      return Promise.reject(
        new AmpError(
          "QMP_CLOSED",
          `QMP ${this.path}: cannot run "${command}", the client is closed`,
        ),
      );
    }
    const id = this.#nextId++;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) msg.arguments = args;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new TimeoutError(`waiting for QMP "${command}" on ${this.path}`, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const bytes = new TextEncoder().encode(JSON.stringify(msg) + "\n");
      this.#writeAll(bytes).catch((e) => {
        const p = this.#pending.get(id);
        this.#pending.delete(id);
        p?.reject(
          new AmpError("QMP_CLOSED", `QMP ${this.path}: sending "${command}" failed`, { cause: e }),
        );
      });
    });
  }

  /** Close the socket; pending commands fail with `QMP_CLOSED`. A second call is harmless. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer.
    }
    this.#failAll(new AmpError("QMP_CLOSED", `QMP ${this.path}: the client was closed`));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  #waitGreeting(timeoutMs: number): Promise<Record<string, unknown>> {
    if (this.#greeting) return Promise.resolve(this.#greeting);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#greetingWaiter = undefined;
        reject(new TimeoutError(`waiting for the QMP greeting on ${this.path}`, timeoutMs));
      }, timeoutMs);
      this.#greetingWaiter = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as Record<string, unknown>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  #failAll(e: Error): void {
    this.#failure ??= e;
    const waiters = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of waiters) p.reject(e);
    const g = this.#greetingWaiter;
    this.#greetingWaiter = undefined;
    g?.reject(e);
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(65536);
    const dec = new TextDecoder();
    let line = "";
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        line += dec.decode(buf.subarray(0, n), { stream: true });
        let nl: number;
        while ((nl = line.indexOf("\n")) >= 0) {
          const text = line.slice(0, nl).trim();
          line = line.slice(nl + 1);
          if (text.length > 0) this.#handle(text);
        }
        if (line.length > QMP_MAX_LINE) {
          throw new AmpError(
            "QMP_PROTOCOL",
            `QMP ${this.path}: a line longer than ${QMP_MAX_LINE} bytes arrived`,
          );
        }
      }
      this.#failAll(
        new AmpError("QMP_CLOSED", `QMP ${this.path}: the server closed the connection`),
      );
    } catch (e) {
      if (this.#closed) return;
      this.#failAll(
        e instanceof AmpError
          ? e
          : new AmpError("QMP_CLOSED", `QMP ${this.path}: reading failed`, { cause: e }),
      );
    }
  }

  #handle(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      throw new AmpError(
        "QMP_PROTOCOL",
        `QMP ${this.path}: received a line that is not JSON: ${JSON.stringify(text.slice(0, 80))}`,
      );
    }
    if (!isObject(msg)) {
      throw new AmpError("QMP_PROTOCOL", `QMP ${this.path}: received a non-object message`);
    }
    if (this.#greeting === undefined) {
      if (!isObject(msg.QMP)) {
        throw new AmpError(
          "QMP_PROTOCOL",
          `QMP ${this.path}: the first message is not a QMP greeting: ${text.slice(0, 80)}`,
        );
      }
      this.#greeting = msg;
      const g = this.#greetingWaiter;
      this.#greetingWaiter = undefined;
      g?.resolve(msg);
      return;
    }
    if (typeof msg.event === "string") {
      this.events.push(msg as unknown as QmpEvent);
      if (this.events.length > QMP_MAX_EVENTS) this.events.shift();
      return;
    }
    const id = msg.id;
    if (typeof id !== "number") return; // a reply to no command of ours
    const p = this.#pending.get(id);
    if (!p) return; // timed out already
    this.#pending.delete(id);
    if ("return" in msg) {
      p.resolve(msg.return);
    } else if (isObject(msg.error)) {
      const cls = String(msg.error.class ?? "GenericError");
      const desc = String(msg.error.desc ?? "");
      p.reject(new AmpError("QMP_ERROR", `QMP ${this.path}: ${cls}: ${desc}`));
    } else {
      p.reject(
        new AmpError("QMP_PROTOCOL", `QMP ${this.path}: reply ${id} has neither return nor error`),
      );
    }
  }
}
