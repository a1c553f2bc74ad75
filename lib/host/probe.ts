/**
 * What the remote is doing, seen from shared memory alone: is an application
 * waiting for a host (a fresh copy of its resource table with the vdev status
 * at 0), is a session live, or is nothing there? The host decides from this
 * whether to start its handshake, reset a running session first, or have an
 * application started on the remote's console.
 *
 * The plain OpenAMP protocol is enough: a remote application copies its
 * resource table to the profile's address and waits for DRIVER_OK. amp's own
 * remotes also publish a readiness word ({@linkcode ReadyWord}); when its
 * magic is there the host uses it, never needing it.
 *
 * @module
 */

import { ResourceTableError } from "../errors.ts";
import { READY_IDLE, READY_STATE_NAMES, READY_WAITING, ReadyWord } from "../link/ready_word.ts";
import type { MachineProfile } from "../machine/types.ts";
import type { MemoryMap } from "../mem/memory_map.ts";
import { hex } from "../mem/region.ts";
import { VIRTIO_ID_RPMSG, VIRTIO_STATUS_DRIVER_OK } from "../rsc/layout.ts";
import { parseResourceTable, resourceTableExtent } from "../rsc/table.ts";
import type { ResourceTable } from "../rsc/types.ts";

/** What {@linkcode probeRemote} found. */
export interface RemoteProbe {
  /**
   * `waiting`: an application waits for a host (handshake now);
   * `active`: a session is live or was left running (reset it first);
   * `idle`: no application waits (start one on the console, or fail);
   * `unknown`: a table is there but nothing says whether anyone waits on it
   * (a remote whose table has fixed vring addresses and no readiness word).
   */
  state: "waiting" | "active" | "idle" | "unknown";
  /** One line saying why, for messages. */
  reason: string;
  /** The readiness word's state when an amp remote publishes one. */
  ready?: number;
  /** The table bytes (its extent) when a valid table is there. */
  bytes?: Uint8Array;
  /** The parsed table when valid. */
  table?: ResourceTable;
  /** Offset of the rpmsg vdev in the table, when there is one. */
  vdevOffset?: number;
}

/** Options of {@linkcode probeRemote}. */
export interface ProbeOptions {
  /**
   * The firmware's own table (its `.resource_table` bytes): a copy whose
   * rpmsg vdev has the firmware's `gfeatures` (what a host rewrites with the
   * features it accepts) is a fresh one. Without it, a copy is fresh when its
   * `gfeatures` is 0.
   */
  firmwareTable?: Uint8Array;
}

/** The field of a firmware's rpmsg vdev a host rewrites: what tells a fresh copy from a host's. */
interface HostWritten {
  gfeatures: number;
}

function hostWrittenOf(table: ResourceTable): HostWritten | undefined {
  const v = table.entries.find((e) => e.kind === "vdev" && e.id === VIRTIO_ID_RPMSG);
  return v && v.kind === "vdev" ? { gfeatures: v.gfeatures } : undefined;
}

function firmwareFacts(bytes: Uint8Array | undefined): HostWritten | undefined {
  if (bytes === undefined) return undefined;
  try {
    return hostWrittenOf(parseResourceTable(bytes, { name: "the firmware's resource table" }));
  } catch {
    return undefined;
  }
}

/** Parse the table at the layout address, bounded by the layout size; undefined when invalid. */
function readTable(
  profile: MachineProfile,
  memory: MemoryMap,
): { bytes: Uint8Array; table: ResourceTable } | { error: ResourceTableError } {
  const { pa, size } = profile.layout.rscTable;
  const region = memory.get(pa, size);
  const raw = region.read(pa, size);
  try {
    const name = `the resource table at ${hex(pa)}`;
    const t = parseResourceTable(raw, { name });
    const bytes = raw.slice(0, resourceTableExtent(t));
    return { bytes, table: parseResourceTable(bytes, { name }) };
  } catch (e) {
    if (e instanceof ResourceTableError) return { error: e };
    throw e;
  }
}

/**
 * Look at the remote through shared memory (nothing is written).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { probeRemote } from "./probe.ts";
 * import { MemoryMap } from "../mem/memory_map.ts";
 * import { heapRegion } from "../mem/region.ts";
 * import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
 * import { seedResourceTable } from "../../examples/make_seed_elf.ts";
 * const map = new MemoryMap(RV64_VIRT.regions.map((r) => heapRegion(r.pa, r.size, { name: r.name })));
 * assert((probeRemote(RV64_VIRT, map)).state === "idle"); // zeros: no table
 * map.get(0x9010_0000).write(0x9010_0000, seedResourceTable()); // what the seed copies at app start
 * assert((probeRemote(RV64_VIRT, map)).state === "waiting");
 * map.close();
 * ```
 */
export function probeRemote(
  profile: MachineProfile,
  memory: MemoryMap,
  options: ProbeOptions = {},
): RemoteProbe {
  const at = hex(profile.layout.rscTable.pa);
  const word = ReadyWord.find(memory, profile.demos?.readyWord);
  const ready = word?.read();
  const t = readTable(profile, memory);
  if ("error" in t) {
    if (ready !== undefined && ready !== READY_IDLE) {
      return { state: "active", ready, reason: `amp's readiness word says ${stateName(ready)}` };
    }
    return {
      state: "idle",
      ...(ready !== undefined ? { ready } : {}),
      reason: `no valid resource table at ${at} (${t.error.message})`,
    };
  }
  const vdev = t.table.entries.find((e) => e.kind === "vdev" && e.id === VIRTIO_ID_RPMSG);
  const base = {
    bytes: t.bytes,
    table: t.table,
    ...(ready !== undefined ? { ready } : {}),
    ...(vdev ? { vdevOffset: vdev.offset } : {}),
  };
  if (ready !== undefined) {
    const state = ready === READY_WAITING ? "waiting" : ready === READY_IDLE ? "idle" : "active";
    return { ...base, state, reason: `amp's readiness word says ${stateName(ready)}` };
  }
  if (!vdev || vdev.kind !== "vdev") {
    return { ...base, state: "unknown", reason: `the table at ${at} has no rpmsg vdev` };
  }
  if ((vdev.status & VIRTIO_STATUS_DRIVER_OK) !== 0) {
    return { ...base, state: "active", reason: `the vdev status at ${at} has DRIVER_OK` };
  }
  // A remote application copies its own table and waits; a host's copy has
  // the features it accepted in gfeatures. (The vring addresses do not tell:
  // amp writes the processed table into the image too, as Linux does, so a
  // firmware copies the host's addresses along with its table.)
  const fw = firmwareFacts(options.firmwareTable);
  const fresh = vdev.gfeatures === (fw?.gfeatures ?? 0);
  if (fresh) {
    return {
      ...base,
      state: "waiting",
      reason: `a fresh copy of the firmware's table is at ${at}`,
    };
  }
  return fw
    ? {
      ...base,
      state: "idle",
      reason: `the table at ${at} is a host's copy (no application waits)`,
    }
    : { ...base, state: "unknown", reason: `the table at ${at} was written by a host` };
}

function stateName(s: number): string {
  return READY_STATE_NAMES[s] ?? `state ${s}`;
}
