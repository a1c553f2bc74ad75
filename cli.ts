#!/usr/bin/env -S deno run --allow-all --v8-flags=--single-threaded,--max-opt=2
/**
 * The `amp` command. Run `amp --help` for the verbs.
 *
 * ```sh
 * deno run --allow-all cli.ts inspect examples/seed-layout.elf
 * ```
 *
 * @module
 */

import { main } from "./lib/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
