/**
 * Read-only access to a running machine's memory for the diagnostic verbs
 * (`amp trace`, `amp vring dump`).
 *
 * @module
 */

import { AmpError, OsError } from "../errors.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import type { MachineProfile } from "../machine/types.ts";
import { mapForReading } from "../diag/live_map.ts";
import { remoteStartHint } from "../demos/run.ts";

/**
 * Map `profile` read-only. A missing backing file (the machine is not
 * running: nothing created its RAM file or shm objects) becomes `AmpError`
 * `MACHINE_NOT_RUNNING` with a hint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapLiveMachine } from "./_live.ts";
 * import { qemuRv64Profile } from "../machine/profiles/qemu_rv64.ts";
 * let code = "";
 * try {
 *   await mapLiveMachine(qemuRv64Profile({ name: "no-such-amp-machine" }));
 * } catch (e) {
 *   code = (e as { code?: string }).code ?? "";
 * }
 * assert(code === "MACHINE_NOT_RUNNING");
 * ```
 */
export async function mapLiveMachine(profile: MachineProfile): Promise<MemoryMap> {
  try {
    return await mapForReading(profile);
  } catch (e) {
    if (e instanceof OsError && e.errno === 2) {
      throw new AmpError(
        "MACHINE_NOT_RUNNING",
        `Machine "${profile.name}" is not running: ${e.message} (${remoteStartHint(profile)})`,
        { cause: e },
      );
    }
    throw e;
  }
}
