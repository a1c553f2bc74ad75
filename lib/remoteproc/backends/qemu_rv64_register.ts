/**
 * Registration of the `qemu-rv64` backend in the backend registry, kept apart
 * from the backend itself so `backends/mod.ts` may import the backend without
 * an import cycle.
 *
 * @module
 */

import { registerBackend } from "./mod.ts";
import { QemuRv64Backend, type QemuRv64BackendOptions } from "./qemu_rv64.ts";

/**
 * Register {@linkcode QemuRv64Backend} as the backend of control kind
 * `qemu-rv64` (so `Remoteproc.open(profile)` creates it). Idempotent.
 * `options` apply to every backend the factory creates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerQemuRv64Backend } from "./qemu_rv64_register.ts";
 * import { createBackend } from "./mod.ts";
 * import { qemuRv64Profile } from "../../machine/profiles/qemu_rv64.ts";
 * registerQemuRv64Backend();
 * const b = createBackend(qemuRv64Profile({ name: "doc-reg" }));
 * assert(b.kind === "qemu-rv64");
 * await b.close();
 * ```
 */
export function registerQemuRv64Backend(options: QemuRv64BackendOptions = {}): void {
  registerBackend("qemu-rv64", (p) => new QemuRv64Backend(p, options));
}
