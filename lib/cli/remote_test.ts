import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { runMsgTest } from "../apps/echo.ts";
import { HostSession } from "../host/session.ts";
import { OPENAMP_LINUX, openampLinuxProfile } from "../machine/profiles/openamp_linux.ts";
import { SIM } from "../machine/profiles/sim.ts";
import type { MachineProfile } from "../machine/types.ts";
import { captureIo } from "./_io.ts";
import { main } from "./mod.ts";
import { renameLinks } from "./_links.ts";

Deno.test("amp remote: command-line mistakes exit 2, a machine it cannot serve exits 1", async () => {
  for (
    const [args, code, text] of [
      [["remote"], 2, "missing"],
      [["remote", "ping"], 2, 'Unknown service "ping"'],
      [["remote", "echo", "sample", "echo"], 2, "named twice"],
      [["remote", "echo", "--sessions", "0"], 2, "--sessions"],
      [["remote", "echo", "--prime", "-1"], 2, "--prime"],
      [["remote", "echo", "--machine", "sim"], 1, 'control "openamp-linux"'],
    ] as const
  ) {
    const io = captureIo();
    assert.equal(await main([...args], io), code, io.err);
    assert.ok(io.err.includes(text), io.err);
    assert.equal(io.err.split("\n").filter(Boolean).length, 1, io.err);
  }
});

Deno.test("renameLinks: renames the shm object and the socket, refuses other machines", () => {
  const p = renameLinks(OPENAMP_LINUX, { shmName: "x.shm", socketPath: "/tmp/x.sock" });
  assert.equal(p.regions[0]!.name, "x.shm");
  assert.deepEqual(p.regions[0]!.backing, { kind: "shm", name: "x.shm", create: true });
  assert.deepEqual(p.notify, { kind: "socket", path: "/tmp/x.sock" });
  // The original is untouched.
  assert.equal(
    OPENAMP_LINUX.regions[0]!.backing.kind === "shm" && OPENAMP_LINUX.regions[0]!.backing.name,
    "openamp.shm",
  );
  assert.throws(
    () => renameLinks(SIM, { socketPath: "/tmp/y" }),
    (e) => isAmpError(e) && e.code === "REMOTE_SOCKET",
  );
  assert.throws(
    () => renameLinks(OPENAMP_LINUX, { shmName: "a/b" }),
    (e) => isAmpError(e),
  );
});

/**
 * Run `amp remote` with `args` in this process, and once it says it serves,
 * one host session on `profile` with a msg-test of `maxSize` sizes; then wait
 * for it to exit. Returns its exit code, its output and the test's errors.
 */
async function oneSession(args: string[], profile: MachineProfile, maxSize: number) {
  const io = captureIo();
  let exited = false;
  const run = main(["remote", ...args, "--sessions", "1", "-v"], io).finally(() => exited = true);
  const end = Date.now() + 30_000;
  while (!io.out.includes("amp remote: serving") && !exited && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert(!exited, io.err);
  const s = await HostSession.open(profile, { timeoutMs: 30_000 });
  const r = await runMsgTest(await s.channel("rpmsg-openamp-demo-channel"), {
    wordSize: 8,
    maxSize,
    timeoutMs: 30_000,
  });
  await s.close();
  return { code: await run, io, errors: r.errors };
}

Deno.test({
  name: "amp remote: serves one host session in-process, then exits 0 and cleans up",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "amp-cli-remote-" });
    const shmName = `amp-cli-remote-${Deno.pid}.shm`;
    const socketPath = `${dir}/event`;
    try {
      const { code, io, errors } = await oneSession(
        ["echo", "--shm-name", shmName, "--socket", socketPath],
        openampLinuxProfile({ shmName, socketPath }),
        64,
      );
      assert.equal(errors, 0);
      assert.equal(code, 0, io.err);
      assert.match(io.out, /serving "rpmsg-openamp-demo-channel" on machine "openamp-linux"/);
      // Primed before serving, on a private link: its messages are not the session's.
      assert.match(io.out, /remote: primed with 960 echo round trips in [0-9]+ ms/);
      assert.match(io.out, /stopped after 1 session\(s\); 6[0-9] messages received/);
      assert.throws(() => Deno.statSync(socketPath));
      assert.throws(() => Deno.statSync(`/dev/shm/${shmName}`));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "amp remote: a machine notified by a polled word is served unprimed by default",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "amp-cli-remote-poll-" });
    const shmName = `amp-cli-remote-poll-${Deno.pid}.shm`;
    // openamp-linux's layout, kicks through two counter words at the end of the shm object.
    const base = openampLinuxProfile({ shmName });
    const profile = {
      ...base,
      regions: base.regions.map((r) => ({ ...r, roles: ["shm" as const, "notify" as const] })),
      notify: {
        kind: "poll-word" as const,
        pa: 0x7_fff0,
        mode: "counter" as const,
        watchPa: 0x7_fff4,
      },
    };
    const machine = `${dir}/poll.json`;
    Deno.writeTextFileSync(machine, JSON.stringify(profile));
    try {
      const { code, io, errors } = await oneSession(["echo", "--machine", machine], profile, 16);
      assert.equal(errors, 0);
      assert.equal(code, 0, io.err);
      assert.doesNotMatch(io.out, /primed/);
      assert.match(io.out, /stopped after 1 session\(s\); 1[6-9] messages received/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
