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

Deno.test("amp status -m NAME: only the cores of that machine", async () => {
  const { registerRun } = await import("../runtime/registry.ts");
  const dir = await Deno.makeTempDir();
  // A child process with its own AMP_STATE_DIR: the environment is shared by
  // the test files that run in parallel in this process.
  const cli = new URL("../../cli.ts", import.meta.url).pathname;
  try {
    const a = await registerRun({ cpu: 1, machine: "sim", firmware: "a.elf" }, { dir });
    const b = await registerRun({ cpu: 2, machine: "qemu-rv64", firmware: "b.elf" }, { dir });
    const list = async (argv: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", cli, "status", "--json", ...argv],
        env: { AMP_STATE_DIR: dir, NO_COLOR: "1" },
        stdin: "null",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, err);
      return JSON.parse(new TextDecoder().decode(out.stdout)).entries.map((e: { cpu: number }) =>
        e.cpu
      );
    };
    assert.deepEqual(await list([]), [2, 1]);
    assert.deepEqual(await list(["-m", "sim"]), [1]);
    assert.deepEqual(await list(["--machine", "qemu-rv64"]), [2]);
    assert.deepEqual(await list(["-m", "rv64-virt"]), []);
    await a.release();
    await b.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
