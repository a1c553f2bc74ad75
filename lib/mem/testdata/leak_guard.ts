/**
 * Child process for mmap_test.ts: maps a file, drops the region without
 * closing it, forces garbage collection, and prints how many mappings of the
 * file exist before and after as JSON `{"before":N,"after":M}`.
 *
 * Usage: deno run --allow-all --v8-flags=--expose-gc leak_guard.ts <path>
 *
 * @module
 */

import { mapFile } from "../mmap.ts";

if (import.meta.main) {
  const path = Deno.args[0];
  const gc = (globalThis as { gc?: () => void }).gc;
  if (path === undefined || gc === undefined) Deno.exit(2);
  const count = () => Deno.readTextFileSync("/proc/self/maps").split(path).length - 1;
  (() => {
    const r = mapFile(path, { base: 0, size: 4096 });
    r.setU8(0, 1);
  })();
  const before = count();
  for (let i = 0; i < 20 && count() > 0; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  console.log(JSON.stringify({ before, after: count() }));
}
