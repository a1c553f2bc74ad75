import assert from "node:assert/strict";
import { captureIo } from "./_io.ts";
import { runCli } from "./main.ts";
import { stopCommand } from "./stop.ts";

async function stop(argv: string[]): Promise<{ code: number; err: string }> {
  const dir = await Deno.makeTempDir();
  const old = Deno.env.get("AMP_STATE_DIR");
  Deno.env.set("AMP_STATE_DIR", dir);
  try {
    const io = captureIo();
    const code = await runCli(["stop", ...argv], { commands: [stopCommand], version: "t", io });
    return { code, err: io.err };
  } finally {
    if (old === undefined) Deno.env.delete("AMP_STATE_DIR");
    else Deno.env.set("AMP_STATE_DIR", old);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("amp stop --timeout: accepts waits of 10 s and more (the default is 10000)", async () => {
  for (const ms of ["10000", "60000"]) {
    const r = await stop(["1", "--timeout", ms]);
    // Parsed fine: the failure is the missing owner, not the option.
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /No amp process owns remote cpu 1/);
  }
});

Deno.test("amp stop --timeout: a value that is not a positive integer is a usage error", async () => {
  for (const bad of ["0", "abc", "-5", "1.5"]) {
    const r = await stop(["1", `--timeout=${bad}`]);
    assert.equal(r.code, 2, `${bad}: ${r.err}`);
    assert.match(r.err, /--timeout must be an integer/);
  }
});
