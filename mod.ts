/**
 * amp: drive asymmetric multiprocessing (OpenAMP) systems from Linux.
 *
 * The library behind the `amp` CLI: waits on shared memory under a deadline,
 * a bounded memory layer (heap, mmap of files, /dev/shm, /dev/mem and UIO), a
 * hardened ELF loader, resource tables, remoteproc lifecycle with machine profiles and backends, split virtqueues,
 * rpmsg in both roles with name service and zero-copy, notifiers, and the
 * seed's demo applications.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildElf, parseElf } from "./mod.ts";
 * const img = parseElf(buildElf({ class: 64, entry: 0x9020_0000, segments: [
 *   { paddr: 0x9020_0000, data: new Uint8Array(16) },
 * ] }));
 * assert(img.entry === 0x9020_0000);
 * ```
 *
 * @module
 */

export * from "./lib/errors.ts";
export * from "./lib/util/mod.ts";
export * from "./lib/mem/mod.ts";
export * from "./lib/elf/mod.ts";
export * from "./lib/rsc/mod.ts";
export * from "./lib/virtio/mod.ts";
export * from "./lib/notify/mod.ts";
export * from "./lib/rpmsg/mod.ts";
export * from "./lib/remoteproc/mod.ts";
export * from "./lib/machine/mod.ts";
export * from "./lib/apps/mod.ts";
export * from "./lib/link/mod.ts";
export * from "./lib/host/mod.ts";
export * from "./lib/device/mod.ts";
export * from "./lib/prime/mod.ts";
export * from "./lib/runtime/mod.ts";
export * from "./lib/demos/mod.ts";
export * from "./lib/qemu/mod.ts";
export * from "./lib/sim/mod.ts";
export * from "./lib/kernel/mod.ts";
export * from "./lib/vhost/mod.ts";
