/**
 * Builds a fake sysfs + /dev tree of UIO devices in a temporary directory,
 * for tests of code that maps a profile's UIO regions without hardware.
 * Each device's "memory" is a sparse regular file standing in for `/dev/uioN`.
 *
 * @module
 */

import type { MachineProfile } from "./types.ts";

/** A fake tree. */
export interface FakeUioTree {
  /** Temporary root. */
  root: string;
  /** `<root>/sys`. */
  sysfsRoot: string;
  /** `<root>/dev`. */
  devRoot: string;
  /** Device name to `uioN`. */
  uio: Record<string, string>;
  /** Remove the tree. */
  remove(): Promise<void>;
}

/**
 * One UIO device per UIO-backed region of `profile`, each with a single map
 * at the region's address; `sizeOf` may change a map's size (default: the region's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeFakeUioTree } from "./_fake_uio.ts";
 * import { RV64_VIRT } from "./profiles/rv64_virt.ts";
 * const t = await makeFakeUioTree(RV64_VIRT);
 * assert(Object.keys(t.uio).length === 3);
 * await t.remove();
 * ```
 */
export async function makeFakeUioTree(
  profile: MachineProfile,
  sizeOf: (name: string, size: number) => number = (_n, s) => s,
): Promise<FakeUioTree> {
  const root = await Deno.makeTempDir({ prefix: "amp-fake-sys-" });
  const sysfsRoot = `${root}/sys`;
  const devRoot = `${root}/dev`;
  await Deno.mkdir(devRoot, { recursive: true });
  const uio: Record<string, string> = {};
  let n = 0;
  for (const r of profile.regions) {
    if (r.backing.kind !== "uio") continue;
    const u = `uio${n++}`;
    uio[r.backing.device] = u;
    const size = sizeOf(r.name, r.size);
    await Deno.mkdir(`${sysfsRoot}/bus/platform/devices/${r.backing.device}/uio/${u}`, {
      recursive: true,
    });
    const map = `${sysfsRoot}/class/uio/${u}/maps/map${r.backing.map}`;
    await Deno.mkdir(map, { recursive: true });
    await Deno.writeTextFile(`${sysfsRoot}/class/uio/${u}/name`, `${r.backing.device}\n`);
    await Deno.writeTextFile(`${map}/name`, `${r.backing.device}\n`);
    await Deno.writeTextFile(`${map}/addr`, `0x${r.pa.toString(16).padStart(16, "0")}\n`);
    await Deno.writeTextFile(`${map}/size`, `0x${size.toString(16).padStart(16, "0")}\n`);
    await Deno.writeTextFile(`${map}/offset`, "0x0\n");
    const f = await Deno.open(`${devRoot}/${u}`, { write: true, create: true });
    await f.truncate(size + r.backing.map * 0x1_0000);
    f.close();
  }
  return {
    root,
    sysfsRoot,
    devRoot,
    uio,
    remove: () => Deno.remove(root, { recursive: true }),
  };
}
