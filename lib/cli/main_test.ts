import assert from "node:assert/strict";
import { AmpError, type AmpErrorCode, LoadError, UsageError } from "../errors.ts";
import { type Command, type CommandContext, defineCommand } from "./_command.ts";
import { captureIo } from "./_io.ts";
import { runCli } from "./main.ts";

/** A verb that records its context and does what its first argument says. */
function fakeCommands() {
  const seen: CommandContext[] = [];
  const echo = defineCommand({
    name: "echo",
    summary: "Print the arguments",
    usage: "echo <word>... [--upper] [--json]",
    options: {
      upper: { type: "boolean", short: "u", description: "Upper-case" },
      json: { type: "boolean", description: "JSON output" },
      times: { type: "string", valueName: "N", description: "Repeat N times" },
    },
    args: { min: 1, max: 3, names: "<word>" },
    run(ctx) {
      seen.push(ctx);
      const text = ctx.positionals.join(" ");
      ctx.out(ctx.values.upper ? text.toUpperCase() : text);
      return 0;
    },
  });
  const fail = defineCommand({
    name: "fail",
    summary: "Throw the error named by the argument",
    usage: "fail <kind>",
    options: {},
    args: { min: 1, max: 1, names: "<kind>" },
    run(ctx) {
      seen.push(ctx);
      switch (ctx.positionals[0]) {
        case "amp":
          throw new LoadError("LOAD_OUTSIDE_REGIONS", "segment 2 does not fit", {
            cause: new AmpError("INNER" as AmpErrorCode, "inner reason"),
          });
        case "usage":
          throw new UsageError("fail: bad combination of options");
        case "bug":
          throw new TypeError("x is undefined");
        case "multiline":
          throw new AmpError("ML" as AmpErrorCode, "first line\nsecond line");
        default:
          return 3;
      }
    },
  });
  const commands: Command[] = [echo, fail];
  return { commands, seen };
}

async function run(argv: string[]) {
  const { commands, seen } = fakeCommands();
  const io = captureIo();
  const code = await runCli(argv, { commands, version: "9.8.7", io });
  return { code, out: io.out, err: io.err, seen };
}

function oneLine(err: string): string {
  const lines = err.split("\n");
  assert.equal(lines.length, 2, `expected exactly one line on stderr, got ${JSON.stringify(err)}`);
  assert.equal(lines[1], "");
  assert.match(lines[0]!, /^amp: /);
  return lines[0]!;
}

Deno.test("runCli: --version and -V print the version", async () => {
  for (const flag of ["--version", "-V"]) {
    const r = await run([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.out, "amp 9.8.7\n");
    assert.equal(r.err, "");
  }
});

Deno.test("runCli: --help lists every verb with its summary", async () => {
  for (const argv of [["--help"], ["-h"], ["help"]]) {
    const r = await run(argv);
    assert.equal(r.code, 0);
    assert.match(r.out, /^ {2}echo +Print the arguments$/m);
    assert.match(r.out, /^ {2}fail +Throw the error named by the argument$/m);
    assert.match(r.out, /^ {2}help +/m);
    assert.match(r.out, /--version/);
    assert.equal(r.err, "");
    assert.equal(r.seen.length, 0);
  }
});

Deno.test("runCli: verb --help shows usage and every option, without running the verb", async () => {
  for (const argv of [["echo", "--help"], ["echo", "-h"], ["help", "echo"], ["echo", "x", "-h"]]) {
    const r = await run(argv);
    assert.equal(r.code, 0, argv.join(" "));
    assert.ok(r.out.startsWith("Usage: amp echo <word>... [--upper] [--json]\n"));
    for (const opt of ["-u, --upper", "--json", "--times N", "-h, --help", "-v, --verbose"]) {
      assert.ok(r.out.includes(opt), `help lacks ${opt}`);
    }
    assert.equal(r.seen.length, 0);
  }
});

Deno.test("runCli: usage mistakes exit 2 with one line", async () => {
  const cases: [string[], RegExp][] = [
    [[], /missing verb/],
    [["frob"], /unknown verb "frob"/],
    [["help", "frob"], /unknown verb "frob"/],
    [["--frob"], /unknown option '--frob' for amp /],
    [["-q", "echo", "x"], /unknown option '-q'/],
    [["echo", "x", "--frob"], /unknown option '--frob' for amp echo \(see amp echo --help\)/],
    [["echo", "x", "-z"], /unknown option '-z'/],
    [["echo", "x", "--times"], /option '--times <value>' argument missing/],
    [["echo", "x", "--upper=yes"], /option '(-u, )?--upper' does not take an argument/],
    [["echo"], /^amp: echo: missing <word> \(see amp echo --help\)$/],
    [["echo", "a", "b", "c", "d"], /^amp: echo: unexpected argument "d"/],
    [["fail", "usage"], /^amp: fail: bad combination of options$/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(argv);
    assert.equal(r.code, 2, argv.join(" "));
    assert.match(oneLine(r.err), re);
    assert.equal(r.out, "");
  }
});

Deno.test("runCli: options and positionals reach the verb", async () => {
  const r = await run(["-v", "echo", "--upper", "a", "--times=2", "b", "--json"]);
  assert.equal(r.code, 0);
  assert.equal(r.out, "A B\n");
  const ctx = r.seen[0]!;
  assert.deepEqual(ctx.positionals, ["a", "b"]);
  assert.equal(ctx.values.times, "2");
  assert.equal(ctx.verbose, true);
  assert.equal(ctx.json, true);
});

Deno.test("runCli: -- passes words starting with a dash as arguments", async () => {
  const r = await run(["echo", "--", "-x", "--y"]);
  assert.equal(r.code, 0);
  assert.equal(r.out, "-x --y\n");
  const r2 = await run(["--", "echo", "z"]);
  assert.equal(r2.out, "z\n");
});

Deno.test("runCli: the verb's exit code is returned", async () => {
  assert.equal((await run(["fail", "other"])).code, 3);
});

Deno.test("runCli: an amp error exits 1 with one line and no stack", async () => {
  const r = await run(["fail", "amp"]);
  assert.equal(r.code, 1);
  assert.equal(oneLine(r.err), "amp: segment 2 does not fit");
  assert.doesNotMatch(r.err, /\bat /);
});

Deno.test("runCli: a multi-line message is still reported on one line", async () => {
  const r = await run(["fail", "multiline"]);
  assert.equal(r.code, 1);
  assert.equal(oneLine(r.err), "amp: first line second line");
});

Deno.test("runCli: --verbose adds the stack and the cause chain", async () => {
  for (const argv of [["fail", "amp", "--verbose"], ["-v", "fail", "amp"]]) {
    const r = await run(argv);
    assert.equal(r.code, 1);
    const lines = r.err.split("\n");
    assert.equal(lines[0], "amp: segment 2 does not fit");
    assert.ok(lines.length > 3);
    assert.match(r.err, /LoadError: segment 2 does not fit/);
    assert.match(r.err, /^ +at /m);
    assert.match(r.err, /\[LOAD_OUTSIDE_REGIONS\]/);
    assert.match(r.err, /^caused by: AmpError: inner reason/m);
    assert.match(r.err, /\[INNER\]/);
  }
});

Deno.test("runCli: a non-amp exception is an internal error, exit 1", async () => {
  const r = await run(["fail", "bug"]);
  assert.equal(r.code, 1);
  assert.equal(
    oneLine(r.err),
    "amp: internal error: TypeError: x is undefined (run with --verbose for the stack)",
  );
  const v = await run(["fail", "bug", "-v"]);
  assert.match(v.err, /^amp: internal error: TypeError: x is undefined\n/);
  assert.match(v.err, /^ +at /m);
});
