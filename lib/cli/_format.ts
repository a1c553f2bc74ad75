/**
 * Text helpers for CLI output: aligned tables (the names of ELF and virtio
 * numbers are in `lib/diag/names.ts`).
 *
 * @module
 */

import { hex } from "../mem/region.ts";

export { hex };

/**
 * Rows of cells as text lines with columns padded to equal width. Columns
 * whose header is listed in `right` are right-aligned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "./_format.ts";
 * const lines = table(["idx", "name"], [["0", "text"], ["10", "data"]], ["idx"]);
 * assert(lines[0] === "idx  name" && lines[2] === " 10  data");
 * ```
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: readonly string[] = [],
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => {
      const w = widths[i] ?? 0;
      if (i === cells.length - 1 && !right.includes(header[i] ?? "")) return c;
      return right.includes(header[i] ?? "") ? c.padStart(w) : c.padEnd(w);
    }).join("  ");
  return [line(header), ...rows.map(line)];
}
