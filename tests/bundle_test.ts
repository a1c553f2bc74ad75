/**
 * Packaging: `deno task bundle` writes dist/amp.js, a single executable file
 * that starts with the `deno run` shebang and runs `amp` without the sources.
 */

import assert from "node:assert/strict";
import { dirname } from "node:path";
import meta from "../deno.json" with { type: "json" };
import { AMP_V8_FLAGS, selfSimCommand } from "../lib/sim/process.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const BUNDLE = `${ROOT}dist/amp.js`;

Deno.test("bundle: deno task bundle builds an executable dist/amp.js that runs by its shebang", async () => {
  const build = await new Deno.Command("npx", {
    args: ["deno", "task", "bundle"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));

  const text = await Deno.readTextFile(BUNDLE);
  const shebang = `#!/usr/bin/env -S deno run --allow-all --v8-flags=${AMP_V8_FLAGS}\n`;
  assert.ok(text.startsWith(shebang), text.slice(0, 100));
  assert.doesNotMatch(text, /^import .* from "\.\.?\//m, "the bundle must not import local files");
  const mode = (await Deno.stat(BUNDLE)).mode ?? 0;
  assert.equal(mode & 0o111, 0o111, `dist/amp.js mode ${mode.toString(8)} is not executable`);

  // Run it from outside the repo, by its shebang: `deno` is found on PATH.
  const cwd = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${ROOT}examples/seed-layout.elf`, `${cwd}/fw.elf`);
    const env = {
      NO_COLOR: "1",
      PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`,
    };
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(BUNDLE, {
        args,
        cwd,
        env,
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      const dec = new TextDecoder();
      return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
    };
    const v = await run("--version");
    assert.equal(v.code, 0, v.err);
    assert.equal(v.out, `amp ${meta.version}\n`);

    const r = await run("inspect", "fw.elf");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /vdev rpmsg \(id 7\) at \+0x30/);
    assert.equal(r.out.match(/^ +[01] +ANY +0x1000 +256 +[12]$/gm)?.length, 2);
    assert.match(r.out, /^Problems: none$/m);

    const bad = await run("inspect", "missing.elf");
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^amp: Cannot read file missing\.elf: no such file\n$/);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("bundle: cli.ts, the amp/demo/compile tasks and the sim remote's command run with the same V8 flags", async () => {
  const flag = `--v8-flags=${AMP_V8_FLAGS}`;
  const cli = await Deno.readTextFile(`${ROOT}cli.ts`);
  assert.equal(cli.split("\n")[0], `#!/usr/bin/env -S deno run --allow-all ${flag}`);
  for (const task of ["amp", "demo", "compile"] as const) {
    assert.ok(meta.tasks[task].includes(` ${flag} `), `task ${task}: ${meta.tasks[task]}`);
  }
  assert.ok(selfSimCommand().includes(flag), selfSimCommand().join(" "));
});
