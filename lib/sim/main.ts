#!/usr/bin/env -S deno run --allow-all
/**
 * Process entry of the simulated remote (same as `amp __sim-remote`):
 *
 * ```sh
 * deno run --allow-all lib/sim/main.ts --profile-json "$(cat sim.json)" --rsc-addr 0x90200100
 * ```
 *
 * @module
 */

import { simRemoteMain } from "./process.ts";

if (import.meta.main) {
  Deno.exit(await simRemoteMain(Deno.args));
}
