/**
 * The remote's serial console, shared by every amp process.
 *
 * - The owner of the core runs a {@linkcode ConsoleHub}: one connection to
 *   the machine's console socket (QEMU's UART, the simulated core's shell),
 *   whose output goes to every attached client and whose input any client
 *   may type. Everything the remote prints is also in the console log the
 *   machine writes (the registry entry names it), whether or not anyone is
 *   attached.
 * - Other processes attach through the owner's control socket
 *   ({@linkcode attachConsole}), type a line ({@linkcode typeLine}), wait for
 *   output ({@linkcode expectOutput}), or read the log ({@linkcode readConsoleLog}).
 *
 * @module
 */

import { AmpError, TimeoutError } from "../errors.ts";
import type { ConsoleEndpoint } from "../remoteproc/types.ts";
import { sleep } from "../util/wait.ts";
import { controlConsole, writeAll } from "./control.ts";
import type { CpuEntry } from "./registry.ts";

/** Bytes a slow client may have pending before the hub drops it. */
const CLIENT_BACKLOG = 1 << 20;
/** Most console output kept in memory by {@linkcode expectOutput}. */
const EXPECT_WINDOW = 1 << 20;
/** Most of the log read by {@linkcode readConsoleLog}. */
const LOG_READ_MAX = 4 << 20;

interface Client {
  conn: Deno.UnixConn;
  queue: Uint8Array[];
  queued: number;
  writing: boolean;
}

/**
 * The owner's end of the console: connects to the machine's console socket
 * (retrying until it exists), relays what it prints to every attached
 * client, and types what any client writes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConsoleHub } from "./console.ts";
 * const dir = await Deno.makeTempDir();
 * const listener = Deno.listen({ transport: "unix", path: `${dir}/con.sock` });
 * const hub = new ConsoleHub({ socketPath: `${dir}/con.sock`, logPath: `${dir}/con.log` });
 * const machine = await listener.accept();
 * await hub.type(new TextEncoder().encode("help\n"));
 * const buf = new Uint8Array(16);
 * const n = await machine.read(buf);
 * assert(new TextDecoder().decode(buf.subarray(0, n!)) === "help\n");
 * machine.close();
 * await hub.close();
 * listener.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class ConsoleHub {
  /** Where the machine's console is. */
  readonly endpoint: ConsoleEndpoint;
  readonly #clients = new Set<Client>();
  #machine: Deno.UnixConn | undefined;
  #connecting: Promise<Deno.UnixConn | undefined> | undefined;
  #closed = false;
  readonly #pump: Promise<void>;

  /** Start connecting to `endpoint` at once. */
  constructor(endpoint: ConsoleEndpoint) {
    this.endpoint = endpoint;
    this.#pump = this.#run();
  }

  /** Clients attached now. */
  get clients(): number {
    return this.#clients.size;
  }

  async #connect(): Promise<Deno.UnixConn | undefined> {
    let wait = 5;
    while (!this.#closed) {
      try {
        const c = await Deno.connect({ transport: "unix", path: this.endpoint.socketPath });
        if (this.#closed) {
          c.close();
          return undefined;
        }
        return c;
      } catch {
        await sleep(wait);
        wait = Math.min(wait * 2, 200);
      }
    }
    return undefined;
  }

  async #machineConn(): Promise<Deno.UnixConn | undefined> {
    if (this.#machine) return this.#machine;
    this.#connecting ??= this.#connect().then((c) => {
      this.#machine = c;
      this.#connecting = undefined;
      return c;
    });
    return await this.#connecting;
  }

  async #run(): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    while (!this.#closed) {
      const m = await this.#machineConn();
      if (!m) return;
      let n: number | null;
      try {
        n = await m.read(buf);
      } catch {
        n = null;
      }
      if (n === null) {
        // The machine closed its console (e.g. a reload restarted it): reconnect.
        try {
          m.close();
        } catch { /* closed */ }
        this.#machine = undefined;
        if (!this.#closed) await sleep(20);
        continue;
      }
      const chunk = buf.slice(0, n);
      for (const c of this.#clients) this.#send(c, chunk);
    }
  }

  #send(c: Client, chunk: Uint8Array): void {
    if (c.queued + chunk.length > CLIENT_BACKLOG) {
      // A client that does not read cannot hold the console up: drop it.
      this.#drop(c);
      return;
    }
    c.queue.push(chunk);
    c.queued += chunk.length;
    if (c.writing) return;
    c.writing = true;
    (async () => {
      try {
        while (c.queue.length > 0) {
          const next = c.queue.shift()!;
          c.queued -= next.length;
          await writeAll(c.conn, next);
        }
      } catch {
        this.#drop(c);
      } finally {
        c.writing = false;
      }
    })();
  }

  #drop(c: Client): void {
    if (!this.#clients.delete(c)) return;
    try {
      c.conn.close();
    } catch { /* closed */ }
  }

  /** Type `bytes` on the console (waits for the machine's console to be reachable). */
  async type(bytes: Uint8Array): Promise<void> {
    const m = await this.#machineConn();
    if (!m) throw new AmpError("CONSOLE_CLOSED", "The console is closed");
    await writeAll(m, bytes);
  }

  /**
   * Serve one client until it disconnects: its bytes are typed, the
   * console's output is sent to it. `first` is input that arrived early.
   */
  async attach(conn: Deno.UnixConn, first: Uint8Array = new Uint8Array(0)): Promise<void> {
    const c: Client = { conn, queue: [], queued: 0, writing: false };
    this.#clients.add(c);
    try {
      if (first.length > 0) await this.type(first);
      const buf = new Uint8Array(4096);
      for (;;) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch {
          n = null;
        }
        if (n === null) break;
        await this.type(buf.slice(0, n));
      }
    } finally {
      this.#drop(c);
    }
  }

  /** Detach every client and close the machine connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of [...this.#clients]) this.#drop(c);
    try {
      this.#machine?.close();
    } catch { /* closed */ }
    this.#machine = undefined;
    await this.#pump.catch(() => {});
  }
}

/** A console attached through an owner. */
export interface AttachedConsole {
  /** Type bytes. */
  write(bytes: Uint8Array): Promise<void>;
  /** The next output bytes, or null when the owner closed the console. */
  read(): Promise<Uint8Array | null>;
  /** Detach (the core keeps running). */
  close(): void;
}

/** The owner's control socket, or a clear error when the machine has no console. */
function consoleOf(entry: CpuEntry): string {
  if (!entry.control || !entry.consoleLog) {
    throw new AmpError(
      "NO_CONSOLE",
      `Remote cpu ${entry.cpu} of machine "${entry.machine}" has no console amp can reach`,
    );
  }
  return entry.control;
}

/**
 * Attach to the console of the core `entry` describes, through its owner.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachConsole } from "./console.ts";
 * const e = await attachConsole({ cpu: 1, machine: "openamp-linux", pid: 1, firmware: "",
 *   state: "running", startedAt: "", updatedAt: "" }).catch((e) => e);
 * assert(e.code === "NO_CONSOLE");
 * ```
 */
export async function attachConsole(entry: CpuEntry): Promise<AttachedConsole> {
  const { conn, first } = await controlConsole(consoleOf(entry));
  let pending: Uint8Array | null = first.length > 0 ? first : null;
  const buf = new Uint8Array(16 * 1024);
  let closed = false;
  return {
    write: (bytes) => writeAll(conn, bytes),
    async read() {
      if (pending) {
        const p = pending;
        pending = null;
        return p;
      }
      if (closed) return null;
      try {
        const n = await conn.read(buf);
        return n === null ? null : buf.slice(0, n);
      } catch {
        return null;
      }
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

/**
 * Type `text` and a newline on the console of `entry`'s core.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { typeLine } from "./console.ts";
 * const e = await typeLine({ cpu: 1, machine: "x", pid: 1, firmware: "", state: "", startedAt: "",
 *   updatedAt: "" }, "help").catch((e) => e);
 * assert(e.code === "NO_CONSOLE");
 * ```
 */
export async function typeLine(entry: CpuEntry, text: string): Promise<void> {
  const c = await attachConsole(entry);
  try {
    await c.write(new TextEncoder().encode(`${text}\n`));
  } finally {
    c.close();
  }
}

/** Options of {@linkcode expectOutput}. */
export interface ExpectOptions {
  /** What to wait for in the console output. */
  pattern: RegExp;
  /** Longest wait, ms. */
  timeoutMs: number;
  /** Type this and a newline first; then only output after it counts. */
  send?: string;
  /** Without `send`, also match what the remote printed since it was started (the log). */
  fromStart?: boolean;
  /** Each output chunk as it arrives (e.g. to echo it). */
  onOutput?: (text: string) => void;
}

/** What {@linkcode expectOutput} saw. */
export interface ExpectResult {
  /** True when the pattern matched before the deadline. */
  matched: boolean;
  /** The output considered (the last MiB at most). */
  output: string;
}

/**
 * Wait until the console output of `entry`'s core matches `pattern`
 * (optionally after typing `send`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectOutput } from "./console.ts";
 * const e = await expectOutput({ cpu: 1, machine: "x", pid: 1, firmware: "", state: "",
 *   startedAt: "", updatedAt: "" }, { pattern: /msh/, timeoutMs: 10 }).catch((e) => e);
 * assert(e.code === "NO_CONSOLE");
 * ```
 */
export async function expectOutput(entry: CpuEntry, options: ExpectOptions): Promise<ExpectResult> {
  const c = await attachConsole(entry);
  const dec = new TextDecoder();
  let text = "";
  const add = (s: string) => {
    text += s;
    if (text.length > EXPECT_WINDOW) text = text.slice(text.length - EXPECT_WINDOW);
  };
  try {
    if (options.send !== undefined) {
      await c.write(new TextEncoder().encode(`${options.send}\n`));
    } else if (options.fromStart) {
      // Attached first, then read the log: nothing printed in between is lost
      // (it may be seen twice, which cannot hide a match).
      add(await readConsoleLog(entry));
      if (options.pattern.test(text)) return { matched: true, output: text };
    }
    const end = performance.now() + options.timeoutMs;
    for (;;) {
      const left = end - performance.now();
      if (left <= 0) return { matched: false, output: text };
      let timer: ReturnType<typeof setTimeout> | undefined;
      const got = await Promise.race([
        c.read(),
        new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), left))),
      ]);
      clearTimeout(timer);
      if (got === "timeout") return { matched: false, output: text };
      if (got === null) {
        throw new AmpError(
          "CONSOLE_CLOSED",
          `The console of remote cpu ${entry.cpu} closed while waiting for ${options.pattern}`,
        );
      }
      const s = dec.decode(got, { stream: true });
      options.onOutput?.(s);
      add(s);
      if (options.pattern.test(text)) return { matched: true, output: text };
    }
  } finally {
    c.close();
  }
}

/**
 * The console log of `entry`'s core (everything printed since it started;
 * the last 4 MiB at most). Empty when there is none yet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readConsoleLog } from "./console.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/c.log`, "boot\nmsh />");
 * const e = { cpu: 1, machine: "x", pid: 1, firmware: "", state: "", startedAt: "",
 *   updatedAt: "", consoleLog: `${dir}/c.log` };
 * assert((await readConsoleLog(e)).endsWith("msh />"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readConsoleLog(entry: Pick<CpuEntry, "consoleLog">): Promise<string> {
  const path = entry.consoleLog;
  if (!path) return "";
  let f: Deno.FsFile;
  try {
    const st = await Deno.stat(path);
    if (!st.isFile) return "";
    f = await Deno.open(path, { read: true });
  } catch {
    return "";
  }
  try {
    const size = (await f.stat()).size;
    const from = Math.max(0, size - LOG_READ_MAX);
    await f.seek(from, Deno.SeekMode.Start);
    const buf = new Uint8Array(size - from);
    let n = 0;
    while (n < buf.length) {
      const got = await f.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    return new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    f.close();
  }
}

/**
 * The last `lines` non-empty lines of `text`, joined with " | " (for one-line
 * messages).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lastLines } from "./console.ts";
 * assert(lastLines("a\r\nb\n\nc\n", 2) === "b | c");
 * ```
 */
export function lastLines(text: string, lines: number): string {
  const all = text.split(/\r?\n/).map((l) => l.replace(/\r/g, "").trimEnd()).filter((l) =>
    l.length > 0
  );
  return all.slice(-lines).join(" | ");
}

/** `TimeoutError` for an expectation that did not match (message carries the last lines). */
export function expectTimeout(pattern: RegExp, timeoutMs: number, output: string): TimeoutError {
  const tail = lastLines(output, 5);
  return new TimeoutError(
    `waiting for the console to print ${pattern}${
      tail ? ` (last lines: ${tail})` : " (it printed nothing)"
    }`,
    timeoutMs,
  );
}
