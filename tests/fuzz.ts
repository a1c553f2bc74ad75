#!/usr/bin/env -S deno run --allow-all
/**
 * Fuzz driver for everything that reads untrusted input. Target `elf`: the
 * ELF reader, the resource table parser and checker, the table finder, the
 * load planner, the loader (into heap memory shaped like the machine) and
 * `amp inspect`'s report builder. The live protocol (`tests/_fuzz_live.ts`):
 * `vring-driver`, `vring-device` (a hostile peer writing indices,
 * descriptors, flags and lengths between the operations of amp's queue),
 * `rpmsg` (headers and buffers through both rpmsg buses) and `ns`
 * (name-service messages). The only exceptions allowed out of them are amp's
 * typed errors (`isAmpError`); anything else, a case that runs past its time
 * budget or hangs, and (live targets) an access outside the rings and pool
 * recorded by the memory layer's observer or a broken invariant, is a failure.
 *
 * ```sh
 * deno task fuzz                                  # every target, 100000 cases each, random seed
 * deno task fuzz --target rpmsg,ns --cases 1000000
 * deno task fuzz --seed 7 --cases 5000            # reproducible run
 * deno task fuzz --target ns --seed 7 --case 12   # replay one case (hex input or step trace)
 * ```
 *
 * Every case is derived from (seed, case index) alone, so a failure is
 * reproduced by its seed and index; the failing input is printed as hex too.
 * The cases run in a worker; the main thread is a watchdog that stops the
 * worker when its heartbeat stalls for `--hang-ms` (an infinite loop cannot be
 * interrupted from its own thread) and then reports the stuck case.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { isAmpError } from "../lib/errors.ts";
import {
  buildElf,
  checkElf,
  type ElfImage,
  type ElfSpec,
  EM_ARM,
  parseElf,
  PF_R,
  PF_W,
  PF_X,
} from "../lib/elf/mod.ts";
import { mutate } from "../lib/elf/_fuzz.ts";
import { mulberry32, randInt, type Rng } from "../lib/util/random.ts";
import { mutateTable } from "../lib/rsc/_fuzz.ts";
import {
  buildResourceTable,
  checkElfResourceTable,
  checkResourceTable,
  findResourceTable,
  FW_RSC_U32_ADDR_ANY,
  parseResourceTable,
  rpmsgVdev,
  serializeResourceTable,
} from "../lib/rsc/mod.ts";
import { loadElf, planLoad } from "../lib/remoteproc/loader.ts";
import { loadProfile } from "../lib/machine/mod.ts";
import { MemoryMap } from "../lib/mem/memory_map.ts";
import { heapRegion } from "../lib/mem/region.ts";
import { inspectFirmware } from "../lib/diag/inspect.ts";
import type { MachineProfile } from "../lib/machine/mod.ts";
import { buildSeedElf } from "../examples/make_seed_elf.ts";
import { LIVE_TARGETS } from "./_fuzz_live.ts";

/** Every target, in run order. */
export const TARGETS: readonly string[] = ["elf", ...Object.keys(LIVE_TARGETS)];

// ---------------------------------------------------------------------------
// Corpus: valid images built in code

/** A valid starting point: an ELF spec and (when it has one) its resource table bytes. */
export interface Base {
  /** Name shown in reports. */
  readonly name: string;
  /** How `elf` was built, to re-embed a mutated table. */
  readonly spec?: ElfSpec;
  /** The valid image. */
  readonly elf: Uint8Array;
  /** Its resource table section bytes. */
  readonly table?: Uint8Array;
}

function allKindsTable(): Uint8Array {
  const vr = { da: FW_RSC_U32_ADDR_ANY, align: 0x1000, num: 16 };
  return serializeResourceTable(buildResourceTable([
    {
      kind: "carveout",
      da: 0x6000_0000,
      pa: FW_RSC_U32_ADDR_ANY,
      len: 0x1_0000,
      flags: 0,
      name: "text",
    },
    { kind: "devmem", da: 0x4000_0000, pa: 0x4000_0000, len: 0x1000, flags: 0, name: "uart" },
    { kind: "trace", da: 0x6001_0000, len: 0x400, name: "trace0" },
    rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }], configLen: 8 }),
    { kind: "vendor", type: 200, raw: new Uint8Array([200, 0, 0, 0, 1, 2, 3, 4]) },
  ], { offsetSlots: 6 }));
}

function corpus(): Base[] {
  const seedElf = buildSeedElf();
  const seedImg = parseElf(seedElf);
  const rscSec = seedImg.sections.find((s) => s.name === ".resource_table")!;
  const seedTable = seedElf.slice(rscSec.offset, rscSec.offset + rscSec.size);
  const seedSpec: ElfSpec = {
    class: 64,
    entry: 0x9020_0000,
    segments: [{ paddr: 0x9020_0000, data: seedElf.slice(0x1000, 0x1008), flags: PF_R | PF_X }],
    resourceTable: { addr: 0x9020_0100, data: seedTable },
  };
  const table2 = allKindsTable();
  const armSpec: ElfSpec = {
    class: 32,
    machine: EM_ARM,
    entry: 0x9020_0010,
    segments: [
      { paddr: 0x9020_0000, data: new Uint8Array(0x80).fill(0xe7), flags: PF_R | PF_X },
      { paddr: 0x9030_0000, data: new Uint8Array(0x40).fill(1), memsz: 0x400, flags: PF_R | PF_W },
    ],
    sections: [{ name: ".bss", addr: 0x9030_0040, nobitsSize: 0x3c0, flags: 3 }],
    resourceTable: { addr: 0x9020_1000, data: table2 },
  };
  const bareSpec: ElfSpec = {
    class: 64,
    entry: 0x9020_0000,
    segments: [
      { paddr: 0x9020_0000, data: new Uint8Array(0x100).fill(0x13), flags: PF_R | PF_X },
      { paddr: 0x9028_0000, data: new Uint8Array(0x20), memsz: 0x1000, flags: PF_R | PF_W },
    ],
  };
  return [
    { name: "seed-layout", spec: seedSpec, elf: seedElf, table: seedTable },
    { name: "arm32-all-kinds", spec: armSpec, elf: buildElf(armSpec), table: table2 },
    { name: "rv64-no-table", spec: bareSpec, elf: buildElf(bareSpec) },
  ];
}

// ---------------------------------------------------------------------------
// Cases

/** One generated input. `kind: "table"` inputs are fed to the table parsers only. */
export interface FuzzCase {
  /** Case number within its run. */
  readonly index: number;
  /** `"elf"`: a whole image; `"table"`: resource table bytes alone. */
  readonly kind: "elf" | "table";
  /** Name of the corpus image it was derived from. */
  readonly base: string;
  /** How the input was derived, for the report. */
  readonly how: string;
  /** The input. */
  readonly bytes: Uint8Array;
}

/** A 32-bit seed for case `index` of run `seed` (splitmix-style mixing). */
function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e37_79b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function repeat(bytes: Uint8Array, rng: Rng, f: (b: Uint8Array, r: Rng) => Uint8Array) {
  let out = bytes;
  const n = 1 + randInt(rng, 3);
  for (let i = 0; i < n; i++) out = f(out, rng);
  return { bytes: out, n };
}

/**
 * The input of case `index` of run `seed` (deterministic).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeCase } from "./fuzz.ts";
 * const a = makeCase(1, 5), b = makeCase(1, 5);
 * assert(a.bytes.length === b.bytes.length && a.how === b.how);
 * ```
 */
export function makeCase(seed: number, index: number, bases: readonly Base[] = CORPUS): FuzzCase {
  const rng = mulberry32(caseSeed(seed, index));
  const base = bases[randInt(rng, bases.length)]!;
  const r = rng();
  const withTable = base.table !== undefined && base.spec !== undefined;
  if (r < 0.45 || !withTable) {
    const m = repeat(base.elf, rng, mutate);
    return { index, kind: "elf", base: base.name, how: `${m.n} ELF mutation(s)`, bytes: m.bytes };
  }
  const t = repeat(base.table!, rng, mutateTable);
  if (r < 0.75) {
    return {
      index,
      kind: "table",
      base: base.name,
      how: `${t.n} table mutation(s)`,
      bytes: t.bytes,
    };
  }
  const spec = base.spec!;
  const elf = buildElf({
    ...spec,
    resourceTable: { addr: spec.resourceTable!.addr, data: t.bytes },
  });
  if (r < 0.92) {
    return {
      index,
      kind: "elf",
      base: base.name,
      how: `${t.n} table mutation(s), re-embedded`,
      bytes: elf,
    };
  }
  const m = repeat(elf, rng, mutate);
  return {
    index,
    kind: "elf",
    base: base.name,
    how: `${t.n} table mutation(s), re-embedded, then ${m.n} ELF mutation(s)`,
    bytes: m.bytes,
  };
}

const CORPUS: readonly Base[] = corpus();

// ---------------------------------------------------------------------------
// Targets

/** What one case did: an amp error code per target that threw one. */
type Outcome = { codes: string[] };

/** A target threw something that is not an amp error. */
class FuzzFailure {
  constructor(readonly target: string, readonly error: unknown) {}
}

function guard<T>(target: string, codes: string[], f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (isAmpError(e)) {
      codes.push(`${target}:${e.code}`);
      return undefined;
    }
    throw new FuzzFailure(target, e);
  }
}

function planningMap(profile: MachineProfile): MemoryMap {
  return new MemoryMap(profile.regions.map((r) => heapRegion(r.pa, r.size, { name: r.name })));
}

/** A fault the driver injects into one case to prove it detects it (`--inject`). */
export type Injection = {
  kind: "throw" | "hang" | "slow" | "oob";
  index: number;
  budgetMs: number;
};

function injectFault(inj: Injection, codes: string[]): void {
  guard("inject", codes, () => {
    if (inj.kind === "oob") return; // done by the live target itself
    if (inj.kind === "throw") throw new TypeError(`injected fault in case ${inj.index}`);
    const until = performance.now() + (inj.kind === "slow" ? inj.budgetMs + 20 : Infinity);
    while (performance.now() < until) {
      // Busy: a hang or a slow case, as the watchdog and the budget see it.
    }
  });
}

/** Run live target `target` on case `index`. Throws {@linkcode FuzzFailure} on a failure. */
function runLive(
  target: string,
  index: number,
  job: { seed: number; inject?: Injection },
  trace?: string[],
): Outcome {
  const codes: string[] = [];
  const inj = job.inject;
  if (inj && inj.index === index) injectFault(inj, codes);
  const f = LIVE_TARGETS[target];
  if (!f) throw new Error(`unknown target ${target}`);
  try {
    const oob = inj?.kind === "oob" && inj.index === index;
    for (const c of f(job.seed, index, { oob, ...(trace ? { trace } : {}) })) codes.push(c);
  } catch (e) {
    throw new FuzzFailure(target, e);
  }
  return { codes };
}

/** Run every target on one case. Throws {@linkcode FuzzFailure} for a non-amp exception. */
function runCase(
  c: FuzzCase,
  profile: MachineProfile,
  map: MemoryMap,
  inject?: Injection,
): Outcome {
  const codes: string[] = [];
  if (inject && inject.index === c.index) injectFault(inject, codes);
  const name = `case-${c.index}.elf`;
  if (c.kind === "table") {
    guard("parseResourceTable", codes, () => parseResourceTable(c.bytes, { name }));
    guard("checkResourceTable", codes, () => checkResourceTable(c.bytes, { name }));
    guard(
      "checkResourceTable(BE)",
      codes,
      () => checkResourceTable(c.bytes, { name, littleEndian: false }),
    );
    return { codes };
  }
  const img: ElfImage | undefined = guard("parseElf", codes, () => parseElf(c.bytes, { name }));
  guard("checkElf", codes, () => checkElf(c.bytes, { name }));
  if (img) {
    guard("findResourceTable", codes, () => findResourceTable(img, { name }));
    guard("checkElfResourceTable", codes, () => checkElfResourceTable(img, { name }));
    const rscTableAddr = profile.layout.rscTable.pa;
    guard("planLoad", codes, () => planLoad(img, map, { name, rscTableAddr }));
    // Writes only into the heap-backed planning map.
    guard("loadElf", codes, () => loadElf(img, map, { name, rscTableAddr }));
  }
  guard("inspectFirmware", codes, () => inspectFirmware(c.bytes, { name, machine: profile, map }));
  return { codes };
}

// ---------------------------------------------------------------------------
// Reporting

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function describe(e: unknown): string {
  return e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
}

/** One failed case, as the worker reports it. */
interface FailureReport {
  readonly index: number;
  readonly target: string;
  readonly reason: string;
}

// ---------------------------------------------------------------------------
// Worker side

interface WorkerJob {
  readonly target: string;
  readonly seed: number;
  readonly start: number;
  readonly cases: number;
  readonly budgetMs: number;
  readonly machine: string;
  readonly inject?: Injection;
  /** [0] = index of the case being run, [1] = cases finished. */
  readonly heartbeat: SharedArrayBuffer;
}

type WorkerMessage =
  | { type: "fail"; failure: FailureReport }
  | {
    type: "done";
    ran: number;
    codes: Record<string, number>;
    slowestMs: number;
    slowest: number;
  };

const MAX_FAILURES = 10;

async function workerMain(job: WorkerJob, post: (m: WorkerMessage) => void): Promise<void> {
  const hb = new Int32Array(job.heartbeat);
  const profile = await loadProfile(job.machine);
  const map = planningMap(profile);
  const codes: Record<string, number> = {};
  let failures = 0, slowestMs = 0, slowest = -1, ran = 0;
  const live = job.target !== "elf";
  const attempt = (c: { index: number }): { ms: number; failure?: FailureReport } => {
    const t0 = performance.now();
    try {
      const out = live
        ? runLive(job.target, c.index, job)
        : runCase(c as FuzzCase, profile, map, job.inject);
      for (const k of out.codes) codes[k] = (codes[k] ?? 0) + 1;
      return { ms: performance.now() - t0 };
    } catch (e) {
      const ms = performance.now() - t0;
      if (e instanceof FuzzFailure) {
        return { ms, failure: { index: c.index, target: e.target, reason: describe(e.error) } };
      }
      return { ms, failure: { index: c.index, target: "driver", reason: describe(e) } };
    }
  };
  for (let i = job.start; i < job.start + job.cases && failures < MAX_FAILURES; i++) {
    Atomics.store(hb, 0, i);
    const c = live ? { index: i } : makeCase(job.seed, i);
    let r = attempt(c);
    if (!r.failure && r.ms > job.budgetMs) {
      // One retry: a GC pause or a busy machine can stall any single case.
      r = attempt(c);
      if (!r.failure && r.ms > job.budgetMs) {
        r = {
          ms: r.ms,
          failure: {
            index: i,
            target: "budget",
            reason: `case took ${r.ms.toFixed(1)} ms twice, budget ${job.budgetMs} ms`,
          },
        };
      }
    }
    if (r.ms > slowestMs) {
      slowestMs = r.ms;
      slowest = i;
    }
    if (r.failure) {
      failures++;
      post({ type: "fail", failure: r.failure });
    }
    ran++;
    Atomics.store(hb, 1, ran);
  }
  map.close();
  post({ type: "done", ran, codes, slowestMs, slowest });
}

// ---------------------------------------------------------------------------
// Main side: options, watchdog, report

const USAGE = `Usage: deno task fuzz [--target NAME[,NAME...]] [--seed N] [--cases N] [--case I]
  [--budget-ms MS] [--hang-ms MS] [--machine NAME] [--show-codes]

  --target NAMES  comma-separated, from: ${TARGETS.join(", ")} (default: all)
  --seed N        32-bit run seed (default: random, printed)
  --cases N       number of cases per target (default 100000)
  --case I        run only case I of the seed and print its input as hex
  --budget-ms MS  time budget of one case (default 1000)
  --hang-ms MS    stop when no case finishes for this long (default 20000)
  --machine NAME  machine profile planned against (default rv64-virt)
  --show-codes    print how often each amp error code was seen
  --inject KIND:I self-test of the driver: make case I throw a TypeError (throw),
                  spin forever (hang), overrun the budget (slow) or, in a live
                  target, read outside the rings and pool (oob); must fail`;

function intOption(v: string | undefined, name: string, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > max) {
    throw new Error(`--${name} must be an integer in 0..${max}, got "${v}"`);
  }
  return n;
}

async function runWorker(job: WorkerJob, hangMs: number) {
  const failures: FailureReport[] = [];
  const worker = new Worker(new URL("?worker", import.meta.url), { type: "module" });
  const hb = new Int32Array(job.heartbeat);
  const result = await new Promise<
    { done: Extract<WorkerMessage, { type: "done" }> } | { hung: number } | { crashed: string }
  >((resolve) => {
    let lastDone = -1, lastChange = performance.now();
    const timer = setInterval(() => {
      const done = Atomics.load(hb, 1);
      if (done !== lastDone) {
        lastDone = done;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > hangMs) {
        clearInterval(timer);
        worker.terminate();
        resolve({ hung: Atomics.load(hb, 0) });
      }
    }, 200);
    worker.onmessage = (ev: MessageEvent<WorkerMessage>) => {
      if (ev.data.type === "fail") failures.push(ev.data.failure);
      else {
        clearInterval(timer);
        worker.terminate();
        resolve({ done: ev.data });
      }
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      clearInterval(timer);
      worker.terminate();
      resolve({ crashed: ev.message });
    };
    worker.postMessage(job);
  });
  return { result, failures };
}

function printCase(target: string, seed: number, index: number): void {
  if (target === "elf") {
    const c = makeCase(seed, index);
    console.log(`  input: ${c.kind} from ${c.base}, ${c.how}, ${c.bytes.length} bytes`);
    console.log(`  hex: ${toHex(c.bytes)}`);
  } else {
    const trace: string[] = [];
    try {
      runLive(target, index, { seed }, trace);
    } catch {
      // Reported by the run; here only the steps are wanted.
    }
    for (const line of trace) console.log(`  step: ${line}`);
  }
  console.log(`  reproduce: deno task fuzz --target ${target} --seed ${seed} --case ${index}`);
}

interface TargetRun {
  target: string;
  seed: number;
  start: number;
  cases: number;
  budgetMs: number;
  hangMs: number;
  machine: string;
  inject?: Injection;
  showCodes: boolean;
  only: boolean;
}

/** Run one target in a worker under the watchdog; print its line. Returns its failure count. */
async function runTarget(o: TargetRun): Promise<number> {
  if (o.only) printCase(o.target, o.seed, o.start);
  const t0 = performance.now();
  const job: WorkerJob = {
    target: o.target,
    seed: o.seed,
    start: o.start,
    cases: o.cases,
    budgetMs: o.budgetMs,
    machine: o.machine,
    heartbeat: new SharedArrayBuffer(8),
    ...(o.inject ? { inject: o.inject } : {}),
  };
  const { result, failures } = await runWorker(job, o.hangMs);
  const secs = (performance.now() - t0) / 1000;

  for (const f of failures) {
    console.log(`FAIL ${o.target} case ${f.index} (${f.target}): ${f.reason}`);
    printCase(o.target, o.seed, f.index);
  }
  if ("hung" in result) {
    console.log(
      `FAIL ${o.target} case ${result.hung}: no progress for ${o.hangMs} ms (hang), worker stopped`,
    );
    printCase(o.target, o.seed, result.hung);
    console.log(`fuzz: ${o.target}: hang, 1 failure(s)`);
    return failures.length + 1;
  }
  if ("crashed" in result) {
    console.log(`FAIL ${o.target}: the fuzz worker crashed: ${result.crashed}`);
    console.log(`fuzz: ${o.target}: crashed, 1 failure(s)`);
    return failures.length + 1;
  }
  const { ran, codes, slowestMs, slowest } = result.done;
  const distinct = Object.keys(codes).length;
  const rejected = Object.values(codes).reduce((a, b) => a + b, 0);
  console.log(
    `fuzz: ${o.target}: ${ran} case(s) in ${secs.toFixed(1)} s (${Math.round(ran / secs)}/s), ` +
      `${failures.length} failure(s); ${rejected} amp errors with ${distinct} distinct ` +
      `target:code pairs; slowest case ${slowest} took ${slowestMs.toFixed(1)} ms`,
  );
  if (o.showCodes) {
    for (const [k, n] of Object.entries(codes).sort((a, b) => b[1] - a[1])) {
      console.log(`  ${String(n).padStart(8)}  ${k}`);
    }
  }
  return failures.length;
}

async function main(argv: string[]): Promise<number> {
  // `deno task fuzz -- --cases N` passes the "--" through: it only separates.
  const args = argv.filter((a) => a !== "--");
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      target: { type: "string" },
      seed: { type: "string" },
      cases: { type: "string" },
      case: { type: "string" },
      "budget-ms": { type: "string" },
      "hang-ms": { type: "string" },
      machine: { type: "string" },
      "show-codes": { type: "boolean" },
      inject: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const targets = values.target === undefined ? [...TARGETS] : values.target.split(",");
  for (const t of targets) {
    if (!TARGETS.includes(t)) {
      throw new Error(`unknown target "${t}" (targets: ${TARGETS.join(", ")})`);
    }
  }
  const seed = intOption(values.seed, "seed", (Math.random() * 0x1_0000_0000) >>> 0, 0xffff_ffff);
  const only = values.case === undefined
    ? undefined
    : intOption(values.case, "case", 0, 2 ** 31 - 2);
  const cases = only !== undefined ? 1 : intOption(values.cases, "cases", 100_000, 2 ** 31 - 1);
  const start = only ?? 0;
  const budgetMs = intOption(values["budget-ms"], "budget-ms", 1000, 3_600_000);
  const hangMs = intOption(values["hang-ms"], "hang-ms", 20_000, 3_600_000);
  const machine = values.machine ?? "rv64-virt";
  let inject: Injection | undefined;
  if (values.inject !== undefined) {
    const m = /^(throw|hang|slow|oob):(\d+)$/.exec(values.inject);
    if (!m) {
      throw new Error(`--inject must be throw:I, hang:I, slow:I or oob:I, got "${values.inject}"`);
    }
    inject = { kind: m[1] as Injection["kind"], index: Number(m[2]), budgetMs };
  }

  console.log(
    `fuzz: seed ${seed}, ${cases} case(s) per target from ${start}, targets ${
      targets.join(",")
    }, machine ${machine}, budget ${budgetMs} ms/case, hang after ${hangMs} ms`,
  );
  let failed = 0;
  for (const target of targets) {
    failed += await runTarget({
      target,
      seed,
      start,
      cases,
      budgetMs,
      hangMs,
      machine,
      showCodes: values["show-codes"] ?? false,
      only: only !== undefined,
      ...(inject ? { inject } : {}),
    });
  }
  return failed === 0 ? 0 : 1;
}

if (new URL(import.meta.url).searchParams.has("worker")) {
  const scope = self as unknown as {
    onmessage: ((ev: MessageEvent<WorkerJob>) => void) | null;
    postMessage(m: WorkerMessage): void;
  };
  scope.onmessage = (ev) => {
    scope.onmessage = null;
    workerMain(ev.data, (m) => scope.postMessage(m)).catch((e) => {
      scope.postMessage({
        type: "fail",
        failure: {
          index: Atomics.load(new Int32Array(ev.data.heartbeat), 0),
          target: "driver",
          reason: describe(e),
        },
      });
      scope.postMessage({ type: "done", ran: 0, codes: {}, slowestMs: 0, slowest: -1 });
    });
  };
} else if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`fuzz: ${e instanceof Error ? e.message : String(e)}`);
    console.error(USAGE);
    Deno.exit(2);
  }
}
