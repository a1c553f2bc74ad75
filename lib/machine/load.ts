/**
 * Loading machine profiles: the built-ins by name, or a JSON file by path
 * (bounded: a regular file of at most 1 MiB), always validated.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { readJsonFile } from "../util/files.ts";
import { BUILTIN_PROFILES } from "./profiles/mod.ts";
import type { MachineProfile } from "./types.ts";
import { validateProfile } from "./validate.ts";

/** Largest profile file {@linkcode loadProfile} reads. */
export const MAX_PROFILE_BYTES = 1 << 20;

/**
 * Names of the built-in profiles.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { builtinProfileNames } from "./load.ts";
 * assert(builtinProfileNames().includes("sim"));
 * ```
 */
export function builtinProfileNames(): string[] {
  return Object.keys(BUILTIN_PROFILES);
}

/**
 * Load a machine profile: a built-in by name (`rv64-virt`, `sim`,
 * `openamp-linux`) or a JSON file by path. The result is validated and is a
 * fresh copy the caller may modify. Fails with `ConfigError`:
 * `PROFILE_NOT_FOUND`, `PROFILE_READ`, `PROFILE_JSON` or a validation code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadProfile } from "./load.ts";
 * const p = await loadProfile("openamp-linux");
 * assert(p.regions[0]?.backing.kind === "shm");
 * ```
 */
export async function loadProfile(nameOrPath: string): Promise<MachineProfile> {
  const builtin = Object.hasOwn(BUILTIN_PROFILES, nameOrPath)
    ? BUILTIN_PROFILES[nameOrPath]
    : undefined;
  if (builtin) return validateProfile(structuredClone(builtin), `built-in profile "${nameOrPath}"`);
  const looksLikePath = nameOrPath.includes("/") || nameOrPath.endsWith(".json");
  try {
    await Deno.lstat(nameOrPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ConfigError(
        "PROFILE_NOT_FOUND",
        looksLikePath
          ? `Machine profile file ${nameOrPath} does not exist`
          : `Unknown machine "${nameOrPath}": not a built-in (${
            builtinProfileNames().join(", ")
          }) and no such file`,
        { cause: e },
      );
    }
  }
  const json = await readJsonFile(nameOrPath, {
    maxBytes: MAX_PROFILE_BYTES,
    what: "machine profile",
    code: "PROFILE_READ",
    parseCode: "PROFILE_JSON",
  });
  return validateProfile(json, nameOrPath);
}
