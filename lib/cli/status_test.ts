import assert from "node:assert/strict";
import { captureIo } from "./_io.ts";
import { runCli } from "./main.ts";
import { statusCommand } from "./status.ts";

Deno.test("amp status --help: the usage line names every option the verb takes", async () => {
  const io = captureIo();
  assert.equal(
    await runCli(["status", "--help"], { commands: [statusCommand], version: "t", io }),
    0,
  );
  const usage = io.out.split("\n")[0]!;
  for (const name of Object.keys(statusCommand.options)) {
    assert.match(usage, new RegExp(`--${name}\\b`), `usage "${usage}" lacks --${name}`);
  }
});
