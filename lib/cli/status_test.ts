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
  const old = Deno.env.get("AMP_STATE_DIR");
  Deno.env.set("AMP_STATE_DIR", dir);
  try {
    const a = await registerRun({ cpu: 1, machine: "sim", firmware: "a.elf" }, { dir });
    const b = await registerRun({ cpu: 2, machine: "qemu-rv64", firmware: "b.elf" }, { dir });
    const list = async (argv: string[]) => {
      const io = captureIo();
      const code = await runCli(["status", "--json", ...argv], {
        commands: [statusCommand],
        version: "t",
        io,
      });
      assert.equal(code, 0, io.err);
      return JSON.parse(io.out).entries.map((e: { cpu: number }) => e.cpu);
    };
    assert.deepEqual(await list([]), [2, 1]);
    assert.deepEqual(await list(["-m", "sim"]), [1]);
    assert.deepEqual(await list(["--machine", "qemu-rv64"]), [2]);
    assert.deepEqual(await list(["-m", "rv64-virt"]), []);
    await a.release();
    await b.release();
  } finally {
    if (old === undefined) Deno.env.delete("AMP_STATE_DIR");
    else Deno.env.set("AMP_STATE_DIR", old);
    await Deno.remove(dir, { recursive: true });
  }
});
