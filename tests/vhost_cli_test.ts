/**
 * `amp remote ... --vhost-user SOCKET` as a user runs it: a real CLI process
 * serving a vhost-user front-end (amp's test front-end, which drives the
 * rings as virtio_uml would), two front-ends in a row, then SIGTERM.
 */

import assert from "node:assert/strict";
import { runSample } from "../lib/apps/sample.ts";
import { runMatrix } from "../lib/apps/matrix.ts";
import { TestFrontEnd } from "../lib/vhost/_testing.ts";
import { sleep } from "../lib/util/wait.ts";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("amp remote --vhost-user serves one front-end after another and stops on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "amp-vhost-cli-" });
  const sock = `${dir}/rpmsg.sock`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "cli.ts",
      "remote",
      "echo",
      "sample",
      "matrix",
      "--vhost-user",
      sock,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  try {
    const end = performance.now() + 60_000;
    while (!(await Deno.lstat(sock).then((s) => s.isSocket, () => false))) {
      assert(performance.now() < end, "the socket never appeared");
      await sleep(20);
    }
    for (const round of [1, 2]) {
      using fe = TestFrontEnd.connect(sock);
      await fe.handshake();
      const s = await runSample(await fe.channel("rpmsg-client-sample"));
      assert(s.passed, `round ${round}: ${s.failures.join("; ")}`);
      const m = await runMatrix(await fe.channel("rpmsg-openamp-matrix"), { count: 10 });
      assert(m.passed, `round ${round}: ${m.failures.join("; ")}`);
    }
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
  }
  const o = await output;
  const out = new TextDecoder().decode(o.stdout);
  assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
  assert.match(
    out,
    /serving "rpmsg-openamp-demo-channel", "rpmsg-client-sample", "rpmsg-openamp-matrix" as a vhost-user rpmsg device/,
  );
  assert.match(out, /front-end 2 disconnected/);
  assert.match(out, /stopped after 2 front-end\(s\), 2 session\(s\)/);
  await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("amp remote --vhost-user refuses the shared-memory options", async () => {
  const o = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "cli.ts",
      "remote",
      "echo",
      "--vhost-user",
      "/tmp/x.sock",
      "--shm-name",
      "a",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(o.code, 2);
  assert.match(new TextDecoder().decode(o.stderr), /--shm-name does not apply with --vhost-user/);
});
