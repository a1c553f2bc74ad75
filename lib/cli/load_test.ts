import assert from "node:assert/strict";
import { captureIo } from "./_io.ts";
import { main } from "./mod.ts";

Deno.test("runtime verbs: usage mistakes exit 2, a missing remote exits 1", async () => {
  const dir = await Deno.makeTempDir();
  const old = Deno.env.get("AMP_STATE_DIR");
  Deno.env.set("AMP_STATE_DIR", dir);
  try {
    const cases: [string[], number, RegExp][] = [
      [["rpmsg", "frob"], 2, /Unknown rpmsg subcommand "frob"/],
      [["rpmsg"], 2, /missing/],
      [["rpmsg", "send", "x"], 2, /give the text or --file/],
      [["rpmsg", "test", "--count", "0"], 2, /--count must be an integer/],
      [["shmem", "run"], 2, /Unknown shmem subcommand "run"/],
      [["load", "fw.elf"], 2, /missing <fw.elf> <cpu>/],
      [["load", "fw.elf", "one"], 2, /cpu must be a number/],
      [["load", "fw.elf", "1", "--timeout", "5"], 2, /--timeout is only for --reload/],
      [["load", "--reload", "fw.elf", "1"], 1, /No running remote on cpu 1/],
      [["stop", "1"], 1, /No amp process owns remote cpu 1/],
      [["rpmsg", "ping"], 1, /No running remote/],
      [["rpmsg", "ping", "--cpu", "x"], 2, /--cpu must be a number/],
    ];
    for (const [argv, code, re] of cases) {
      const io = captureIo();
      assert.equal(await main(argv, io), code, `${argv.join(" ")}: ${io.err}`);
      assert.match(io.err, re, argv.join(" "));
    }
    const io = captureIo();
    assert.equal(await main(["status"], io), 0);
    assert.equal(io.out, "No remote cores are running.\n");
    const help = captureIo();
    await main(["--help"], help);
    for (const v of ["load", "stop", "status", "rpmsg", "shmem", "demo"]) {
      assert.match(help.out, new RegExp(`^  ${v} `, "m"));
    }
    assert.doesNotMatch(help.out, /__sim-remote/);
  } finally {
    if (old === undefined) Deno.env.delete("AMP_STATE_DIR");
    else Deno.env.set("AMP_STATE_DIR", old);
    await Deno.remove(dir, { recursive: true });
  }
});
