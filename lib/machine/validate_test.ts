import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import type { MachineProfile } from "./types.ts";
import { checkCpu, regionWithRole, validateProfile } from "./validate.ts";
import { builtinProfileNames, loadProfile } from "./load.ts";
import { vringLayout } from "../virtio/virtqueue.ts";
import { BUILTIN_PROFILES, RV64_VIRT } from "./profiles/mod.ts";
import { openampLinuxProfile } from "./profiles/openamp_linux.ts";
import { simProfile } from "./profiles/sim.ts";

/** A deep, mutable, untyped copy of rv64-virt for building bad inputs. */
// deno-lint-ignore no-explicit-any
function raw(p: MachineProfile = RV64_VIRT): any {
  return JSON.parse(JSON.stringify(p));
}

function rejects(json: unknown, code: string, message: string | RegExp): void {
  assert.throws(() => validateProfile(json, "board.json"), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(e.code, code);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

Deno.test("vring sizes used by profile checks follow the split-ring layout formula", () => {
  assert.equal(vringLayout(256, 0x1000).size, 0x2806);
  // num 4, align 16: desc 64, avail 6+8=14 -> 78 -> 80, used 6+32 = 38 -> 118
  assert.equal(vringLayout(4, 16).size, 118);
  // Padding depends on where the ring starts.
  assert.equal(vringLayout(1, 0x1000, 0).size, 0x1000 + 14);
  assert.equal(vringLayout(1, 0x1000, 0xfe0).size, 0x20 + 14);
});

Deno.test("every built-in profile validates and round-trips through JSON", () => {
  assert.deepEqual(builtinProfileNames().sort(), [
    "openamp-linux",
    "qemu-rv64",
    "rv64-virt",
    "sim",
  ]);
  for (const [name, p] of Object.entries(BUILTIN_PROFILES)) {
    const back = validateProfile(JSON.parse(JSON.stringify(p)), name);
    assert.deepEqual(back, p, name);
  }
});

Deno.test("rv64-virt matches machines.md section 1", () => {
  const p = RV64_VIRT;
  const byName = Object.fromEntries(p.regions.map((r) => [r.name, r]));
  assert.deepEqual(byName["90000000.shm"], {
    name: "90000000.shm",
    pa: 0x9000_0000,
    size: 0x8_0000,
    backing: { kind: "uio", device: "90000000.shm", map: 0 },
    roles: ["notify"],
  });
  assert.equal(byName["90100000.shm"]?.pa, 0x9010_0000);
  assert.deepEqual(byName["90100000.shm"]?.backing, {
    kind: "uio",
    device: "90100000.shm",
    map: 0,
  });
  assert.equal(byName["90200000.rproc"]?.pa, 0x9020_0000);
  assert.equal(byName["90200000.rproc"]?.size, 0x7f_f000);
  assert.deepEqual(p.layout, {
    rscTable: { pa: 0x9010_0000, size: 0x2_0000 },
    pool: { pa: 0x9012_0000, size: 0x4_0000 },
    vrings: [
      { pa: 0x9016_0000, num: 256, align: 0x1000 },
      { pa: 0x9016_4000, num: 256, align: 0x1000 },
    ],
    bufSize: { rx: 512, tx: 512 },
  });
  assert.deepEqual(p.notify, { kind: "poll-word", pa: 0x9000_0000, mode: "seed" });
  assert.deepEqual(p.control, { kind: "rv64-sysfs" });
  assert.deepEqual(p.cpus, [1]);
  assert.equal(p.wordSize, 8);
});

Deno.test("sim keeps the rv64-virt guest view on amp-created shm objects", () => {
  const p = simProfile({ prefix: "amp-t" });
  assert.deepEqual(p.layout, RV64_VIRT.layout);
  assert.deepEqual(
    p.regions.map((r) => [r.name, r.pa, r.size]),
    RV64_VIRT.regions.map((r) => [
      r.name,
      r.pa,
      r.size,
    ]),
  );
  assert.deepEqual(p.regions.map((r) => r.backing), [
    { kind: "shm", name: "amp-t.notify", create: true },
    { kind: "shm", name: "amp-t.shm", create: true },
    { kind: "shm", name: "amp-t.image", create: true },
  ]);
  assert.equal(p.control.kind, "sim");
  assert.equal(p.notify.kind, "poll-word");
  validateProfile(p, "sim");
});

Deno.test("openamp-linux matches machines.md section 2 and is configurable", () => {
  const p = openampLinuxProfile();
  assert.deepEqual(p.regions, [{
    name: "openamp.shm",
    pa: 0,
    size: 0x8_0000,
    backing: { kind: "shm", name: "openamp.shm", create: true },
    roles: ["shm"],
  }]);
  assert.deepEqual(p.layout.rscTable.pa, 0);
  assert.deepEqual(p.layout.vrings.map((v) => v.pa), [0x4000, 0x8000]);
  assert.deepEqual(p.layout.pool, { pa: 0x1_0000, size: 0x4_0000 });
  assert.deepEqual(p.notify, { kind: "socket", path: "/tmp/openamp.event.0" });
  const q = openampLinuxProfile({ shmName: "x.shm", socketPath: "/tmp/y" });
  assert.deepEqual(q.regions[0]?.backing, { kind: "shm", name: "x.shm", create: true });
  assert.deepEqual(q.notify, { kind: "socket", path: "/tmp/y" });
  validateProfile(q, "q");
});

Deno.test("validateProfile reports the exact field path and value", () => {
  const a = raw();
  a.regions[1].size = -4;
  rejects(a, "PROFILE_FIELD", "board.json: regions[1].size: must be a positive integer, got -4");

  const b = raw();
  b.wordSize = 2;
  rejects(b, "PROFILE_FIELD", "board.json: wordSize: must be one of 4, 8, got 2");

  const c = raw();
  c.regions[0].backing = { kind: "tape" };
  rejects(c, "PROFILE_FIELD", /^board\.json: regions\[0\]\.backing\.kind: must be one of "uio"/);

  const d = raw();
  d.layout.vrings[1].num = 300;
  rejects(d, "PROFILE_FIELD", "board.json: layout.vrings[1].num: must be a power of two, got 300");

  const e = raw();
  e.layout.vrings[0].pa += 0x10;
  rejects(
    e,
    "PROFILE_FIELD",
    "board.json: layout.vrings[0].pa: must be a multiple of align 0x1000, got 0x90160010",
  );

  const f = raw();
  f.regions[2].sizee = 1;
  rejects(f, "PROFILE_UNKNOWN_FIELD", /^board\.json: regions\[2\]\.sizee: unknown field/);

  const g = raw();
  g.layout.vrings.pop();
  rejects(g, "PROFILE_FIELD", "board.json: layout.vrings: must have exactly 2 entries, got 1");

  const h = raw();
  h.cpus = [1, 1];
  rejects(h, "PROFILE_FIELD", "board.json: cpus[1]: cpu 1 is listed twice");

  rejects(null, "PROFILE_FIELD", "board.json: the profile: must be an object, got null");
  rejects(
    raw({ ...RV64_VIRT, name: "" }),
    "PROFILE_FIELD",
    /^board\.json: name: must be a non-empty/,
  );

  const i = raw();
  i.regions[0].pa = 2 ** 53;
  rejects(i, "PROFILE_FIELD", /^board\.json: regions\[0\]\.pa: must be a non-negative integer/);

  const j = raw();
  j.regions[0].pa = Number.MAX_SAFE_INTEGER - 10;
  rejects(j, "PROFILE_RANGE", /regions\[0\]: \[0x1ffffffffffff5, \+0x80000\) wraps/);

  const k = raw();
  k.regions[0].backing.device = "../x";
  rejects(k, "PROFILE_FIELD", /regions\[0\]\.backing\.device: must be a device name without "\/"/);
});

Deno.test("validateProfile refuses overlapping regions and duplicate names", () => {
  const a = raw();
  a.regions[2].pa = 0x9010_0000 + 0x7_f000;
  rejects(
    a,
    "PROFILE_OVERLAP",
    "board.json: regions[2]: 90200000.rproc [0x9017f000, +0x7ff000) overlaps regions[1] 90100000.shm [0x90100000, +0x80000)",
  );
  const b = raw();
  b.regions[2].name = "90000000.shm";
  rejects(
    b,
    "PROFILE_FIELD",
    'board.json: regions[2].name: "90000000.shm" is already used by regions[0]',
  );
});

Deno.test("validateProfile keeps the layout inside a shm region and apart", () => {
  const a = raw();
  a.layout.pool.pa = 0x9017_0000; // runs past the 0x80000 shm region
  rejects(
    a,
    "PROFILE_LAYOUT",
    /^board\.json: layout\.pool: \[0x90170000, \+0x40000\) is not inside a region with role "shm" \(90100000\.shm \[0x90100000, \+0x80000\)\)$/,
  );
  const b = raw();
  b.layout.vrings[1].pa = 0x9016_2000; // inside vring0 (0x2806 bytes)
  rejects(
    b,
    "PROFILE_LAYOUT_OVERLAP",
    "board.json: layout.vrings[1]: [0x90162000, +0x2806) overlaps layout.vrings[0] [0x90160000, +0x2806)",
  );
  const c = raw();
  c.regions[1].roles = [];
  rejects(c, "PROFILE_LAYOUT", /no region has role "shm"/);
  const d = raw();
  d.layout.rscTable.size = 0x2_0001; // reaches into the pool
  rejects(d, "PROFILE_LAYOUT_OVERLAP", /layout\.pool: .* overlaps layout\.rscTable/);
});

Deno.test("validateProfile checks the pool holds one buffer per vring entry", () => {
  const a = raw();
  a.layout.bufSize = 1024; // 512 x 1024 = 0x80000 > 0x40000
  rejects(
    a,
    "PROFILE_POOL",
    "board.json: layout.pool.size: 0x40000 bytes cannot hold 256 RX buffers of 1024 B and 256 TX buffers of 1024 B (0x80000 bytes needed)",
  );
  const b = raw();
  b.layout.bufSize = { rx: 512, tx: 256 };
  const p = validateProfile(b, "b");
  assert.deepEqual(p.layout.bufSize, { rx: 512, tx: 256 });
  const c = raw();
  delete c.layout.bufSize;
  assert.deepEqual(validateProfile(c, "c").layout.bufSize, { rx: 512, tx: 512 });
  const d = raw();
  d.layout.bufSize = 16;
  rejects(d, "PROFILE_FIELD", /layout\.bufSize: must be an integer in \[32, 65536\], got 16/);
});

Deno.test("validateProfile checks the notify word is in a notify region", () => {
  const a = raw();
  a.notify.pa = 0x9010_0000;
  rejects(
    a,
    "PROFILE_NOTIFY",
    'board.json: notify.pa: the notify word at 0x90100000 is not inside a region with role "notify"',
  );
  const b = raw();
  b.notify.pa = 0x9000_0002;
  rejects(b, "PROFILE_FIELD", "board.json: notify.pa: must be 4-byte aligned, got 0x90000002");
  const c = raw();
  delete c.notify.mode;
  const n = validateProfile(c, "c").notify;
  assert.ok(n.kind === "poll-word" && n.mode === "seed");
});

Deno.test("validateProfile checks control variants", () => {
  const a = raw();
  a.control = { kind: "remoteproc", index: 1, name: "m4" };
  rejects(a, "PROFILE_FIELD", 'board.json: control: give "index" or "name", not both');
  const b = raw();
  b.control = { kind: "remoteproc", name: "m4", firmwareDir: "/tmp/fw" };
  assert.deepEqual(validateProfile(b, "b").control, b.control);
  const c = raw();
  c.control = { kind: "warp" };
  rejects(c, "PROFILE_FIELD", /^board\.json: control\.kind: must be one of "rv64-sysfs"/);
});

Deno.test("checkCpu and regionWithRole", () => {
  assert.equal(checkCpu(RV64_VIRT, 1), 1);
  assert.throws(() => checkCpu(RV64_VIRT, 0), (e: unknown) => {
    assert.ok(e instanceof ConfigError && e.code === "PROFILE_CPU");
    assert.equal(e.message, 'Machine "rv64-virt" has no remote cpu 0 (valid: 1)');
    return true;
  });
  assert.equal(regionWithRole(RV64_VIRT, "notify")?.name, "90000000.shm");
  assert.equal(regionWithRole(openampLinuxProfile(), "image"), undefined);
});

Deno.test("loadProfile: built-ins are fresh copies; files are validated", async () => {
  const a = await loadProfile("rv64-virt");
  a.cpus.push(7);
  assert.deepEqual((await loadProfile("rv64-virt")).cpus, [1]);

  const dir = await Deno.makeTempDir();
  try {
    const good = `${dir}/board.json`;
    await Deno.writeTextFile(good, JSON.stringify({ ...raw(), name: "my-board" }));
    assert.equal((await loadProfile(good)).name, "my-board");

    const bad = `${dir}/bad.json`;
    const b = raw();
    b.regions[1].size = -4;
    await Deno.writeTextFile(bad, JSON.stringify(b));
    await assert.rejects(loadProfile(bad), {
      name: "ConfigError",
      message: `${bad}: regions[1].size: must be a positive integer, got -4`,
    });

    const broken = `${dir}/broken.json`;
    await Deno.writeTextFile(broken, "{ nope");
    await assert.rejects(loadProfile(broken), { code: "PROFILE_JSON" });

    await assert.rejects(loadProfile(`${dir}/missing.json`), {
      code: "PROFILE_NOT_FOUND",
      message: `Machine profile file ${dir}/missing.json does not exist`,
    });
    await assert.rejects(loadProfile("no-such-board"), {
      code: "PROFILE_NOT_FOUND",
      message:
        'Unknown machine "no-such-board": not a built-in (rv64-virt, sim, openamp-linux, qemu-rv64) and no such file',
    });
    await assert.rejects(loadProfile(dir), { code: "PROFILE_READ" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
