/**
 * The fuzz driver's own command line (`deno task fuzz`): reproducible runs,
 * case replay, and that it really fails on a non-amp exception, a slow case
 * and a hang (faults injected with `--inject`).
 */

import assert from "node:assert/strict";
import { makeCase } from "./fuzz.ts";

const FUZZ = new URL("./fuzz.ts", import.meta.url).pathname;

async function fuzz(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", FUZZ, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

/** The part of a target's summary line that does not depend on timing. */
function outcome(out: string, target = "elf"): string {
  const m = new RegExp(
    `^fuzz: ${target}: (\\d+) case\\(s\\) in .*?, (\\d+) failure\\(s\\); (\\d+) amp errors with (\\d+) distinct`,
    "m",
  ).exec(out);
  assert.ok(m, out);
  return m.slice(1).join(" ");
}

const LIVE = ["vring-driver", "vring-device", "rpmsg", "ns"];

Deno.test("fuzz: a seeded run of every target passes, one line per target, reproducibly", async () => {
  const a = await fuzz("--seed", "42", "--cases", "300");
  assert.equal(a.code, 0, a.out + a.err);
  assert.match(a.out, /^fuzz: seed 42, 300 case\(s\) per target/m);
  const b = await fuzz("--seed", "42", "--cases", "300");
  for (const t of ["elf", ...LIVE]) {
    assert.equal(outcome(a.out, t), outcome(b.out, t));
    assert.match(outcome(a.out, t), /^300 0 [1-9]/, t); // every target hits amp's checks
  }
});

Deno.test("fuzz: the live targets run a bounded CI budget clean", async () => {
  const r = await fuzz("--target", LIVE.join(","), "--cases", "3000");
  assert.equal(r.code, 0, r.out + r.err);
  for (const t of LIVE) assert.match(outcome(r.out, t), /^3000 0 /, t);
});

Deno.test("fuzz: an access outside the rings and pool fails a live target", async () => {
  for (const t of LIVE) {
    const r = await fuzz("--target", t, "--seed", "9", "--cases", "20", "--inject", "oob:4");
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      new RegExp(
        `^FAIL ${t} case 4 \\(${t}\\): InvariantFailure: memory: read \\[0xe000, \\+0x4\\) outside`,
        "m",
      ),
    );
    assert.match(r.out, new RegExp(`reproduce: deno task fuzz --target ${t} --seed 9 --case 4`));
  }
});

Deno.test("fuzz: --case replays a live case as its steps", async () => {
  const r = await fuzz("--target", "vring-driver", "--seed", "7", "--case", "3");
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^ {2}step: (amp|peer): /m);
});

Deno.test("fuzz: --case replays one case and prints its input as hex", async () => {
  const r = await fuzz("--target", "elf", "--seed", "7", "--case", "123");
  assert.equal(r.code, 0, r.out + r.err);
  const c = makeCase(7, 123);
  const hex = Array.from(c.bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.ok(r.out.includes(`  hex: ${hex}\n`));
  assert.match(r.out, /reproduce: deno task fuzz --target elf --seed 7 --case 123/);
});

Deno.test("fuzz: a non-amp exception, a slow case and a hang each fail the run", async () => {
  const thrown = await fuzz(
    "--target",
    "elf",
    "--seed",
    "5",
    "--cases",
    "50",
    "--inject",
    "throw:17",
  );
  assert.equal(thrown.code, 1);
  assert.match(thrown.out, /^FAIL elf case 17 \(inject\): TypeError: injected fault in case 17/m);
  assert.match(thrown.out, /reproduce: deno task fuzz --target elf --seed 5 --case 17/);

  const slow = await fuzz(
    "--target",
    "elf",
    "--seed",
    "5",
    "--cases",
    "50",
    "--budget-ms",
    "200",
    "--inject",
    "slow:9",
  );
  assert.equal(slow.code, 1);
  assert.match(slow.out, /^FAIL elf case 9 \(budget\): case took [\d.]+ ms twice, budget 200 ms/m);

  const hang = await fuzz(
    "--target",
    "rpmsg",
    "--seed",
    "5",
    "--cases",
    "50",
    "--hang-ms",
    "1500",
    "--inject",
    "hang:30",
  );
  assert.equal(hang.code, 1);
  assert.match(hang.out, /^FAIL rpmsg case 30: no progress for 1500 ms \(hang\), worker stopped/m);
  assert.match(hang.out, /reproduce: deno task fuzz --target rpmsg --seed 5 --case 30/);
});

Deno.test("fuzz: bad options are rejected", async () => {
  const r = await fuzz("--cases", "lots");
  assert.equal(r.code, 2);
  assert.match(r.err, /--cases must be an integer/);
  const u = await fuzz("--frob");
  assert.equal(u.code, 2);
  const t = await fuzz("--target", "vring");
  assert.equal(t.code, 2);
  assert.match(t.err, /unknown target "vring"/);
});
