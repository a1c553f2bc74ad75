import assert from "node:assert/strict";
import { ConfigError, isAmpError, OsError, TimeoutError } from "../errors.ts";
import { waitFor } from "../util/wait.ts";
import { bindToUioDriver } from "./_uio_bind.ts";
import { findOrBindUio, findUio, mapUio, readUioMap } from "./uio.ts";
import { PAGE, throwsCode, throwsErrno } from "./_testing.ts";

// UIO against a fake sysfs tree.

interface FakeMap {
  name?: string;
  addr?: string;
  size?: string;
  offset?: string;
}

class FakeUio {
  readonly root = Deno.makeTempDirSync({ prefix: "amp-uio-" });
  readonly sys = `${this.root}/sys`;
  readonly dev = `${this.root}/dev`;
  constructor() {
    Deno.mkdirSync(`${this.sys}/class/uio`, { recursive: true });
    Deno.mkdirSync(this.dev);
  }
  get opts() {
    return { sysfsRoot: this.sys, devRoot: this.dev };
  }
  device(uio: string, name: string, maps: Record<number, FakeMap>, devSize = 0): void {
    const d = `${this.sys}/class/uio/${uio}`;
    Deno.mkdirSync(d, { recursive: true });
    Deno.writeTextFileSync(`${d}/name`, `${name}\n`);
    for (const [i, m] of Object.entries(maps)) this.map(uio, Number(i), m);
    if (devSize > 0) Deno.writeFileSync(`${this.dev}/${uio}`, new Uint8Array(devSize));
  }
  map(uio: string, index: number, m: FakeMap): void {
    const d = `${this.sys}/class/uio/${uio}/maps/map${index}`;
    Deno.mkdirSync(d, { recursive: true });
    for (const [k, v] of Object.entries(m)) {
      if (v !== undefined) Deno.writeTextFileSync(`${d}/${k}`, v);
    }
  }
  platform(dev: string, uio: string): void {
    Deno.mkdirSync(`${this.sys}/bus/platform/devices/${dev}/uio/${uio}`, { recursive: true });
  }
  /** Writes bytes into the fake /dev/uioN at a file offset. */
  poke(uio: string, offset: number, bytes: Uint8Array): void {
    const f = Deno.openSync(`${this.dev}/${uio}`, { write: true });
    try {
      f.seekSync(offset, Deno.SeekMode.Start);
      f.writeSync(bytes);
    } finally {
      f.close();
    }
  }
  peek(uio: string, offset: number, len: number): number[] {
    return [...Deno.readFileSync(`${this.dev}/${uio}`).subarray(offset, offset + len)];
  }
  [Symbol.dispose](): void {
    Deno.removeSync(this.root, { recursive: true });
  }
}

/** The rv64-virt pair of UIO devices, sysfs-style attribute text. */
function rv64Uio(): FakeUio {
  const f = new FakeUio();
  f.device("uio0", "shm", {
    0: {
      name: "poll\n",
      addr: "0x0000000090000000\n",
      size: "0x0000000000080000\n",
      offset: "0x0\n",
    },
    1: {
      name: "shm\n",
      addr: "0x0000000090100000\n",
      size: "0x0000000000000800\n",
      offset: "0x10\n",
    },
  }, 0x8_0000);
  f.platform("90100000.shm", "uio0");
  f.device("uio1", "90200000.rproc", {
    0: { name: "\n", addr: "0x90200000", size: "0x1000", offset: "0x0" },
  }, PAGE);
  return f;
}

Deno.test("findUio: uioN directly, via the platform device, or by name", () => {
  using f = rv64Uio();
  assert.equal(findUio("uio1", f.opts), "uio1");
  assert.equal(findUio("90100000.shm", f.opts), "uio0");
  assert.equal(findUio("90200000.rproc", f.opts), "uio1");
  throwsCode(() => findUio("uio7", f.opts), "UIO_NOT_FOUND");
  throwsCode(() => findUio("nothing", f.opts), "UIO_NOT_FOUND");
  for (const bad of ["", "../uio0", "a/b", "..", "x\ny"]) {
    throwsCode(() => findUio(bad, f.opts), "UIO_BAD_DEVICE_NAME");
  }
  f.device("uio2", "dup", {});
  f.device("uio3", "dup", {});
  throwsCode(() => findUio("dup", f.opts), "UIO_AMBIGUOUS");
  f.platform("two.dev", "uio2");
  f.platform("two.dev", "uio3");
  throwsCode(() => findUio("two.dev", f.opts), "UIO_AMBIGUOUS");
});

Deno.test("mapUio maps map N at file offset N * page size, base addr, data at offset", () => {
  using f = rv64Uio();
  // Distinctive bytes where each map's memory starts inside the fake /dev/uio0.
  f.poke("uio0", 0, new Uint8Array([0x11, 0x22, 0x33, 0x44]));
  f.poke("uio0", PAGE, new Uint8Array([0xee, 0xee])); // before map 1's offset
  f.poke("uio0", PAGE + 0x10, new Uint8Array([0x4d, 0x41, 0x50, 0x31])); // "MAP1"
  const m0 = mapUio("uio0", 0, f.opts);
  const m1 = mapUio("90100000.shm", 1, f.opts);
  try {
    assert.equal(m0.base, 0x9000_0000);
    assert.equal(m0.size, 0x8_0000);
    assert.equal(m0.name, "uio0");
    assert.equal(m0.u32(0x9000_0000), 0x4433_2211);
    assert.equal(m1.base, 0x9010_0000);
    assert.equal(m1.size, 0x800);
    assert.equal(m1.name, "90100000.shm:map1");
    assert.equal(m1.u32(0x9010_0000), 0x3150_414d);
    throwsCode(() => m1.u8(0x9010_0800), "MEM_OUT_OF_BOUNDS");
    throwsCode(() => m1.u8(0x900f_ffff), "MEM_OUT_OF_BOUNDS");
    m1.setU32(0x9010_07fc, 0x0403_0201);
    assert.deepEqual(f.peek("uio0", PAGE + 0x10 + 0x7fc, 4), [1, 2, 3, 4]);
    assert.deepEqual(f.peek("uio0", PAGE, 2), [0xee, 0xee]);
  } finally {
    m0.close();
    m1.close();
  }
});

Deno.test("readUioMap parses sysfs hex attributes", () => {
  using f = rv64Uio();
  assert.deepEqual(readUioMap("uio0", 1, f.opts), {
    uio: "uio0",
    index: 1,
    name: "shm",
    addr: 0x9010_0000,
    size: 0x800,
    offset: 0x10,
  });
  assert.equal(readUioMap("uio1", 0, f.opts).name, "");
  throwsCode(() => readUioMap("uio0", 5, f.opts), "UIO_MAP_NOT_FOUND");
  throwsCode(() => mapUio("uio0", 5, f.opts), "UIO_MAP_NOT_FOUND");
  for (const i of [-1, 1.5, NaN]) {
    throwsCode(() => readUioMap("uio0", i, f.opts), "UIO_BAD_MAP_INDEX");
  }
  throwsCode(() => readUioMap("../uio0", 0, f.opts), "UIO_BAD_DEVICE_NAME");
});

Deno.test("garbage and wraparound in sysfs map attributes each get their own code", () => {
  using f = rv64Uio();
  const ok: Required<FakeMap> = {
    name: "m\n",
    addr: "0x1000\n",
    size: "0x1000\n",
    offset: "0x0\n",
  };
  const pageHex = "0x" + PAGE.toString(16);
  const cases: [Partial<FakeMap>, string][] = [
    [{ addr: "90100000\n" }, "UIO_MAP_BAD_ADDR"],
    [{ addr: "0x\n" }, "UIO_MAP_BAD_ADDR"],
    [{ addr: "0x10000000000000000\n" }, "UIO_MAP_BAD_ADDR"], // 65 bits
    [{ addr: "0x9010zz00\n" }, "UIO_MAP_BAD_ADDR"],
    [{ addr: " 0x1000\n" }, "UIO_MAP_BAD_ADDR"],
    [{ addr: "-0x1000\n" }, "UIO_MAP_BAD_ADDR"],
    [{ addr: "0x1000\n\n" }, "UIO_MAP_BAD_ADDR"],
    [{ addr: "0x1_000\n" }, "UIO_MAP_BAD_ADDR"],
    [{ addr: "" }, "UIO_MAP_BAD_ADDR"],
    [{ size: "4096\n" }, "UIO_MAP_BAD_SIZE"],
    [{ size: "0x1000 kB\n" }, "UIO_MAP_BAD_SIZE"],
    [{ offset: "0x10 \n" }, "UIO_MAP_BAD_OFFSET"],
    [{ offset: "0o10\n" }, "UIO_MAP_BAD_OFFSET"],
    [{ size: "0x0\n" }, "UIO_MAP_EMPTY"],
    [{ offset: `${pageHex}\n` }, "UIO_MAP_OFFSET_RANGE"],
    [{ addr: "0xffffffffffffff00\n", size: "0x100\n" }, "UIO_MAP_WRAP"],
    [{ addr: "0xfffffffffffff000\n", size: "0x2000\n" }, "UIO_MAP_WRAP"],
    [{ addr: "0x1\n", size: "0xffffffffffffffff\n" }, "UIO_MAP_WRAP"],
    [{ addr: "0x1fffffffffff00\n", size: "0x200\n" }, "UIO_MAP_ADDR_RANGE"],
    [{ addr: "0xffffffff00000000\n", size: "0x1000\n" }, "UIO_MAP_ADDR_RANGE"],
    [{ addr: "0x0\n", size: "0x1fffffffffffff\n", offset: "0x10\n" }, "UIO_MAP_LEN_RANGE"],
  ];
  for (const [patch, code] of cases) {
    f.map("uio0", 2, { ...ok, ...patch });
    assert.throws(() => readUioMap("uio0", 2, f.opts), (e: unknown) => {
      assert.ok(isAmpError(e), String(e));
      assert.equal(e.code, code, `${JSON.stringify(patch)}: ${e}`);
      return true;
    });
    throwsCode(() => mapUio("uio0", 2, f.opts), code);
  }
  // The map's file offset index * page must stay exact too.
  const far = Math.ceil(2 ** 53 / PAGE);
  f.map("uio0", far, ok);
  throwsCode(() => readUioMap("uio0", far, f.opts), "UIO_MAP_INDEX_RANGE");
  // A map directory with an attribute missing.
  f.map("uio0", 3, { name: "m\n", addr: "0x1000\n", offset: "0x0\n" });
  throwsCode(() => readUioMap("uio0", 3, f.opts), "UIO_MAP_ATTR_MISSING");
  // The attribute is a directory rather than a file.
  f.map("uio0", 4, { ...ok, size: undefined });
  Deno.mkdirSync(`${f.sys}/class/uio/uio0/maps/map4/size`);
  throwsErrno(() => readUioMap("uio0", 4, f.opts), 21, "read");
});

Deno.test("mapUio refuses a map that lies past the end of the device file", () => {
  using f = rv64Uio();
  // Valid attributes, but uio1's stand-in device holds only one page.
  f.map("uio1", 1, { name: "x\n", addr: "0x90300000\n", size: "0x10\n", offset: "0x0\n" });
  throwsCode(() => mapUio("uio1", 1, f.opts), "MMAP_FILE_TOO_SMALL");
  Deno.removeSync(`${f.dev}/uio1`);
  throwsErrno(() => mapUio("90200000.rproc", 0, f.opts), 2, "open");
});

// ---------------------------------------------------------------------------
// Binding an unbound device to uio_pdrv_genirq

const DRV = "uio_pdrv_genirq";

/** Adds a platform device with no driver and the uio_pdrv_genirq driver directory. */
function unbound(f: FakeUio, dev: string): { devDir: string; bind: string } {
  const devDir = `${f.sys}/bus/platform/devices/${dev}`;
  Deno.mkdirSync(devDir, { recursive: true });
  Deno.writeTextFileSync(`${devDir}/driver_override`, "(null)\n");
  Deno.mkdirSync(`${f.sys}/bus/platform/drivers/${DRV}`, { recursive: true });
  const bind = `${f.sys}/bus/platform/drivers/${DRV}/bind`;
  Deno.writeTextFileSync(bind, "");
  return { devDir, bind };
}

/**
 * Stands in for the kernel: once `dev` is written to the bind file, creates
 * the device's `uio/<uio>` entry, its class/uio attributes and /dev node.
 */
async function fakeKernel(f: FakeUio, bind: string, dev: string, uio: string): Promise<void> {
  await waitFor(() => Deno.readTextFileSync(bind) === dev, {
    deadlineMs: 30_000,
    spinUs: 0,
    what: `waiting for ${dev} to be written to ${bind}`,
  });
  f.device(uio, dev, {
    0: { name: "\n", addr: "0x90100000\n", size: "0x1000\n", offset: "0x0\n" },
  }, PAGE);
  f.platform(dev, uio);
}

Deno.test("findOrBindUio binds an unbound device, waits for uioN, and it maps", async () => {
  using f = new FakeUio();
  const { devDir, bind } = unbound(f, "90100000.shm");
  const opts = { ...f.opts, bindTimeoutMs: 30_000 };
  const [uio] = await Promise.all([
    findOrBindUio("90100000.shm", opts),
    fakeKernel(f, bind, "90100000.shm", "uio2"),
  ]);
  assert.equal(uio, "uio2");
  assert.equal(Deno.readTextFileSync(`${devDir}/driver_override`), DRV);
  assert.equal(Deno.readTextFileSync(bind), "90100000.shm");
  const r = mapUio(uio, 0, opts);
  assert.equal(r.base, 0x9010_0000);
  r.setU32(0x9010_0004, 0x1234_5678);
  assert.deepEqual(f.peek("uio2", 4, 4), [0x78, 0x56, 0x34, 0x12]);
  r.close();
  // Now bound: a second lookup writes nothing.
  Deno.writeTextFileSync(bind, "");
  assert.equal(await findOrBindUio("90100000.shm", opts), "uio2");
  assert.equal(Deno.readTextFileSync(bind), "");
});

Deno.test("bindToUioDriver unbinds the current driver first, then binds", () => {
  using f = new FakeUio();
  const { devDir, bind } = unbound(f, "90200000.rproc");
  const other = `${f.sys}/bus/platform/drivers/other-drv`;
  Deno.mkdirSync(other);
  Deno.writeTextFileSync(`${other}/unbind`, "");
  // Relative, as the kernel makes it.
  Deno.symlinkSync("../../drivers/other-drv", `${devDir}/driver`);
  const writes = bindToUioDriver(f.sys, "platform", "90200000.rproc");
  const real = (p: string) => Deno.realPathSync(p);
  assert.deepEqual(writes.map(([p, t]) => [real(p), t]), [
    [real(`${devDir}/driver_override`), DRV],
    [real(`${other}/unbind`), "90200000.rproc"],
    [real(bind), "90200000.rproc"],
  ]);
  assert.equal(Deno.readTextFileSync(`${other}/unbind`), "90200000.rproc");
  assert.equal(Deno.readTextFileSync(bind), "90200000.rproc");
  assert.equal(Deno.readTextFileSync(`${devDir}/driver_override`), DRV);
});

Deno.test("bindToUioDriver leaves a device bound to uio_pdrv_genirq alone", () => {
  using f = new FakeUio();
  const { devDir, bind } = unbound(f, "dev.a");
  Deno.symlinkSync(`${f.sys}/bus/platform/drivers/${DRV}`, `${devDir}/driver`);
  assert.deepEqual(bindToUioDriver(f.sys, "platform", "dev.a"), []);
  assert.equal(Deno.readTextFileSync(bind), "");
  assert.equal(Deno.readTextFileSync(`${devDir}/driver_override`), "(null)\n");
});

function rejectsBind(code: string, errno: number, path: string, msg?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(e.cause instanceof OsError, String(e.cause));
    assert.equal(e.cause.errno, errno, e.message);
    assert.ok(e.message.includes(path), e.message);
    if (msg !== undefined) assert.equal(e.message, msg);
    return true;
  };
}

Deno.test("each failing bind step is its own error with the path and errno", async () => {
  using f = new FakeUio();
  const { devDir, bind } = unbound(f, "90100000.shm");
  // The bind attribute is a directory.
  Deno.removeSync(bind);
  Deno.mkdirSync(bind);
  await assert.rejects(
    findOrBindUio("90100000.shm", f.opts),
    rejectsBind(
      "UIO_BIND_FAILED",
      21,
      bind,
      `Cannot bind 90100000.shm to ${DRV}: write(${bind}) failed: EISDIR (is a directory)`,
    ),
  );
  // No such driver: the module is not loaded.
  Deno.removeSync(`${f.sys}/bus/platform/drivers/${DRV}`, { recursive: true });
  await assert.rejects(
    findOrBindUio("90100000.shm", f.opts),
    rejectsBind(
      "UIO_BIND_FAILED",
      2,
      bind,
      `Cannot bind 90100000.shm to ${DRV}: write(${bind}) failed: ENOENT (no such file or directory); is the ${DRV} module loaded?`,
    ),
  );
  // The current driver has no unbind attribute.
  Deno.mkdirSync(`${f.sys}/bus/platform/drivers/gone`);
  Deno.symlinkSync(`${f.sys}/bus/platform/drivers/gone`, `${devDir}/driver`);
  await assert.rejects(
    findOrBindUio("90100000.shm", f.opts),
    rejectsBind("UIO_UNBIND_FAILED", 2, "/gone/unbind"),
  );
  // A dangling driver link.
  Deno.removeSync(`${f.sys}/bus/platform/drivers/gone`);
  await assert.rejects(
    findOrBindUio("90100000.shm", f.opts),
    rejectsBind("UIO_DRIVER_LINK", 2, `${devDir}/driver`),
  );
  // The device has no driver_override.
  Deno.removeSync(`${devDir}/driver`);
  Deno.removeSync(`${devDir}/driver_override`);
  await assert.rejects(
    findOrBindUio("90100000.shm", f.opts),
    rejectsBind("UIO_OVERRIDE_FAILED", 2, `${devDir}/driver_override`),
  );
});

Deno.test("findOrBindUio times out when the kernel creates no uioN", async () => {
  using f = new FakeUio();
  const { bind } = unbound(f, "90100000.shm");
  await assert.rejects(
    findOrBindUio("90100000.shm", { ...f.opts, bindTimeoutMs: 0 }),
    (e: unknown) => {
      assert.ok(e instanceof TimeoutError, String(e));
      assert.match(e.message, /90100000\.shm\/uio\/uioN after binding 90100000\.shm/);
      return true;
    },
  );
  assert.equal(Deno.readTextFileSync(bind), "90100000.shm");
  for (const bad of [-1, NaN, Infinity]) {
    await assert.rejects(
      findOrBindUio("90100000.shm", { ...f.opts, bindTimeoutMs: bad }),
      { code: "UIO_BAD_OPTION" },
    );
  }
});

Deno.test("bind: false, an unknown device, or an already bound one writes nothing", async () => {
  using f = rv64Uio();
  const { devDir, bind } = unbound(f, "90300000.dev");
  await assert.rejects(findOrBindUio("90300000.dev", { ...f.opts, bind: false }), (e: unknown) => {
    assert.ok(e instanceof ConfigError && e.code === "UIO_NOT_FOUND", String(e));
    assert.match(e.message, /No UIO device for "90300000\.dev"/);
    return true;
  });
  // Not on the bus at all: the plain not-found error, no bind attempt.
  await assert.rejects(findOrBindUio("nothing", f.opts), { code: "UIO_NOT_FOUND" });
  await assert.rejects(findOrBindUio("uio9", f.opts), { code: "UIO_NOT_FOUND" });
  // Bound already (via the bus, by name, or as uioN).
  unbound(f, "90100000.shm");
  assert.equal(await findOrBindUio("90100000.shm", f.opts), "uio0");
  assert.equal(await findOrBindUio("90200000.rproc", f.opts), "uio1");
  assert.equal(await findOrBindUio("uio1", f.opts), "uio1");
  assert.equal(Deno.readTextFileSync(bind), "");
  assert.equal(Deno.readTextFileSync(`${devDir}/driver_override`), "(null)\n");
  const shmOverride = `${f.sys}/bus/platform/devices/90100000.shm/driver_override`;
  assert.equal(Deno.readTextFileSync(shmOverride), "(null)\n");
});
