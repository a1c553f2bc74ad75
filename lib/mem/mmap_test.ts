import assert from "node:assert/strict";
import { mapDevMem, mapFile } from "./mmap.ts";
import {
  fdsOpenOn,
  mappedPaths,
  PAGE,
  pattern,
  patternFile,
  throwsCode,
  throwsErrno,
} from "./_testing.ts";

Deno.test("pageSize is a power of two of at least 4 KiB", () => {
  assert.ok(PAGE >= 4096);
  assert.equal(PAGE & (PAGE - 1), 0);
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
