/**
 * The owner's control socket: the process that owns a remote core (`amp
 * load`) answers requests from other amp processes on a UNIX socket in the
 * state directory, recorded in its registry entry.
 *
 * Protocol: the client sends one JSON line, the owner answers one JSON line
 * (`{"ok": true, ...}` or `{"ok": false, "code": ..., "error": ...}`). Lines
 * are at most {@linkcode MAX_LINE} bytes; every read has a deadline.
 *
 * | request | answer |
 * |---|---|
 * | `{"op": "status"}` | `{"ok": true, "state": ..., "platform": ...}` |
 * | `{"op": "stop", "pid": N}` | `{"ok": true}`, then the owner stops the core and exits |
 * | `{"op": "reload", "firmware": PATH, "pid": N}` | `{"ok": true/false, "message": ...}` once done |
 * | `{"op": "console", "pid": N}` | `{"ok": true}`, then raw bytes both ways: the remote's console |
 *
 * @module
 */

import { AmpError, type AmpErrorCode, isAmpError, TimeoutError } from "../errors.ts";

/** Longest request or answer line, bytes. */
export const MAX_LINE = 64 * 1024;

/** A request to an owner. */
export type ControlRequest =
  | { op: "status" }
  | { op: "stop"; pid: number }
  | { op: "reload"; firmware: string; pid: number }
  | { op: "console"; pid: number };

/** An owner's answer. */
export type ControlReply =
  | ({ ok: true } & Record<string, unknown>)
  | { ok: false; code: string; error: string };

/** What an owner does with each request. */
export interface ControlHandlers {
  /** Live facts about the core (its platform state, firmware...). */
  status(): Promise<Record<string, unknown>>;
  /** Stop the core and end the run (the answer is sent first). */
  stop(from: number): void;
  /** Stop, load `firmware`, start; resolves with the one-line outcome. */
  reload(firmware: string, from: number): Promise<{ ok: boolean; message: string }>;
  /** Take over the connection as a console client (after the `ok` answer). */
  console(conn: Deno.UnixConn, from: number): Promise<void>;
}

const enc = new TextEncoder();

/** Write a whole buffer. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/**
 * Read one line (without the newline) of at most {@linkcode MAX_LINE} bytes,
 * within `timeoutMs`. Returns the line and any bytes read past it.
 */
export async function readLine(
  conn: Deno.Conn,
  timeoutMs: number,
  what: string,
): Promise<{ line: string; rest: Uint8Array }> {
  const buf = new Uint8Array(MAX_LINE + 1);
  let n = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((
    r,
  ) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
  try {
    for (;;) {
      const nl = buf.subarray(0, n).indexOf(10);
      if (nl >= 0) {
        return {
          line: new TextDecoder().decode(buf.subarray(0, nl)),
          rest: buf.slice(nl + 1, n),
        };
      }
      if (n >= MAX_LINE) {
        throw new AmpError("CONTROL_PROTOCOL", `${what}: a line longer than ${MAX_LINE} bytes`);
      }
      const got = await Promise.race([conn.read(buf.subarray(n)), expired]);
      if (got === "timeout") throw new TimeoutError(what, timeoutMs);
      if (got === null) throw new AmpError("CONTROL_CLOSED", `${what}: the connection closed`);
      n += got;
    }
  } finally {
    clearTimeout(timer);
  }
}

function parseRequest(line: string): ControlRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return "not JSON";
  }
  if (typeof v !== "object" || v === null) return "not an object";
  const o = v as Record<string, unknown>;
  const pid = typeof o.pid === "number" && Number.isSafeInteger(o.pid) ? o.pid : 0;
  switch (o.op) {
    case "status":
      return { op: "status" };
    case "stop":
      return { op: "stop", pid };
    case "console":
      return { op: "console", pid };
    case "reload":
      if (typeof o.firmware !== "string" || o.firmware.length === 0 || o.firmware.length > 4096) {
        return "reload needs a firmware path";
      }
      return { op: "reload", firmware: o.firmware, pid };
    default:
      return `unknown op ${JSON.stringify(o.op)}`;
  }
}

/**
 * The owner's side: listens on `path` (removed first if a stale socket is
 * there) until {@linkcode ControlServer.close}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ControlServer, controlRequest } from "./control.ts";
 * const dir = await Deno.makeTempDir();
 * const server = ControlServer.listen(`${dir}/ctl.sock`, {
 *   status: () => Promise.resolve({ state: "running" }),
 *   stop: () => {},
 *   reload: () => Promise.resolve({ ok: true, message: "done" }),
 *   console: (c) => Promise.resolve(c.close()),
 * });
 * const r = await controlRequest(`${dir}/ctl.sock`, { op: "status" });
 * assert(r.ok && r.state === "running");
 * await server.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class ControlServer {
  /** The socket path. */
  readonly path: string;
  readonly #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  readonly #handlers: ControlHandlers;
  readonly #conns = new Set<Deno.UnixConn>();
  readonly #loop: Promise<void>;
  #closed = false;

  private constructor(path: string, handlers: ControlHandlers) {
    this.path = path;
    this.#handlers = handlers;
    this.#listener = Deno.listen({ transport: "unix", path });
    this.#loop = this.#accept();
  }

  /** Listen on `path` (a leftover socket file there is removed first). */
  static listen(path: string, handlers: ControlHandlers): ControlServer {
    try {
      Deno.removeSync(path);
    } catch { /* not there */ }
    return new ControlServer(path, handlers);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // closed
      }
      this.#conns.add(conn);
      this.#serve(conn).catch(() => {}).finally(() => {
        this.#conns.delete(conn);
      });
    }
  }

  async #serve(conn: Deno.UnixConn): Promise<void> {
    const reply = (r: ControlReply) => writeAll(conn, enc.encode(JSON.stringify(r) + "\n"));
    let keep = false;
    try {
      const { line } = await readLine(conn, 5000, "reading a control request");
      const req = parseRequest(line);
      if (typeof req === "string") {
        await reply({ ok: false, code: "CONTROL_PROTOCOL", error: `Bad control request: ${req}` });
        return;
      }
      try {
        switch (req.op) {
          case "status":
            await reply({ ok: true, ...(await this.#handlers.status()) });
            return;
          case "stop":
            await reply({ ok: true });
            this.#handlers.stop(req.pid);
            return;
          case "reload": {
            const r = await this.#handlers.reload(req.firmware, req.pid);
            await reply({ ok: true, result: r.ok ? "ok" : "error", message: r.message });
            return;
          }
          case "console":
            await reply({ ok: true });
            keep = true;
            this.#conns.delete(conn);
            await this.#handlers.console(conn, req.pid);
            return;
        }
      } catch (e) {
        await reply({
          ok: false,
          code: isAmpError(e) ? e.code : "CONTROL_FAILED",
          error: (e as Error).message,
        });
      }
    } finally {
      if (!keep) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    }
  }

  /** Stop listening, close open request connections and remove the socket file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch { /* closed */ }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await this.#loop;
    try {
      Deno.removeSync(this.path);
    } catch { /* gone */ }
  }
}

/** Options of {@linkcode controlRequest}. */
export interface ControlRequestOptions {
  /** Longest wait for the answer, ms (default 5000). */
  timeoutMs?: number;
}

async function connect(path: string, what: string): Promise<Deno.UnixConn> {
  try {
    return await Deno.connect({ transport: "unix", path });
  } catch (e) {
    throw new AmpError(
      "CONTROL_UNREACHABLE",
      `Cannot reach ${what} at ${path}: ${(e as Error).message.replace(/\s*\(os error \d+\)/, "")}`,
      { cause: e },
    );
  }
}

function checkReply(line: string, what: string): ControlReply {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new AmpError("CONTROL_PROTOCOL", `${what}: the answer is not JSON`);
  }
  if (typeof v !== "object" || v === null || typeof (v as { ok?: unknown }).ok !== "boolean") {
    throw new AmpError("CONTROL_PROTOCOL", `${what}: the answer has no "ok" field`);
  }
  return v as ControlReply;
}

/**
 * Send one request to the owner at `path` and return its answer.
 * `AmpError` `CONTROL_UNREACHABLE` when nothing listens there; a
 * `TimeoutError` when no answer comes in time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { controlRequest } from "./control.ts";
 * const e = await controlRequest("/nonexistent/ctl.sock", { op: "status" }).catch((e) => e);
 * assert(e.code === "CONTROL_UNREACHABLE");
 * ```
 */
export async function controlRequest(
  path: string,
  req: ControlRequest,
  options: ControlRequestOptions = {},
): Promise<ControlReply> {
  const what = `the amp process owning the core (control socket ${path})`;
  const conn = await connect(path, what);
  try {
    await writeAll(conn, enc.encode(JSON.stringify(req) + "\n"));
    const { line } = await readLine(conn, options.timeoutMs ?? 5000, `waiting for ${what}`);
    return checkReply(line, what);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/**
 * Open a console connection: after the owner's `ok`, the connection carries
 * the remote's console (bytes written are typed, bytes read are what it
 * prints). Bytes that arrived with the answer are returned as `first`.
 */
export async function controlConsole(
  path: string,
  options: ControlRequestOptions = {},
): Promise<{ conn: Deno.UnixConn; first: Uint8Array }> {
  const what = `the amp process owning the core (control socket ${path})`;
  const conn = await connect(path, what);
  try {
    await writeAll(conn, enc.encode(JSON.stringify({ op: "console", pid: Deno.pid }) + "\n"));
    const { line, rest } = await readLine(conn, options.timeoutMs ?? 5000, `waiting for ${what}`);
    const r = checkReply(line, what);
    if (!r.ok) throw new AmpError(r.code as AmpErrorCode, r.error);
    return { conn, first: rest };
  } catch (e) {
    try {
      conn.close();
    } catch { /* closed */ }
    throw e;
  }
}
