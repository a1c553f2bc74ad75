import assert from "node:assert/strict";
import { mapFile } from "./mmap.ts";
import { mapShm, removeShm } from "./shm.ts";
import { PAGE, patternFile, shmName, throwsCode, throwsErrno } from "./_testing.ts";
import { GREETING, PING, PONG } from "./testdata/shm_peer.ts";

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
