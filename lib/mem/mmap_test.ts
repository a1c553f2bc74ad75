import assert from "node:assert/strict";
import { ConfigError, isAmpError, OsError, TimeoutError } from "../errors.ts";
import { waitFor } from "../util/wait.ts";
import { bindToUioDriver } from "./_uio_bind.ts";
import {
  findOrBindUio,
  findUio,
  mapDevMem,
  mapFile,
  mapShm,
  mapUio,
  pageSize,
  readUioMap,
  removeShm,
} from "./mmap.ts";
import { GREETING, PING, PONG } from "./testdata/shm_peer.ts";

const PAGE = pageSize();

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isAmpError(e), `not an amp error: ${e}`);
    assert.equal(e.code, code, String(e));
    return true;
  });
}

function throwsErrno(fn: () => unknown, errno: number, syscall: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OsError, `not an OsError: ${e}`);
    assert.equal(e.errno, errno, e.message);
    assert.equal(e.syscall, syscall);
    return true;
  });
}

let counter = 0;
function shmName(): string {
  return `amp-test-${Deno.pid}-${++counter}`;
}

/** Mapped file paths of this process (from /proc/self/maps). */
function mappedPaths(): string {
  return Deno.readTextFileSync("/proc/self/maps");
}

/**
 * Descriptors of this process open on any of `paths`. Other tests running in
 * the same process open and close descriptors of their own, so a plain count
 * of /proc/self/fd would be racy.
 */
function fdsOpenOn(...paths: string[]): number {
  const wanted = paths.map((p) => Deno.realPathSync(p));
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (wanted.includes(Deno.readLinkSync(`/proc/self/fd/${e.name}`))) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

/** A temp file holding `len` bytes where byte i is `(i * 7 + 3) & 0xff`. */
function patternFile(len: number): string {
  const path = Deno.makeTempFileSync({ prefix: "amp-mmap-" });
  const data = new Uint8Array(len);
  for (let i = 0; i < len; i++) data[i] = (i * 7 + 3) & 0xff;
  Deno.writeFileSync(path, data);
  return path;
}

function pattern(i: number): number {
  return (i * 7 + 3) & 0xff;
}

Deno.test("pageSize is a power of two of at least 4 KiB", () => {
  assert.ok(PAGE >= 4096);
  assert.equal(PAGE & (PAGE - 1), 0);
});

Deno.test("two independent mappings of one shm object see each other's writes", () => {
  const name = shmName();
  try {
    const a = mapShm(name, 0x8_0000);
    const b = mapShm(name, 0x8_0000, { base: 0x9010_0000, create: false, name: "b" });
    const c = mapFile(`/dev/shm/${name}`, { base: 0x4000, size: 0x1000, offset: 0x4000 });
    try {
      assert.equal(Deno.statSync(`/dev/shm/${name}`).size, 0x8_0000);
      a.setU32(0x10, 0x1234_5678);
      assert.equal(b.u32(0x9010_0010), 0x1234_5678);
      b.atomicStoreU32(0x9010_4008, 0xfeed_f00d);
      assert.equal(a.atomicLoadU32(0x4008), 0xfeed_f00d);
      assert.equal(c.u32(0x4008), 0xfeed_f00d);
      c.write(0x4ffc, new Uint8Array([1, 2, 3, 4]));
      assert.deepEqual([...b.read(0x9010_4ffc, 4)], [1, 2, 3, 4]);
      // The last byte of the object is reachable; one past it is not.
      a.setU8(0x7_ffff, 0x5a);
      assert.equal(b.u8(0x9017_ffff), 0x5a);
      throwsCode(() => b.u8(0x9018_0000), "MEM_OUT_OF_BOUNDS");
    } finally {
      a.close();
      b.close();
      c.close();
    }
  } finally {
    removeShm(name);
  }
});

Deno.test("a child Deno process writes shm and the parent sees it", async () => {
  const name = shmName();
  const size = 0x1000;
  try {
    const shm = mapShm(name, size);
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          new URL("./testdata/shm_peer.ts", import.meta.url).pathname,
          name,
          String(size),
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).spawn();
      shm.atomicStoreU32(0, PING);
      const out = await child.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.equal(shm.atomicLoadU32(8), 1);
      assert.equal(shm.u32(4), PONG);
      assert.equal(new TextDecoder().decode(shm.read(0x100, GREETING.length)), GREETING);
    } finally {
      shm.close();
    }
  } finally {
    removeShm(name);
  }
});

Deno.test("a non-page-aligned file offset maps the right bytes, also across a page", () => {
  const path = patternFile(3 * PAGE);
  try {
    const off = PAGE + 0x123;
    const r = mapFile(path, { base: 0x5000, size: 0x100, offset: off });
    try {
      assert.equal(r.base, 0x5000);
      assert.equal(r.size, 0x100);
      for (const i of [0, 1, 0xff]) assert.equal(r.u8(0x5000 + i), pattern(off + i));
      r.write(0x5010, new Uint8Array([0xde, 0xad]));
      throwsCode(() => r.u8(0x5100), "MEM_OUT_OF_BOUNDS");
      throwsCode(() => r.u8(0x4fff), "MEM_OUT_OF_BOUNDS");
    } finally {
      r.close();
    }
    const file = Deno.readFileSync(path);
    assert.deepEqual([...file.subarray(off + 0x10, off + 0x12)], [0xde, 0xad]);
    assert.equal(file[off + 0x12], pattern(off + 0x12));
    assert.equal(file[off + 0xf], pattern(off + 0xf));

    // A window straddling a page boundary.
    const cross = mapFile(path, { base: 0, size: 8, offset: 2 * PAGE - 3 });
    try {
      for (let i = 0; i < 8; i++) assert.equal(cross.u8(i), pattern(2 * PAGE - 3 + i));
    } finally {
      cross.close();
    }
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("create makes and grows the file but never shrinks it", () => {
  const dir = Deno.makeTempDirSync({ prefix: "amp-mmap-" });
  const path = `${dir}/new.bin`;
  try {
    throwsErrno(() => mapFile(path, { base: 0, size: 16 }), 2, "open");
    const r = mapFile(path, { base: 0, size: 0x100, offset: 0x2000, create: true });
    r.close();
    assert.equal(Deno.statSync(path).size, 0x2100);
    const s = mapFile(path, { base: 0, size: 0x10, create: true });
    s.close();
    assert.equal(Deno.statSync(path).size, 0x2100);
    const mode = Deno.statSync(path).mode;
    assert.equal(mode !== null && (mode & 0o077), 0, "created file is private by default");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a short file is refused instead of faulting later", () => {
  const path = patternFile(PAGE);
  try {
    throwsCode(() => mapFile(path, { base: 0, size: PAGE + 1 }), "MMAP_FILE_TOO_SMALL");
    throwsCode(() => mapFile(path, { base: 0, size: 1, offset: PAGE }), "MMAP_FILE_TOO_SMALL");
    assert.throws(() => mapFile(path, { base: 0, size: 8, offset: PAGE - 4 }), /only 0x1000 bytes/);
    const ok = mapFile(path, { base: 0, size: 4, offset: PAGE - 4 });
    assert.equal(ok.u8(3), pattern(PAGE - 1));
    ok.close();
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("mapFile validates every argument before touching the file", () => {
  const path = patternFile(PAGE);
  const dir = Deno.makeTempDirSync({ prefix: "amp-mmap-" });
  const MAX = Number.MAX_SAFE_INTEGER;
  try {
    assert.equal(fdsOpenOn(path, dir), 0);
    throwsCode(() => mapFile("", { base: 0, size: 1 }), "MMAP_BAD_PATH");
    throwsCode(() => mapFile("a\0b", { base: 0, size: 1 }), "MMAP_BAD_PATH");
    for (const base of [-1, NaN, 1.5, MAX + 1]) {
      throwsCode(() => mapFile(path, { base, size: 1 }), "MEM_BAD_BASE");
    }
    for (const size of [0, -1, NaN, 0.5, Infinity]) {
      throwsCode(() => mapFile(path, { base: 0, size }), "MMAP_BAD_SIZE");
    }
    for (const offset of [-1, NaN, 2.5]) {
      throwsCode(() => mapFile(path, { base: 0, size: 1, offset }), "MMAP_BAD_OFFSET");
    }
    throwsCode(() => mapFile(path, { base: MAX - 1, size: 2 }), "MEM_WRAP");
    throwsCode(() => mapFile(path, { base: 0, size: 2, offset: MAX - 1 }), "MMAP_OFFSET_WRAP");
    throwsCode(
      () => mapFile(path, { base: 0, size: 1, create: true, readOnly: true }),
      "MMAP_CREATE_READ_ONLY",
    );
    throwsErrno(() => mapFile("/nonexistent-dir/x", { base: 0, size: 1 }), 2, "open");
    throwsErrno(() => mapFile(dir, { base: 0, size: 1 }), 21, "open");
    assert.equal(fdsOpenOn(path, dir), 0, "failed attempts must not leak descriptors");
  } finally {
    Deno.removeSync(path);
    Deno.removeSync(dir);
  }
});

Deno.test("close unmaps, closes the fd and detaches views; second close is harmless", () => {
  const path = patternFile(PAGE);
  try {
    assert.equal(fdsOpenOn(path), 0);
    const r = mapFile(path, { base: 0x1000, size: PAGE });
    const view = r.bytes(0x1000, 16);
    const sub = r.sub(0x1100, 0x10);
    const subView = sub.bytes(0x1100, 4);
    assert.equal(fdsOpenOn(path), 1);
    assert.ok(mappedPaths().includes(path), "mapping is listed in /proc/self/maps");
    assert.equal(view[1], pattern(1));
    r.close();
    assert.equal(fdsOpenOn(path), 0);
    assert.ok(!mappedPaths().includes(path), "mapping is gone after close");
    assert.equal(view.length, 0);
    assert.equal(subView.length, 0);
    assert.equal(view[1], undefined, "a detached view reads nothing");
    r.close();
    sub.close();
    throwsCode(() => r.u8(0x1000), "MEM_CLOSED");
    throwsCode(() => sub.u8(0x1100), "MEM_CLOSED");
    throwsCode(() => r.bytes(0x1000, 1), "MEM_CLOSED");
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("a region dropped without close is unmapped by garbage collection", async () => {
  const path = patternFile(PAGE);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--v8-flags=--expose-gc",
        new URL("./testdata/leak_guard.ts", import.meta.url).pathname,
        path,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), { before: 1, after: 0 });
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("read-only mappings refuse writes and never change the file", () => {
  const path = patternFile(PAGE);
  Deno.chmodSync(path, 0o400);
  try {
    const r = mapFile(path, { base: 0, size: PAGE, readOnly: true });
    try {
      assert.equal(r.readOnly, true);
      assert.equal(r.u8(5), pattern(5));
      throwsCode(() => r.setU8(5, 0), "MEM_READ_ONLY");
      throwsCode(() => r.fill(0, 4), "MEM_READ_ONLY");
      // A raw view write cannot fault and stays private.
      r.bytes(0, 1)[0] = 0xee;
    } finally {
      r.close();
    }
    assert.equal(Deno.readFileSync(path)[0], pattern(0));
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("shm names are validated; create=false needs an existing object", () => {
  for (const bad of ["", "/", "a/b", "..", ".", "x\0y", "n".repeat(256)]) {
    throwsCode(() => mapShm(bad, 16), "SHM_BAD_NAME");
    throwsCode(() => removeShm(bad), "SHM_BAD_NAME");
  }
  const name = shmName();
  throwsErrno(() => mapShm(name, 16, { create: false }), 2, "open");
  assert.equal(removeShm(name), false);
  // A leading slash is the POSIX spelling of the same object.
  const r = mapShm(`/${name}`, 16);
  r.close();
  assert.ok(Deno.statSync(`/dev/shm/${name}`).isFile);
  assert.equal(removeShm(name), true);
  assert.equal(removeShm(name), false);
});

Deno.test("a symlink in place of a shm object is refused", () => {
  const name = shmName();
  const target = patternFile(PAGE);
  try {
    Deno.symlinkSync(target, `/dev/shm/${name}`);
    throwsErrno(() => mapShm(name, 16, { create: false }), 40, "open"); // ELOOP
  } finally {
    Deno.removeSync(`/dev/shm/${name}`);
    Deno.removeSync(target);
  }
});

Deno.test("mapDevMem maps physical address pa at file offset pa", () => {
  const path = Deno.makeTempFileSync({ prefix: "amp-devmem-" });
  const pa = 0x9010_0000;
  try {
    // Sparse stand-in for /dev/mem with distinctive bytes at pa.
    const f = Deno.openSync(path, { write: true });
    try {
      f.truncateSync(pa + 2 * PAGE);
      f.seekSync(pa, Deno.SeekMode.Start);
      f.writeSync(new Uint8Array([0x78, 0x56, 0x34, 0x12, 0xaa, 0xbb]));
    } finally {
      f.close();
    }
    const r = mapDevMem(pa, 0x1000, { path });
    try {
      assert.equal(r.base, pa);
      assert.equal(r.name, "mem@0x90100000");
      assert.equal(r.u32(pa), 0x1234_5678);
      r.setU32(pa + 0x20, 0xa1b2_c3d4);
    } finally {
      r.close();
    }
    // Not page aligned: pa + 4.
    const odd = mapDevMem(pa + 4, 2, { path, name: "odd" });
    try {
      assert.equal(odd.u16(pa + 4), 0xbbaa);
      throwsCode(() => odd.u8(pa + 6), "MEM_OUT_OF_BOUNDS");
    } finally {
      odd.close();
    }
    const back = new Uint8Array(4);
    const g = Deno.openSync(path, { read: true });
    try {
      g.seekSync(pa + 0x20, Deno.SeekMode.Start);
      g.readSync(back);
    } finally {
      g.close();
    }
    assert.deepEqual([...back], [0xd4, 0xc3, 0xb2, 0xa1]);
  } finally {
    Deno.removeSync(path);
  }
});

// ---------------------------------------------------------------------------
// UIO against a fake sysfs tree

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
