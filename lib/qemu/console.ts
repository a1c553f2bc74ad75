/**
 * A client of the guest UART that QEMU serves as a UNIX socket
 * ({@linkcode QemuRv64.consolePath}): read what the guest prints, wait for a
 * pattern (a shell prompt, a line), type. QEMU serves one client at a time; a
 * second connection waits until the first closes. What the guest printed
 * before the connection is only in the console log (which QEMU writes just
 * after handing the same bytes to the socket, so it may trail a moment).
 *
 * A connected client must keep reading (this one always does): QEMU stops
 * draining the UART when the socket is full, and a guest that writes its
 * console synchronously stalls until it drains.
 *
 * @module
 */

import { AmpError, TimeoutError } from "../errors.ts";
import { sleep } from "../util/wait.ts";

/** Options of {@linkcode QemuConsole.connect}. */
export interface ConsoleConnectOptions {
  /** Deadline for the socket to accept (retried while it does not exist yet). Default 5000 ms. */
  timeoutMs?: number;
  /** Called on every chunk of output (decoded text), e.g. to echo it. */
  onOutput?: (text: string) => void;
}

/** Options of {@linkcode QemuConsole.expect}. */
export interface ExpectOptions {
  /** Deadline (default 5000 ms). */
  timeoutMs?: number;
  /** Search from this offset of {@linkcode QemuConsole.text} (default: the cursor). */
  from?: number;
}

/** A match of {@linkcode QemuConsole.expect}. */
export interface ConsoleMatch {
  /** The matched text. */
  text: string;
  /** Offset of the match in {@linkcode QemuConsole.text}. */
  index: number;
  /** Offset just after the match (the new cursor). */
  end: number;
  /** Capture groups of a RegExp pattern. */
  groups: (string | undefined)[];
}

/** Output kept in memory (older text is dropped, offsets stay valid). */
export const CONSOLE_KEEP = 1 << 22;

/**
 * A connected console.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QemuConsole } from "./console.ts";
 * // A stand-in for QEMU: a socket that prints a prompt and echoes what it gets.
 * const dir = Deno.makeTempDirSync();
 * const path = `${dir}/console.sock`;
 * const server = Deno.listen({ transport: "unix", path });
 * const serving = (async () => {
 *   const c = await server.accept();
 *   await c.write(new TextEncoder().encode("banner\r\nmsh />"));
 *   const buf = new Uint8Array(64);
 *   const n = await c.read(buf);
 *   if (n !== null) await c.write(buf.subarray(0, n));
 *   c.close();
 * })();
 * const con = await QemuConsole.connect(path);
 * await con.expect("msh />");
 * await con.write("help\r");
 * const m = await con.expect(/(\w+)\r/);
 * assert(m.groups[0] === "help");
 * con.close();
 * await serving;
 * server.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class QemuConsole {
  /** The socket path. */
  readonly path: string;
  /** Where {@linkcode expect} starts searching next: the end of its last match. */
  cursor = 0;
  #conn: Deno.UnixConn;
  #text = "";
  #dropped = 0;
  #closed = false;
  #eof = false;
  #wake: (() => void)[] = [];
  #reading: Promise<void>;
  #onOutput: ((text: string) => void) | undefined;

  private constructor(path: string, conn: Deno.UnixConn, onOutput?: (text: string) => void) {
    this.path = path;
    this.#conn = conn;
    this.#onOutput = onOutput;
    this.#reading = this.#read();
  }

  /**
   * Connect to the console socket at `path`, retrying while it does not exist
   * or refuses. Errors: `QEMU_CONSOLE` with a {@linkcode TimeoutError} cause.
   */
  static async connect(path: string, options: ConsoleConnectOptions = {}): Promise<QemuConsole> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const t0 = performance.now();
    for (;;) {
      try {
        const conn = await Deno.connect({ transport: "unix", path });
        return new QemuConsole(path, conn, options.onOutput);
      } catch (e) {
        const retry = e instanceof Deno.errors.NotFound ||
          e instanceof Deno.errors.ConnectionRefused;
        if (!retry || performance.now() - t0 > timeoutMs) {
          throw new AmpError(
            "QEMU_CONSOLE",
            `Cannot connect to the guest console ${path}: ${(e as Error).message}`,
            { cause: retry ? new TimeoutError("connecting to the console", timeoutMs) : e },
          );
        }
        await sleep(10);
      }
    }
  }

  /** Everything received since the connection (offsets count from its start). */
  get text(): string {
    return this.#text;
  }

  /** Bytes of text received so far (an offset for {@linkcode ExpectOptions.from}). */
  get length(): number {
    return this.#dropped + this.#text.length;
  }

  /** The last `n` characters received. */
  tail(n = 400): string {
    return this.#text.slice(-n);
  }

  /** True once QEMU closed the connection (it quit) or {@linkcode close} was called. */
  get closed(): boolean {
    return this.#closed || this.#eof;
  }

  /** Send `data` as typed input. Errors: `QEMU_CONSOLE` when the connection is gone. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    let off = 0;
    try {
      while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
    } catch (e) {
      throw new AmpError(
        "QEMU_CONSOLE",
        `Cannot type on the guest console ${this.path}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /**
   * Wait until `pattern` appears at or after `options.from` (default
   * {@linkcode cursor}); move the cursor past the match and return it.
   *
   * Errors: {@linkcode TimeoutError} (the message quotes the last output),
   * `QEMU_CONSOLE` when the connection closes first.
   */
  async expect(pattern: string | RegExp, options: ExpectOptions = {}): Promise<ConsoleMatch> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const from = options.from ?? this.cursor;
    const t0 = performance.now();
    for (;;) {
      const m = this.#find(pattern, from);
      if (m) {
        this.cursor = m.end;
        return m;
      }
      const left = timeoutMs - (performance.now() - t0);
      if (this.closed) {
        throw new AmpError(
          "QEMU_CONSOLE",
          `The guest console ${this.path} closed while waiting for ${
            String(pattern)
          } (last output: ${JSON.stringify(this.tail(200))})`,
        );
      }
      if (left <= 0) {
        throw new TimeoutError(
          `waiting for ${String(pattern)} on the guest console (last output: ${
            JSON.stringify(this.tail(200))
          })`,
          timeoutMs,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.#wake.push(done);
      });
    }
  }

  /** Close the connection (QEMU keeps listening for the next client). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer.
    }
    this.#notify();
  }

  /** Resolves once the reader stopped (after {@linkcode close} or EOF). */
  get done(): Promise<void> {
    return this.#reading;
  }

  #find(pattern: string | RegExp, from: number): ConsoleMatch | undefined {
    const start = Math.max(0, from - this.#dropped);
    if (typeof pattern === "string") {
      const i = this.#text.indexOf(pattern, start);
      if (i < 0) return undefined;
      const index = i + this.#dropped;
      return { text: pattern, index, end: index + pattern.length, groups: [] };
    }
    const re = new RegExp(pattern.source, pattern.flags.replace("g", "").replace("y", "") + "g");
    re.lastIndex = start;
    const m = re.exec(this.#text);
    if (!m) return undefined;
    const index = m.index + this.#dropped;
    return { text: m[0], index, end: index + m[0].length, groups: m.slice(1) };
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = [];
    for (const f of w) f();
  }

  async #read(): Promise<void> {
    const dec = new TextDecoder();
    const buf = new Uint8Array(4096);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        const chunk = dec.decode(buf.subarray(0, n), { stream: true });
        this.#text += chunk;
        if (this.#text.length > CONSOLE_KEEP) {
          const cut = this.#text.length - CONSOLE_KEEP / 2;
          this.#text = this.#text.slice(cut);
          this.#dropped += cut;
        }
        this.#onOutput?.(chunk);
        this.#notify();
      }
    } catch {
      // Closed under us: the same as EOF.
    } finally {
      this.#eof = true;
      this.#notify();
    }
  }
}
