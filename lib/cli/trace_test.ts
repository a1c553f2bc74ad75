import assert from "node:assert/strict";
import { mapFile } from "../mem/mmap.ts";
import type { MemoryRegion } from "../mem/region.ts";
import { qemuRv64Profile } from "../machine/profiles/qemu_rv64.ts";
import { buildResourceTable, serializeResourceTable } from "../rsc/table.ts";
import { captureIo } from "./_io.ts";
import { runCli } from "./main.ts";
import { traceCommand } from "./trace.ts";

const enc = new TextEncoder();

/** A qemu-rv64-shaped machine whose RAM file is a sparse temp file in /dev/shm. */
async function fakeMachine() {
  const name = `amp-trace-test-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
  const ramFile = `/dev/shm/${name}`;
  const profile = qemuRv64Profile({ name });
  const profilePath = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(profilePath, JSON.stringify(profile));
  // Writable windows for the test to play the remote (the verb maps read-only).
  const img = mapFile(ramFile, {
    base: 0x9020_0000,
    size: 0x7f_f000,
    offset: 0x1020_0000,
    create: true,
  });
  const shm = mapFile(ramFile, { base: 0x9010_0000, size: 0x8_0000, offset: 0x1010_0000 });
  mapFile(ramFile, { base: 0x9000_0000, size: 0x8_0000, offset: 0x1000_0000 }).close();
  return {
    profilePath,
    shm,
    img,
    async [Symbol.asyncDispose]() {
      shm.close();
      img.close();
      await Deno.remove(ramFile).catch(() => {});
      await Deno.remove(profilePath).catch(() => {});
    },
  };
}

function publish(shm: MemoryRegion, da = 0x9024_0000, len = 0x100): void {
  shm.write(
    0x9010_0000,
    serializeResourceTable(buildResourceTable([{ kind: "trace", da, len, name: "trace0" }])),
  );
}

async function run(argv: string[]) {
  const io = captureIo();
  const code = await runCli(argv, { commands: [traceCommand], version: "t", io });
  return { code, out: io.out, err: io.err };
}

Deno.test("amp trace prints the ring oldest to newest from another process's memory", async () => {
  await using m = await fakeMachine();
  publish(m.shm);
  // A wrapped ring: newest "[2] c" at the start, oldest after the NUL.
  const ring = new Uint8Array(0x100);
  const older = enc.encode("[0] aaaa\n[1] \x1b[2Jbb\n");
  ring.fill(0x2d, 0, 0xff); // filler of an earlier line
  ring.set(enc.encode("[2] c\n"), 0);
  ring[6] = 0;
  ring.set(older, 0xff - older.length);
  m.img.write(0x9024_0000, ring);
  const r = await run(["trace", "1", "--machine", m.profilePath]);
  assert.equal(r.err, "");
  assert.equal(r.code, 0);
  assert.ok(r.out.endsWith("[0] aaaa\n[1] \\x1b[2Jbb\n[2] c\n"), JSON.stringify(r.out));
  assert.ok(r.out.startsWith("-".repeat(0xff - older.length - 7)));
});

Deno.test("amp trace: errors are one line with the right exit code", async () => {
  await using m = await fakeMachine();
  let r = await run(["trace", "1", "--machine", m.profilePath]);
  assert.equal(r.code, 1);
  assert.match(r.err, /^amp: Resource table version is 0, not 1/);
  publish(m.shm, 0x90a0_0000, 0x1000); // beyond every region
  r = await run(["trace", "1", "--machine", m.profilePath]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /Trace buffer "trace0" \[0x90a00000, \+0x1000\) is not inside one mapped region/,
  );
  publish(m.shm);
  r = await run(["trace", "1", "--machine", m.profilePath, "--entry", "1"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /has 1 trace entries, no entry 1/);
  r = await run(["trace", "0", "--machine", m.profilePath]);
  assert.equal(r.code, 1);
  assert.match(r.err, /has no remote cpu 0/);
  r = await run(["trace", "x1", "--machine", m.profilePath]);
  assert.equal(r.code, 2);
  r = await run(["trace", "1", "--machine", m.profilePath, "--entry", "-1"]);
  assert.equal(r.code, 2);
  const gone = qemuRv64Profile({ name: "amp-no-such-machine-for-trace" });
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, JSON.stringify(gone));
    r = await run(["trace", "1", "--machine", path]);
    assert.equal(r.code, 1);
    assert.match(r.err, /Machine "qemu-rv64" is not running/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("amp trace --follow prints new text as the remote writes, until SIGINT", async () => {
  await using m = await fakeMachine();
  publish(m.shm, 0x9024_0000, 64);
  const ring = new Uint8Array(64);
  let pos = 0;
  const put = (s: string) => {
    for (const c of enc.encode(s)) {
      ring[pos] = c;
      pos = (pos + 1) % 63;
      ring[pos] = 0;
    }
    m.img.write(0x9024_0000, ring);
  };
  put("[0] start\n");
  const script = `
    import { runCli } from "${new URL("./main.ts", import.meta.url).href}";
    import { traceCommand } from "${new URL("./trace.ts", import.meta.url).href}";
    Deno.exit(await runCli(Deno.args, { commands: [traceCommand], version: "t" }));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "-", "trace", "1", "-f", "--machine", m.profilePath],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(enc.encode(script));
  await w.close();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const readUntil = async (want: string) => {
    while (!out.includes(want)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`no "${want}" in ${JSON.stringify(out)}`)), 30000);
      });
      try {
        const chunk = await Promise.race([reader.read(), timeout]);
        if (chunk.done) throw new Error(`stdout ended before "${want}": ${JSON.stringify(out)}`);
        out += chunk.value;
      } finally {
        clearTimeout(timer);
      }
    }
  };
  try {
    await readUntil("[0] start\n");
    let all = "[0] start\n";
    for (let i = 1; i <= 12; i++) { // wraps the 63-byte ring several times over the run
      const line = `[${i}] line ${i}\n`;
      put(line);
      all += line;
      await readUntil(line);
    }
    assert.equal(out, all);
    child.kill("SIGINT");
    const status = await child.status;
    assert.equal(status.code, 0);
  } finally {
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }
});
