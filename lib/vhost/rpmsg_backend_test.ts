import assert from "node:assert/strict";
import { echoService, matrixService, sampleService } from "../apps/services.ts";
import { runSample } from "../apps/sample.ts";
import { runMsgTest } from "../apps/echo.ts";
import { runMatrix } from "../apps/matrix.ts";
import { serveVhostUserRpmsg } from "./rpmsg_backend.ts";
import { TestFrontEnd } from "./_testing.ts";

function services() {
  return [echoService(), sampleService(), matrixService()];
}

Deno.test("vhost-user rpmsg: a front-end runs the sample, msg-test and matrix demos; the next front-end too", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/rpmsg.sock`;
  const lines: string[] = [];
  const { server, device } = serveVhostUserRpmsg(path, {
    services: services(),
    log: (l) => lines.push(l),
  });
  try {
    for (const round of [1, 2]) {
      using fe = TestFrontEnd.connect(path);
      await fe.handshake();
      const sample = await fe.channel("rpmsg-client-sample");
      const s = await runSample(sample);
      assert(s.passed, `round ${round} sample: ${s.failures.join("; ")}`);
      const echo = await fe.channel("rpmsg-openamp-demo-channel");
      const t = await runMsgTest(echo, { wordSize: 8 });
      assert(t.passed, `round ${round} msg-test: ${t.failures.join("; ")}`);
      const matrix = await fe.channel("rpmsg-openamp-matrix");
      const m = await runMatrix(matrix, { count: 20 });
      assert(m.passed, `round ${round} matrix: ${m.failures.join("; ")}`);
      fe.close();
      const end = await server.nextEnd(5000, round - 1);
      assert.equal(end?.error, null, lines.join("\n"));
      assert.equal(end?.sessions, 1);
    }
    assert.equal(device.sessions, 2);
    assert.equal(device.bus, null);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
