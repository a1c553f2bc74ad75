import assert from "node:assert/strict";
import { ConfigError, type ConfigErrorCode } from "../errors.ts";
import { mapShm, removeShm } from "../mem/shm.ts";
import { heapRegion, type MemoryRegion } from "../mem/region.ts";
import { waitFor } from "../util/wait.ts";
import { makeFakeUioTree } from "./_fake_uio.ts";
import { mapProfileRegions } from "./map.ts";
import type { MachineProfile } from "./types.ts";
import { validateProfile } from "./validate.ts";
import { RV64_VIRT } from "./profiles/rv64_virt.ts";
import { simProfile } from "./profiles/sim.ts";

function heapProfile(): MachineProfile {
  return validateProfile({
    ...RV64_VIRT,
    regions: RV64_VIRT.regions.map((r) => ({ ...r, backing: { kind: "heap" } })),
  }, "heap");
}

Deno.test("mapProfileRegions maps rv64-virt through a fake UIO tree", async () => {
  const tree = await makeFakeUioTree(RV64_VIRT);
  try {
    const map = await mapProfileRegions(RV64_VIRT, {
      sysfsRoot: tree.sysfsRoot,
      devRoot: tree.devRoot,
    });
    try {
      assert.deepEqual(
        map.regions.map((r) => [r.name, r.base, r.size]),
        RV64_VIRT.regions.map((r) => [r.name, r.pa, r.size]),
      );
      // Writes land in the file that stands in for /dev/uioN.
      map.get(0x9010_0010, 4).setU32(0x9010_0010, 0xcafe_f00d);
      const u = tree.uio["90100000.shm"]!;
      const f = await Deno.readFile(`${tree.devRoot}/${u}`);
      assert.equal(new DataView(f.buffer).getUint32(0x10, true), 0xcafe_f00d);
    } finally {
      map.close();
    }
  } finally {
    await tree.remove();
  }
});

Deno.test("mapProfileRegions binds an unbound UIO device first, unless bind is false", async () => {
  const tree = await makeFakeUioTree(RV64_VIRT);
  try {
    const dev = "90100000.shm";
    const u = tree.uio[dev]!;
    const devDir = `${tree.sysfsRoot}/bus/platform/devices/${dev}`;
    const drv = `${tree.sysfsRoot}/bus/platform/drivers/uio_pdrv_genirq`;
    const stash = `${tree.root}/stash`;
    // Make the device unbound: no uio/ entry, no class/uio entry, no /dev node.
    await Deno.remove(`${devDir}/uio`, { recursive: true });
    await Deno.mkdir(stash);
    await Deno.rename(`${tree.sysfsRoot}/class/uio/${u}`, `${stash}/class`);
    await Deno.rename(`${tree.devRoot}/${u}`, `${stash}/dev`);
    await Deno.writeTextFile(`${devDir}/driver_override`, "(null)\n");
    await Deno.mkdir(drv, { recursive: true });
    await Deno.writeTextFile(`${drv}/bind`, "");
    const roots = { sysfsRoot: tree.sysfsRoot, devRoot: tree.devRoot, bindTimeoutMs: 30_000 };

    await assert.rejects(mapProfileRegions(RV64_VIRT, { ...roots, bind: false }), {
      code: "UIO_NOT_FOUND",
    });
    assert.equal(await Deno.readTextFile(`${drv}/bind`), "");
    assert.equal(await Deno.readTextFile(`${devDir}/driver_override`), "(null)\n");

    // The kernel's part: once bound, the UIO device appears.
    const kernel = async () => {
      await waitFor(() => Deno.readTextFileSync(`${drv}/bind`) === dev, {
        deadlineMs: 30_000,
        spinUs: 0,
      });
      await Deno.rename(`${stash}/class`, `${tree.sysfsRoot}/class/uio/${u}`);
      await Deno.rename(`${stash}/dev`, `${tree.devRoot}/${u}`);
      await Deno.mkdir(`${devDir}/uio/${u}`, { recursive: true });
    };
    const [map] = await Promise.all([mapProfileRegions(RV64_VIRT, roots), kernel()]);
    try {
      assert.equal(await Deno.readTextFile(`${devDir}/driver_override`), "uio_pdrv_genirq");
      assert.equal(map.byName(dev)?.base, 0x9010_0000);
      map.get(0x9010_0020, 4).setU32(0x9010_0020, 0x600d_b1d5);
      const f = await Deno.readFile(`${tree.devRoot}/${u}`);
      assert.equal(new DataView(f.buffer).getUint32(0x20, true), 0x600d_b1d5);
    } finally {
      map.close();
    }
  } finally {
    await tree.remove();
  }
});

Deno.test("a larger UIO map is narrowed; a smaller one is refused", async () => {
  const big = await makeFakeUioTree(RV64_VIRT, (n, s) => n === "90100000.shm" ? s * 2 : s);
  try {
    const map = await mapProfileRegions(RV64_VIRT, {
      sysfsRoot: big.sysfsRoot,
      devRoot: big.devRoot,
    });
    const shm = map.byName("90100000.shm")!;
    assert.equal(shm.size, 0x8_0000);
    assert.throws(() => shm.u8(0x9018_0000), { code: "MEM_OUT_OF_BOUNDS" });
    map.close();
    assert.ok(shm.closed);
  } finally {
    await big.remove();
  }
  const small = await makeFakeUioTree(RV64_VIRT, (n, s) => n === "90200000.rproc" ? 0x1000 : s);
  try {
    await assert.rejects(
      mapProfileRegions(RV64_VIRT, { sysfsRoot: small.sysfsRoot, devRoot: small.devRoot }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError && e.code === "MAP_MISMATCH");
        assert.equal(
          e.message,
          "Region 90200000.rproc: the uio mapping covers [0x90200000, +0x1000), which does not contain the profile's [0x90200000, +0x7ff000)",
        );
        return true;
      },
    );
  } finally {
    await small.remove();
  }
});

Deno.test("a failure part-way releases the regions already mapped", async () => {
  const made: MemoryRegion[] = [];
  const p = heapProfile();
  await assert.rejects(
    mapProfileRegions(p, {
      mappers: {
        heap: (s) => {
          if (s.name === "90200000.rproc") throw new ConfigError("X" as ConfigErrorCode, "boom");
          const r = heapRegion(s.pa, s.size, { name: s.name });
          made.push(r);
          return r;
        },
      },
    }),
    { code: "X" },
  );
  assert.equal(made.length, 2);
  assert.ok(made.every((r) => r.closed));
});

Deno.test("sim regions are real shm objects another mapping sees", async () => {
  const prefix = `amp-map-test-${Deno.pid}`;
  const p = simProfile({ prefix });
  const map = await mapProfileRegions(p);
  try {
    map.get(0x9020_0000, 4).setU32(0x9020_0000, 0x1234_5678);
    const peer = mapShm(`${prefix}.image`, 0x1000, { base: 0x9020_0000, create: false });
    assert.equal(peer.u32(0x9020_0000), 0x1234_5678);
    peer.close();
  } finally {
    map.close();
    for (const s of ["notify", "shm", "image"]) removeShm(`${prefix}.${s}`);
  }
});
