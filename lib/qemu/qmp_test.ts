import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { QMP_MAX_EVENTS, QmpClient } from "./qmp.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

type Script = (
  conn: Deno.UnixConn,
  next: () => Promise<Record<string, unknown> | null>,
) => Promise<void>;

/** A fake QMP server on a temp socket running `script` for the first connection. */
async function withServer(
  script: Script,
  body: (path: string) => Promise<void>,
  options: { delayListenMs?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "amp-qmp-test-" });
  const path = `${dir}/qmp.sock`;
  let listener: Deno.Listener | undefined;
  let served: Promise<void> = Promise.resolve();
  const start = () => {
    listener = Deno.listen({ transport: "unix", path });
    served = (async () => {
      const conn = (await listener!.accept()) as Deno.UnixConn;
      let buf = "";
      const chunk = new Uint8Array(4096);
      const next = async (): Promise<Record<string, unknown> | null> => {
        for (;;) {
          const nl = buf.indexOf("\n");
          if (nl >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            return JSON.parse(line);
          }
          const n = await conn.read(chunk).catch(() => null);
          if (n === null) return null;
          buf += dec.decode(chunk.subarray(0, n));
        }
      };
      try {
        await script(conn, next);
      } finally {
        try {
          conn.close();
        } catch {
          // closed by the script
        }
      }
    })();
  };
  const timer = options.delayListenMs ? setTimeout(start, options.delayListenMs) : undefined;
  if (!timer) start();
  try {
    await body(path);
  } finally {
    if (timer) clearTimeout(timer);
    await served.catch(() => {});
    listener?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const send = (c: Deno.UnixConn, v: unknown) => c.write(enc.encode(JSON.stringify(v) + "\r\n"));
const GREETING = { QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } };

/** Greets, accepts qmp_capabilities, then answers commands with `answer`. */
function server(answer: (cmd: Record<string, unknown>) => unknown | undefined): Script {
  return async (c, next) => {
    await send(c, GREETING);
    for (;;) {
      const cmd = await next();
      if (cmd === null) return;
      if (cmd.execute === "qmp_capabilities") {
        await send(c, { return: {}, id: cmd.id });
        continue;
      }
      const reply = answer(cmd);
      if (reply === "close") return;
      if (reply !== undefined) await send(c, reply);
    }
  };
}

Deno.test("qmp: handshake, then commands answered by id", async () => {
  const seen: unknown[] = [];
  await withServer(
    server((cmd) => {
      seen.push(cmd);
      return cmd.execute === "query-status"
        ? { return: { status: "running", running: true }, id: cmd.id }
        : { return: {}, id: cmd.id };
    }),
    async (path) => {
      const q = await QmpClient.connect(path, { timeoutMs: 2000 });
      try {
        assert.deepEqual(q.greeting, GREETING);
        assert.deepEqual(await q.execute("query-status"), { status: "running", running: true });
        assert.deepEqual(await q.execute("system_reset", { foo: 1 }), {});
        assert.equal((seen[1] as { arguments: unknown }).arguments !== undefined, true);
        assert.deepEqual((seen[1] as { arguments: unknown }).arguments, { foo: 1 });
      } finally {
        q.close();
      }
      assert.ok(q.closed);
      await assert.rejects(q.execute("cont"), (e) => isAmpError(e) && e.code === "QMP_CLOSED");
    },
  );
});

Deno.test("qmp: events are recorded and bounded", async () => {
  await withServer(
    async (c, next) => {
      await send(c, GREETING);
      const cap = await next();
      for (let i = 0; i < QMP_MAX_EVENTS + 10; i++) await send(c, { event: "RESET", data: { i } });
      await send(c, { return: {}, id: cap!.id });
      const cmd = await next();
      await send(c, { return: 42, id: cmd!.id });
      await next();
    },
    async (path) => {
      const q = await QmpClient.connect(path, { timeoutMs: 2000 });
      try {
        assert.equal(await q.execute("x"), 42);
        assert.equal(q.events.length, QMP_MAX_EVENTS);
        assert.deepEqual(q.events.at(-1)?.data, { i: QMP_MAX_EVENTS + 9 });
      } finally {
        q.close();
      }
    },
  );
});

Deno.test("qmp: an error reply rejects with QMP_ERROR and the class and description", async () => {
  await withServer(
    server((cmd) => ({
      error: { class: "CommandNotFound", desc: "The command nope has not been found" },
      id: cmd.id,
    })),
    async (path) => {
      const q = await QmpClient.connect(path, { timeoutMs: 2000 });
      try {
        await assert.rejects(
          q.execute("nope"),
          (e) =>
            isAmpError(e) && e.code === "QMP_ERROR" &&
            /CommandNotFound: The command nope/.test(e.message),
        );
      } finally {
        q.close();
      }
    },
  );
});

Deno.test("qmp: a command without a reply times out; the server closing fails pending commands", async () => {
  await withServer(
    server((cmd) => (cmd.execute === "hang" ? undefined : "close")),
    async (path) => {
      const q = await QmpClient.connect(path, { timeoutMs: 2000 });
      try {
        await assert.rejects(
          q.execute("hang", undefined, 50),
          (e) => isAmpError(e) && e.code === "TIMEOUT",
        );
        await assert.rejects(
          q.execute("bye", undefined, 2000),
          (e) => isAmpError(e) && e.code === "QMP_CLOSED",
        );
        assert.ok(q.closed);
      } finally {
        q.close();
      }
    },
  );
});

Deno.test("qmp: a peer that is not a QMP server is refused", async () => {
  await withServer(
    async (c) => {
      await c.write(enc.encode("SSH-2.0-OpenSSH\r\n"));
    },
    async (path) => {
      await assert.rejects(
        QmpClient.connect(path, { timeoutMs: 2000 }),
        (e) => isAmpError(e) && e.code === "QMP_PROTOCOL",
      );
    },
  );
  await withServer(
    async (c) => {
      await send(c, { hello: 1 });
    },
    async (path) => {
      await assert.rejects(
        QmpClient.connect(path, { timeoutMs: 2000 }),
        (e) => isAmpError(e) && e.code === "QMP_PROTOCOL" && /not a QMP greeting/.test(e.message),
      );
    },
  );
});

Deno.test("qmp: connect retries until the socket appears, and gives up at the deadline", async () => {
  await withServer(
    server((cmd) => ({ return: {}, id: cmd.id })),
    async (path) => {
      const q = await QmpClient.connect(path, { timeoutMs: 3000 });
      q.close();
    },
    { delayListenMs: 100 },
  );
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      QmpClient.connect(`${dir}/none.sock`, { timeoutMs: 50 }),
      (e) => isAmpError(e) && e.code === "TIMEOUT",
    );
    let calls = 0;
    await assert.rejects(
      QmpClient.connect(`${dir}/none.sock`, {
        timeoutMs: 5000,
        onRetry: () => {
          if (++calls === 3) throw new RangeError("gave up");
        },
      }),
      RangeError,
    );
    assert.equal(calls, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await assert.rejects(
    QmpClient.connect("", { timeoutMs: 10 }),
    (e) => isAmpError(e) && e.code === "QMP_BAD_PATH",
  );
});
