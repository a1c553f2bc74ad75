/**
 * Symbol names from an ELF image's `.symtab`, for facts a firmware states
 * about itself: RT-Thread's shell exports each command as a symbol
 * `__fsym_<command>` ({@linkcode shellCommands}), which is how amp knows what
 * the remote's console offers. The image is untrusted: every offset and
 * length is checked against its section, and a malformed table yields no
 * names rather than an error (the symbols are optional facts).
 *
 * @module
 */

import type { ElfImage } from "./types.ts";

/** `sh_type` of a symbol table and of a string table. */
const SHT_SYMTAB = 2, SHT_STRTAB = 3;
/** Most symbols read from one table (firmware has thousands at most). */
const MAX_SYMBOLS = 1 << 20;
/** Longest symbol name read. */
const MAX_NAME = 256;

/**
 * Names of the image's symbols (`.symtab` sections) that start with `prefix`
 * (default: all), in table order, without duplicates. Stripped images give [].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { symbolNames } from "./symbols.ts";
 * import { parseElf } from "./reader.ts";
 * const img = parseElf(await Deno.readFile(new URL("../../examples/seed-layout.elf", import.meta.url)));
 * assert(Array.isArray(symbolNames(img, "__fsym_")));
 * ```
 */
export function symbolNames(img: ElfImage, prefix = ""): string[] {
  const out = new Set<string>();
  const bytes = img.bytes;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entSize = img.class === 64 ? 24 : 16;
  const want = new TextEncoder().encode(prefix);
  const dec = new TextDecoder("utf-8", { fatal: false });
  for (const sec of img.sections) {
    if (sec.type !== SHT_SYMTAB) continue;
    const str = img.sections[sec.link];
    if (!str || str.type !== SHT_STRTAB || sec.link === sec.index) continue;
    // parseElf checked that every section's data lies inside the file.
    const count = Math.min(Math.floor(sec.size / entSize), MAX_SYMBOLS);
    const strEnd = str.offset + str.size;
    for (let i = 1; i < count; i++) {
      const nameOff = dv.getUint32(sec.offset + i * entSize, true);
      if (nameOff >= str.size) continue;
      const start = str.offset + nameOff;
      if (!matches(bytes, start, strEnd, want)) continue;
      const limit = Math.min(strEnd, start + MAX_NAME);
      let end = start;
      while (end < limit && bytes[end] !== 0) end++;
      if (end === limit) continue; // no NUL within bounds: unterminated or too long
      out.add(dec.decode(bytes.subarray(start, end)));
    }
  }
  return [...out];
}

function matches(bytes: Uint8Array, at: number, end: number, want: Uint8Array): boolean {
  if (want.length > end - at) return false;
  for (let k = 0; k < want.length; k++) if (bytes[at + k] !== want[k]) return false;
  return true;
}

/**
 * The shell commands an RT-Thread style firmware exports, sorted. RT-Thread
 * names each exported function `__fsym_<name>` (with companion string symbols
 * `__fsym_<name>_name` and `__fsym_<name>_desc`), and msh commands
 * `__fsym___cmd_<command>`: when msh commands exist only they are listed
 * (msh runs nothing else), otherwise every exported name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shellCommands } from "./symbols.ts";
 * import { parseElf } from "./reader.ts";
 * const img = parseElf(await Deno.readFile(new URL("../../examples/seed-layout.elf", import.meta.url)));
 * assert.deepEqual(shellCommands(img), []); // a layout-only example: no shell
 * ```
 */
export function shellCommands(img: ElfImage): string[] {
  return commandsFromSymbols(symbolNames(img, "__fsym_").map((n) => n.slice("__fsym_".length)));
}

/**
 * The shell commands named by `__fsym_` symbol suffixes (see
 * {@linkcode shellCommands}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandsFromSymbols } from "./symbols.ts";
 * assert.deepEqual(
 *   commandsFromSymbols(["ps", "ps_name", "ps_desc", "__cmd_ps", "__cmd_ps_name", "hello"]),
 *   ["ps"],
 * );
 * assert.deepEqual(commandsFromSymbols(["hello", "hello_desc", "list_name"]), ["hello", "list_name"]);
 * ```
 */
export function commandsFromSymbols(suffixes: readonly string[]): string[] {
  const all = new Set(suffixes.filter((n) => /^[A-Za-z0-9_]{1,63}$/.test(n)));
  const companion = (n: string) => {
    const m = /^(.+)_(name|desc)$/.exec(n);
    return m !== null && all.has(m[1]!);
  };
  const names = [...all].filter((n) => !companion(n));
  const msh = names.filter((n) => n.startsWith("__cmd_")).map((n) => n.slice("__cmd_".length));
  return [...new Set(msh.length > 0 ? msh : names.filter((n) => !n.startsWith("__")))].sort();
}
