/**
 * Hart control of a running QEMU `virt` machine, through guest RAM only: a
 * hart's status (the SBI agent's status table, or the boot stub's per-hart
 * mailbox), starting a hart (an SBI HSM `hart_start` request to the agent, or
 * the stub's `go` word) and waiting until every hart waits for starts again.
 *
 * Every function takes `alive(what)`, which throws `QEMU_EXITED` once QEMU's
 * process is gone, so no wait outlives the machine.
 *
 * @module
 */

import { AmpError, MemoryBoundsError, TimeoutError } from "../errors.ts";
import { hex, type MemoryRegion } from "../mem/region.ts";
import { waitUntil } from "../util/wait.ts";
import {
  AG_ACK_SEQ,
  AG_BOOTS,
  AG_ENTRY,
  AG_ERROR,
  AG_HART,
  AG_LOAD_LEN,
  AG_LOAD_START,
  AG_MAGIC,
  AG_OP,
  AG_OPAQUE,
  AG_REQ_SEQ,
  AGENT_MAGIC,
  AGENT_MAILBOX,
  AGENT_OP_HART_START,
  agentStatusAddress,
  AGS_ERROR,
  AGS_REFRESH,
  AGS_STATE,
  HSM_RESUME_PENDING,
  HSM_START_PENDING,
  HSM_STARTED,
  HSM_STOP_PENDING,
  HSM_STOPPED,
  HSM_SUSPEND_PENDING,
  HSM_SUSPENDED,
  hsmStateName,
  readAgentInfo,
  sbiErrorName,
} from "./agent.ts";
import {
  GO_MAGIC,
  mailboxAddress,
  MB_ARG,
  MB_BOOTS,
  MB_ENTRY,
  MB_GO,
  MB_LOAD_LEN,
  MB_LOAD_START,
  MB_STATE,
  STATE_PARKED,
  STATE_RUNNING,
} from "./boot_stub.ts";
import type { HartState, HartStatus, LoadRange, QemuBootMode } from "./types.ts";

/** Throws `QEMU_EXITED` (naming `what` was going on) once QEMU's process has exited. */
export type AliveCheck = (what: string) => void;

/** The guest RAM, boot mode and hart count every function here works on. */
export interface HartMachine {
  /** Guest RAM (mapped from the RAM file). */
  ram: MemoryRegion;
  /** How QEMU booted. */
  boot: QemuBootMode;
  /** Harts. */
  smp: number;
}

const HSM_TO_STATE: Record<number, HartState> = {
  [HSM_STARTED]: "running",
  [HSM_STOPPED]: "stopped",
  [HSM_START_PENDING]: "starting",
  [HSM_STOP_PENDING]: "stopping",
  [HSM_SUSPENDED]: "suspended",
  [HSM_SUSPEND_PENDING]: "suspended",
  [HSM_RESUME_PENDING]: "starting",
};

/** The state of hart `hart` (checked by the caller): the agent's status table (sbi) or its stub mailbox (direct). */
export function readHartStatus(m: HartMachine, hart: number): HartStatus {
  const ram = m.ram;
  if (m.boot === "direct") {
    const mb = mailboxAddress(hart);
    const st = ram.atomicLoadU32(mb + MB_STATE);
    return {
      hart,
      state: st === STATE_PARKED ? "parked" : st === STATE_RUNNING ? "running" : "unknown",
      boots: ram.atomicLoadU32(mb + MB_BOOTS),
    };
  }
  const e = agentStatusAddress(hart);
  const hsm = ram.atomicLoadU32(e + AGS_STATE);
  const ready = ram.atomicLoadU32(AGENT_MAILBOX + AG_MAGIC) === AGENT_MAGIC;
  return {
    hart,
    state: ready ? HSM_TO_STATE[hsm] ?? "unknown" : "unknown",
    boots: ram.atomicLoadU32(AGENT_MAILBOX + AG_BOOTS),
    hsm: {
      state: hsm,
      name: hsmStateName(hsm),
      error: ram.atomicLoadU32(e + AGS_ERROR) | 0,
      refreshes: ram.atomicLoadU32(e + AGS_REFRESH),
    },
  };
}

/**
 * Check a start request against usable RAM `[lo, hi)`: `QEMU_BAD_ENTRY` for an
 * entry outside it or odd, `QEMU_BAD_LOAD_RANGE` for a load range leaving it.
 */
export function checkStart(
  hart: number,
  entry: number,
  load: LoadRange,
  lo: number,
  hi: number,
): void {
  if (!Number.isSafeInteger(entry) || entry < lo || entry >= hi || entry % 2 !== 0) {
    throw new MemoryBoundsError(
      "QEMU_BAD_ENTRY",
      `Cannot start hart ${hart} at ${hex(entry)}: not a 2-byte aligned address in [${hex(lo)}, ${
        hex(hi)
      })`,
    );
  }
  const { start, len } = load;
  if (
    !Number.isSafeInteger(start) || !Number.isSafeInteger(len) || len < 0 ||
    (len > 0 && (start < lo || start > hi || len > hi - start))
  ) {
    throw new MemoryBoundsError(
      "QEMU_BAD_LOAD_RANGE",
      `Cannot start hart ${hart}: load range [${hex(start)}, +${hex(len)}) is not inside [${
        hex(lo)
      }, ${hex(hi)})`,
    );
  }
}

/**
 * Boot `"direct"`: release a parked hart through its stub mailbox and wait
 * until the stub reports that it jumped.
 */
export async function startParkedHart(
  m: HartMachine,
  hart: number,
  entry: number,
  load: LoadRange,
  arg: bigint,
  timeoutMs: number,
  alive: AliveCheck,
): Promise<void> {
  const status = readHartStatus(m, hart);
  if (status.state !== "parked") {
    throw new AmpError(
      "QEMU_HART_BUSY",
      `Cannot start hart ${hart}: it is ${status.state}, not parked in the boot stub (stop() first)`,
    );
  }
  const mb = mailboxAddress(hart);
  const ram = m.ram;
  ram.setU64(mb + MB_ENTRY, BigInt(entry));
  ram.setU64(mb + MB_ARG, BigInt.asUintN(64, arg));
  ram.setU64(mb + MB_LOAD_START, BigInt(load.start));
  ram.setU64(mb + MB_LOAD_LEN, BigInt(load.len));
  ram.atomicStoreU32(mb + MB_GO, GO_MAGIC); // last: releases the hart
  // The stub looks at `go` at least every 1 ms: a short synchronous spin usually
  // sees the answer without paying for timer round trips (several ms when busy).
  const ok = await waitUntil(() => {
    if (ram.atomicLoadU32(mb + MB_STATE) === STATE_RUNNING) return true;
    alive(`starting hart ${hart}`);
    return false;
  }, { deadlineMs: timeoutMs, spinUs: 2000, yieldUs: 0 });
  if (!ok) {
    ram.atomicStoreU32(mb + MB_GO, 0);
    throw new TimeoutError(`waiting for hart ${hart} to leave the boot stub`, timeoutMs);
  }
}

/**
 * Boot `"sbi"`: ask the agent for SBI HSM `hart_start(hart, entry, arg)` after
 * it re-wrote `load`, and wait until the hart reads STARTED.
 */
export async function startSbiHart(
  m: HartMachine,
  hart: number,
  entry: number,
  load: LoadRange,
  arg: bigint,
  timeoutMs: number,
  alive: AliveCheck,
): Promise<void> {
  const ram = m.ram;
  const mb = AGENT_MAILBOX;
  const info = readAgentInfo(ram);
  if (!info.ready) {
    throw new AmpError(
      "QEMU_AGENT_DOWN",
      `Cannot start hart ${hart}: the SBI agent is not running (no magic at ${
        hex(mb)
      }; is the machine being reset?)`,
    );
  }
  if (hart === info.agentHart) {
    throw new AmpError(
      "QEMU_HART_BUSY",
      `Cannot start hart ${hart}: it runs the SBI agent (start another hart)`,
    );
  }
  const status = readHartStatus(m, hart);
  if (status.state !== "stopped") {
    throw new AmpError(
      "QEMU_HART_BUSY",
      `Cannot start hart ${hart}: it is ${status.state} (SBI HSM ${
        status.hsm?.name ?? "?"
      }), not stopped (stop() first)`,
    );
  }
  const call = `SBI HSM hart_start(${hart}, ${hex(entry)}, 0x${
    BigInt.asUintN(64, arg).toString(16)
  })`;
  const seq = (ram.atomicLoadU32(mb + AG_REQ_SEQ) + 1) >>> 0;
  ram.setU32(mb + AG_OP, AGENT_OP_HART_START);
  ram.setU32(mb + AG_HART, hart);
  ram.setU64(mb + AG_ENTRY, BigInt(entry));
  ram.setU64(mb + AG_OPAQUE, BigInt.asUintN(64, arg));
  ram.setU64(mb + AG_LOAD_START, BigInt(load.start));
  ram.setU64(mb + AG_LOAD_LEN, BigInt(load.len));
  ram.atomicStoreU32(mb + AG_REQ_SEQ, seq); // last: the agent acts on it
  const t0 = performance.now();
  const abort = () => alive(`starting hart ${hart}`);
  // The agent looks at the mailbox at least every ~1 ms: spin briefly first.
  const answered = await waitUntil(
    () => ram.atomicLoadU32(mb + AG_ACK_SEQ) === seq || (abort(), false),
    { deadlineMs: timeoutMs, spinUs: 2000, yieldUs: 0 },
  );
  if (!answered) {
    throw new TimeoutError(
      `waiting for the SBI agent to answer ${call} (request ${seq})`,
      timeoutMs,
    );
  }
  const err = ram.atomicLoadU32(mb + AG_ERROR) | 0;
  if (err !== 0) {
    throw new AmpError(
      "QEMU_SBI_ERROR",
      `Cannot start hart ${hart}: ${call} failed with ${sbiErrorName(err)} (${err})`,
    );
  }
  const left = Math.max(1, timeoutMs - (performance.now() - t0));
  const started = await waitUntil(
    () =>
      ram.atomicLoadU32(agentStatusAddress(hart) + AGS_STATE) === HSM_STARTED || (abort(), false),
    { deadlineMs: left, spinUs: 2000, yieldUs: 0 },
  );
  if (!started) {
    throw new TimeoutError(
      `waiting for hart ${hart} to reach SBI HSM STARTED after ${call} (it is ${
        readHartStatus(m, hart).hsm?.name
      })`,
      timeoutMs,
    );
  }
}

/** Boot counters now: the agent's (sbi, one entry) or each hart's stub mailbox (direct). */
export function bootCounts(m: HartMachine): number[] {
  if (m.boot === "sbi") return [m.ram.atomicLoadU32(AGENT_MAILBOX + AG_BOOTS)];
  return Array.from(
    { length: m.smp },
    (_, h) => m.ram.atomicLoadU32(mailboxAddress(h) + MB_BOOTS),
  );
}

/**
 * Make the next start wait for a fresh boot: boot `"sbi"` clears the agent's
 * magic, boot `"direct"` clears every hart's `go` and state words.
 */
export function clearReady(m: HartMachine): void {
  if (m.boot === "sbi") {
    m.ram.atomicStoreU32(AGENT_MAILBOX + AG_MAGIC, 0);
    return;
  }
  for (let h = 0; h < m.smp; h++) {
    const mb = mailboxAddress(h);
    m.ram.atomicStoreU32(mb + MB_GO, 0);
    m.ram.atomicStoreU32(mb + MB_STATE, 0);
  }
}

/**
 * Wait until the machine waits for starts after a (re)boot that moved the boot
 * counters from `before` (see {@linkcode bootCounts}): boot `"sbi"`: the agent
 * is up and every other hart is in HSM STOPPED; boot `"direct"`: every hart is
 * parked. Throws `QEMU_AGENT_DOWN` / `QEMU_NOT_PARKED` at the deadline.
 */
export async function waitHartsReady(
  m: HartMachine,
  before: number[],
  timeoutMs: number,
  when: string,
  alive: AliveCheck,
): Promise<void> {
  const sbi = m.boot === "sbi";
  const ready = sbi
    ? () => {
      const info = readAgentInfo(m.ram);
      if (!info.ready || info.boots === before[0]) return false;
      for (let h = 0; h < m.smp; h++) {
        if (h !== info.agentHart && readHartStatus(m, h).state !== "stopped") return false;
      }
      return true;
    }
    : () => {
      for (let h = 0; h < m.smp; h++) {
        const s = readHartStatus(m, h);
        if (s.state !== "parked" || s.boots === before[h]) return false;
      }
      return true;
    };
  const ok = await waitUntil(() => {
    if (ready()) return true;
    alive(`waiting for the harts ${when}`);
    return false;
  }, { deadlineMs: timeoutMs, spinUs: 2000, yieldUs: 0 });
  if (ok) return;
  const states = Array.from({ length: m.smp }, (_, h) => {
    const s = readHartStatus(m, h);
    return `hart ${h}: ${s.state}${s.hsm ? ` (HSM ${s.hsm.name})` : ""}`;
  }).join("; ");
  if (sbi) {
    const info = readAgentInfo(m.ram);
    throw new AmpError(
      "QEMU_AGENT_DOWN",
      `The SBI agent did not come up with the other harts stopped ${when} within ${timeoutMs} ms (magic ${
        info.ready ? "present" : "missing"
      }, boots ${info.boots} (was ${before[0]}), agent on hart ${info.agentHart}; ${states})`,
      { cause: new TimeoutError("waiting for the SBI agent", timeoutMs) },
    );
  }
  const boots = Array.from({ length: m.smp }, (_, h) => readHartStatus(m, h).boots);
  throw new AmpError(
    "QEMU_NOT_PARKED",
    `Harts did not park in the boot stub ${when} within ${timeoutMs} ms (${states}; boots ${
      boots.join(", ")
    })`,
    { cause: new TimeoutError("waiting for parked harts", timeoutMs) },
  );
}
