/**
 * The SBI agent (examples/firmware/rv64-virt/agent.S): an S-mode payload that
 * QEMU's OpenSBI (`-bios default -kernel agent.bin`) enters at
 * {@linkcode AGENT_LOAD_ADDR}. Hart 0 runs it (a hart that wins OpenSBI's boot
 * lottery instead starts hart 0 and stops itself); every other hart waits in
 * SBI HSM STOPPED. The host talks to it through a mailbox in guest RAM at
 * {@linkcode AGENT_MAILBOX}, outside the image (QEMU re-copies the image at
 * every reset; the mailbox survives):
 *
 * | offset | field | written by |
 * | --- | --- | --- |
 * | +0x00 | u32 magic {@linkcode AGENT_MAGIC} ("AGNT") once the agent loop runs | agent (host clears it before a reset) |
 * | +0x04 | u32 hart running the agent | agent |
 * | +0x08 | u32 boots: +1 at every agent start | agent |
 * | +0x0C | u32 hart OpenSBI entered first | agent |
 * | +0x10 | u32 SBI spec version (major << 24 \| minor) | agent |
 * | +0x14 | u32 SBI implementation id | agent |
 * | +0x18 | u32 SBI implementation version | agent |
 * | +0x1C | u32 1 if the HSM extension is present | agent |
 * | +0x40 | u32 req_seq: +1 per request, written last | host |
 * | +0x44 | u32 op ({@linkcode AGENT_OP_HART_START}) | host |
 * | +0x48 | u32 hart | host |
 * | +0x50 | u64 entry | host |
 * | +0x58 | u64 opaque (the started hart's `a1`) | host |
 * | +0x60 | u64 load_start | host |
 * | +0x68 | u64 load_len | host |
 * | +0x80 | u32 ack_seq = req_seq once handled | agent |
 * | +0x84 | i32 SBI error of the request (0 ok) | agent |
 * | +0x100 + 16h | hart h (0..7): u32 HSM state (0xFFFFFFFF: the call failed), i32 SBI error, u32 refresh count, u32 reserved | agent, every loop |
 *
 * Before `hart_start` the agent re-writes every 8-byte word of
 * `[load_start, +load_len)` from inside the guest and executes `fence.i`, so
 * QEMU drops code it translated from an earlier image at those addresses.
 *
 * @module
 */

import { AGENT_IMAGE_BASE64 } from "./_agent_image.ts";
import type { MemoryRegion } from "../mem/region.ts";

/** Where QEMU loads the raw agent image and OpenSBI enters it. */
export const AGENT_LOAD_ADDR = 0x8020_0000;
/** Guest physical address of the agent's mailbox. */
export const AGENT_MAILBOX = 0x8040_0000;
/** Bytes reserved for the mailbox (the host keeps its data above). */
export const AGENT_MAILBOX_SIZE = 0x1000;
/** `magic` once the agent is ready ("AGNT"). */
export const AGENT_MAGIC = 0x544e_4741;
/** Upper half of `a1` when a lottery winner hands the agent over to hart 0. */
export const AGENT_HANDOVER_TAG = 0x4147_4e54;
/** Harts the status table covers. */
export const AGENT_STATUS_HARTS = 8;
/** Request op: SBI HSM `hart_start(hart, entry, opaque)`. */
export const AGENT_OP_HART_START = 1;
/** Mailbox field offsets. */
export const AG_MAGIC = 0x00,
  AG_AGENT_HART = 0x04,
  AG_BOOTS = 0x08,
  AG_FIRST_HART = 0x0c,
  AG_SPEC_VERSION = 0x10,
  AG_IMPL_ID = 0x14,
  AG_IMPL_VERSION = 0x18,
  AG_HAS_HSM = 0x1c,
  AG_REQ_SEQ = 0x40,
  AG_OP = 0x44,
  AG_HART = 0x48,
  AG_ENTRY = 0x50,
  AG_OPAQUE = 0x58,
  AG_LOAD_START = 0x60,
  AG_LOAD_LEN = 0x68,
  AG_ACK_SEQ = 0x80,
  AG_ERROR = 0x84,
  AG_STATUS = 0x100;
/** Bytes per status table entry, and the offsets inside one. */
export const AG_STATUS_SIZE = 16,
  AGS_STATE = 0,
  AGS_ERROR = 4,
  AGS_REFRESH = 8;

/** SBI HSM hart states (`hart_get_status`). */
export const HSM_STARTED = 0,
  HSM_STOPPED = 1,
  HSM_START_PENDING = 2,
  HSM_STOP_PENDING = 3,
  HSM_SUSPENDED = 4,
  HSM_SUSPEND_PENDING = 5,
  HSM_RESUME_PENDING = 6;
/** Status table state when `hart_get_status` failed (e.g. no such hart). */
export const HSM_STATE_FAILED = 0xffff_ffff;

const HSM_NAMES = [
  "STARTED",
  "STOPPED",
  "START_PENDING",
  "STOP_PENDING",
  "SUSPENDED",
  "SUSPEND_PENDING",
  "RESUME_PENDING",
];

/**
 * The SBI name of an HSM state value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hsmStateName } from "./agent.ts";
 * assert(hsmStateName(1) === "STOPPED");
 * assert(hsmStateName(0xffff_ffff) === "UNKNOWN(0xffffffff)");
 * ```
 */
export function hsmStateName(state: number): string {
  return HSM_NAMES[state] ?? `UNKNOWN(0x${(state >>> 0).toString(16)})`;
}

const SBI_ERRORS: Record<number, string> = {
  0: "SBI_SUCCESS",
  [-1]: "SBI_ERR_FAILED",
  [-2]: "SBI_ERR_NOT_SUPPORTED",
  [-3]: "SBI_ERR_INVALID_PARAM",
  [-4]: "SBI_ERR_DENIED",
  [-5]: "SBI_ERR_INVALID_ADDRESS",
  [-6]: "SBI_ERR_ALREADY_AVAILABLE",
  [-7]: "SBI_ERR_ALREADY_STARTED",
  [-8]: "SBI_ERR_ALREADY_STOPPED",
  [-9]: "SBI_ERR_NO_SHMEM",
};

/**
 * The SBI name of an error code (a signed 32-bit value or its unsigned twin).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sbiErrorName } from "./agent.ts";
 * assert(sbiErrorName(-6) === "SBI_ERR_ALREADY_AVAILABLE");
 * assert(sbiErrorName(0xffff_fffb) === "SBI_ERR_INVALID_ADDRESS");
 * assert(sbiErrorName(-42) === "SBI error -42");
 * ```
 */
export function sbiErrorName(error: number): string {
  const e = error | 0;
  return SBI_ERRORS[e] ?? `SBI error ${e}`;
}

const SBI_IMPLS = ["BBL", "OpenSBI", "Xvisor", "KVM", "RustSBI", "Diosix", "Coffer"];

/** What the agent reports about itself and the SBI it runs on. */
export interface AgentInfo {
  /** The magic is there: the agent loop runs. */
  ready: boolean;
  /** The hart that runs the agent (0 unless hart 0 could not be started). */
  agentHart: number;
  /** Agent starts since the mailbox was cleared (one per boot or reset). */
  boots: number;
  /** The hart OpenSBI entered first (its boot lottery winner). */
  firstHart: number;
  /** SBI specification version, e.g. `"1.0"`. */
  specVersion: string;
  /** SBI implementation id, e.g. 1 (OpenSBI). */
  implId: number;
  /** The implementation's name, e.g. `"OpenSBI"`. */
  implName: string;
  /** SBI implementation version as reported (OpenSBI: major << 16 | minor). */
  implVersion: number;
  /** The HSM extension is present. */
  hsm: boolean;
}

/**
 * Read the agent's self-description from guest RAM.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapRegion } from "../mem/region.ts";
 * import { AGENT_MAGIC, AGENT_MAILBOX, readAgentInfo } from "./agent.ts";
 * const ram = heapRegion(AGENT_MAILBOX, 0x1000);
 * ram.setU32(AGENT_MAILBOX, AGENT_MAGIC);
 * ram.setU32(AGENT_MAILBOX + 0x10, 0x0100_0000);
 * ram.setU32(AGENT_MAILBOX + 0x14, 1);
 * const i = readAgentInfo(ram);
 * assert(i.ready && i.specVersion === "1.0" && i.implName === "OpenSBI");
 * ```
 */
export function readAgentInfo(ram: MemoryRegion): AgentInfo {
  const u32 = (o: number) => ram.atomicLoadU32(AGENT_MAILBOX + o);
  const spec = u32(AG_SPEC_VERSION);
  const implId = u32(AG_IMPL_ID);
  return {
    ready: u32(AG_MAGIC) === AGENT_MAGIC,
    agentHart: u32(AG_AGENT_HART),
    boots: u32(AG_BOOTS),
    firstHart: u32(AG_FIRST_HART),
    specVersion: `${(spec >>> 24) & 0x7f}.${spec & 0xff_ffff}`,
    implId,
    implName: SBI_IMPLS[implId] ?? `implementation ${implId}`,
    implVersion: u32(AG_IMPL_VERSION),
    hsm: u32(AG_HAS_HSM) !== 0,
  };
}

/**
 * The address of hart `hart`'s entry in the agent's status table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { agentStatusAddress } from "./agent.ts";
 * assert(agentStatusAddress(1) === 0x8040_0110);
 * ```
 */
export function agentStatusAddress(hart: number): number {
  return AGENT_MAILBOX + AG_STATUS + hart * AG_STATUS_SIZE;
}

/**
 * The agent binary (a fresh copy), for QEMU's `-kernel`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { agentImage } from "./agent.ts";
 * const img = agentImage();
 * assert(img.length > 0 && img.length % 2 === 0);
 * ```
 */
export function agentImage(): Uint8Array {
  const bin = atob(AGENT_IMAGE_BASE64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
