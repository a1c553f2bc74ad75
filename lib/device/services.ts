/**
 * The services `amp remote` can run, by short name, and the rule that names
 * their endpoints so that upstream OpenAMP's driver apps find them.
 *
 * Naming rule: `echo` announces "rpmsg-openamp-demo-channel" and `sample`
 * "rpmsg-client-sample" (as upstream's echo and sample apps). `matrix` run
 * alone announces "rpmsg-openamp-demo-channel", as upstream's
 * matrix_multiplyd does; next to `echo` the demo channel is taken, so it
 * announces "rpmsg-openamp-matrix", as amp's firmware does.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { MATRIX_SERVICE } from "../apps/matrix.ts";
import { ECHO_SERVICE } from "../apps/echo.ts";
import { SAMPLE_COUNT } from "../apps/sample.ts";
import { echoService, matrixService, sampleService, type Service } from "../apps/services.ts";

/** Short service names `amp remote` accepts. */
export const REMOTE_SERVICE_NAMES = ["echo", "sample", "matrix"] as const;

/** One short service name. */
export type RemoteServiceName = typeof REMOTE_SERVICE_NAMES[number];

/**
 * rpmsg-client-sample as upstream's sample echo app runs it: echo each
 * message and, after the 100th, destroy the endpoint (upstream's sample ping
 * waits for that DESTROY before it ends). The remote announces it again for
 * the next host session.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { finiteSampleService } from "./services.ts";
 * const s = finiteSampleService(2);
 * s.handle(new Uint8Array(1));
 * assert(!s.stopped);
 * s.handle(new Uint8Array(1));
 * assert(s.stopped);
 * s.reset();
 * assert(!s.stopped);
 * ```
 */
export function finiteSampleService(count: number = SAMPLE_COUNT): Service {
  const inner = sampleService();
  let seen = 0;
  return {
    name: inner.name,
    get stopped() {
      return seen >= count;
    },
    handle(msg) {
      if (seen >= count) return [];
      seen++;
      return inner.handle(msg);
    },
    reset() {
      seen = 0;
      inner.reset();
    },
  };
}

/**
 * Build the services for the short names given (each at most once), named by
 * the rule of this module.
 *
 * @throws {UsageError} for an unknown or repeated name, or none at all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remoteServices } from "./services.ts";
 * assert(remoteServices(["matrix"])[0]?.name === "rpmsg-openamp-demo-channel");
 * const both = remoteServices(["echo", "matrix"]).map((s) => s.name);
 * assert(both[1] === "rpmsg-openamp-matrix");
 * ```
 */
export function remoteServices(names: readonly string[]): Service[] {
  if (names.length === 0) {
    throw new UsageError(
      `Name at least one service to run (${REMOTE_SERVICE_NAMES.join(", ")})`,
    );
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (!(REMOTE_SERVICE_NAMES as readonly string[]).includes(n)) {
      throw new UsageError(
        `Unknown service "${n}": choose from ${REMOTE_SERVICE_NAMES.join(", ")}`,
      );
    }
    if (seen.has(n)) throw new UsageError(`Service "${n}" is named twice`);
    seen.add(n);
  }
  const matrixName = seen.has("echo") ? MATRIX_SERVICE : ECHO_SERVICE;
  return names.map((n) =>
    n === "echo"
      ? echoService()
      : n === "sample"
      ? finiteSampleService()
      : matrixService({ name: matrixName })
  );
}
