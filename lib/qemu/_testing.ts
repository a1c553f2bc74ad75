/**
 * Test helpers for the QEMU machine: driving the demo firmware's shell on the
 * guest console as a host drives the seed's RT-Thread image, and a minimal
 * rpmsg host (virtio driver role) that speaks to the demo firmware over the
 * rv64-virt layout of machines.md section 1. Test-only: the real host is
 * lib/remoteproc + lib/rpmsg.
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";
import type { MemoryRegion } from "../mem/region.ts";
import type { ConsoleMatch, QemuConsole } from "./console.ts";
import { waitUntil } from "../util/wait.ts";
import {
  VDEV_GFEATURES as GFEATURES_OFF,
  VDEV_STATUS as STATUS_OFF,
  VDEV_VRINGS,
  VIRTIO_STATUS_DRIVER_OK,
  VRING_DA,
  VRING_SIZE,
} from "../rsc/layout.ts";

/** The rv64-virt shared-memory layout (machines.md section 1). */
export const RSC_PA = 0x9010_0000,
  POOL_PA = 0x9012_0000,
  VRING0_PA = 0x9016_0000,
  VRING1_PA = 0x9016_4000,
  VRING_NUM = 256,
  BUF_SIZE = 512;
/** Firmware diagnostics words (examples/firmware/rv64-virt/README.md). */
export const DIAG_BASE = 0x9000_2000,
  DIAG_LEN = 0x40,
  DIAG_PING = DIAG_BASE + 0x00,
  DIAG_PONG = DIAG_BASE + 0x04,
  DIAG_STATE = DIAG_BASE + 0x08,
  DIAG_MAGIC = DIAG_BASE + 0x0c,
  DIAG_SLEEPS = DIAG_BASE + 0x10,
  DIAG_APP = DIAG_BASE + 0x14,
  DIAG_TRAPPED = DIAG_BASE + 0x18,
  DIAG_HART = DIAG_BASE + 0x1c,
  DIAG_SCAUSE = DIAG_BASE + 0x20,
  DIAG_SEPC = DIAG_BASE + 0x28,
  DIAG_STVAL = DIAG_BASE + 0x30,
  DIAG_STARTS = DIAG_BASE + 0x38,
  DIAG_MAGIC_VALUE = 0x4650_4d41;
/** Firmware states at {@linkcode DIAG_STATE}. */
export const FW_SHELL = 0,
  FW_WAIT_HOST = 1,
  FW_WAIT_DRIVER_OK = 1,
  FW_RUNNING = 2,
  FW_BROKEN = 3;
/** Demos at {@linkcode DIAG_APP}. */
export const APP_NONE = 0,
  APP_RPMSG_ECHO = 1,
  APP_RPMSG_UPDATE = 2,
  APP_MATRIX = 3,
  APP_SHMEM = 4;
/** The libmetal shared-memory demo block (its control word is the poll word). */
export const SHMEM_PA = 0x9000_0000;
/** `a1` for the firmware: "AMP" magic, trace mirrored to the console. */
export const ARG_TRACE_CONSOLE = (0x414d5000n << 32n) | 0x100n;
/** The shell's prompt (RT-Thread's). */
export const PROMPT = "msh />";
/** The demo commands, by the firmware's app number. */
export const DEMO_COMMANDS = ["rpmsg_echo", "rpmsg_update", "matrix_multiplyd", "shmem_demod"];
/** vdev fields inside the shared table copy. */
export const VDEV = RSC_PA + 0x30,
  VDEV_GFEATURES = VDEV + GFEATURES_OFF,
  VDEV_STATUS = VDEV + STATUS_OFF,
  VDEV_VRING0_DA = VDEV + VDEV_VRINGS + VRING_DA,
  VDEV_VRING1_DA = VDEV + VDEV_VRINGS + VRING_SIZE + VRING_DA;
/** The firmware's trace buffer (its RSC_TRACE entry). */
export const TRACE_PA = 0x9024_0000, TRACE_LEN = 0x1000;

const USED_OFF = 0x2000; // num 256, align 0x1000
const AVAIL_OFF = 0x1000;

/** One received rpmsg message. */
export interface RxMessage {
  src: number;
  dst: number;
  payload: Uint8Array;
}

/**
 * The trace ring's text, oldest first: the ring ends at its only NUL.
 */
export function traceText(mem: MemoryRegion): string {
  const b = mem.read(TRACE_PA, TRACE_LEN);
  const nul = b.indexOf(0);
  const ordered = nul < 0 ? b : new Uint8Array([...b.subarray(nul + 1), ...b.subarray(0, nul)]);
  return new TextDecoder().decode(ordered.filter((c) => c !== 0));
}

/** A minimal polled rpmsg host: vring0 = RX (256 buffers posted), vring1 = TX. */
export class MiniHost {
  readonly mem: MemoryRegion;
  #rxUsedSeen = 0;
  #rxAvail = 0;
  #txAvail = 0;
  #txUsedSeen = 0;
  #txFree: number[] = [];

  constructor(mem: MemoryRegion) {
    this.mem = mem;
  }

  /** Set up the vrings and buffers in the shared table and write DRIVER_OK. */
  start(vring0 = VRING0_PA, vring1 = VRING1_PA): void {
    const m = this.mem;
    m.fill(VRING0_PA, 0x3000, 0);
    m.fill(VRING1_PA, 0x3000, 0);
    m.setU32(VDEV_VRING0_DA, vring0);
    m.setU32(VDEV_VRING1_DA, vring1);
    m.setU32(VDEV_GFEATURES, 1);
    this.#rxUsedSeen = 0;
    this.#rxAvail = 0;
    this.#txAvail = 0;
    this.#txUsedSeen = 0;
    this.#txFree = Array.from({ length: VRING_NUM }, (_, i) => i);
    for (let i = 0; i < VRING_NUM; i++) {
      const d = VRING0_PA + 16 * i;
      m.setU64(d, BigInt(POOL_PA + i * BUF_SIZE));
      m.setU32(d + 8, BUF_SIZE);
      m.setU16(d + 12, 2); // WRITE
      this.#postRx(i);
    }
    this.setStatus(VIRTIO_STATUS_DRIVER_OK);
  }

  /** Write the vdev status byte with a release store of its aligned word. */
  setStatus(status: number): void {
    const w = this.mem.atomicLoadU32(VDEV_STATUS);
    this.mem.atomicStoreU32(VDEV_STATUS, (w & ~0xff) | (status & 0xff));
  }

  #postRx(id: number): void {
    const m = this.mem;
    m.setU16(VRING0_PA + AVAIL_OFF + 4 + 2 * (this.#rxAvail % VRING_NUM), id);
    this.#rxAvail = (this.#rxAvail + 1) & 0xffff;
    m.atomicStoreU16(VRING0_PA + AVAIL_OFF + 2, this.#rxAvail);
  }

  /** Overwrite vring0 descriptor `id` (already posted) for hostile-host tests. */
  corruptRxDesc(id: number, addr: number, len: number): void {
    const d = VRING0_PA + 16 * id;
    this.mem.setU64(d, BigInt(addr));
    this.mem.setU32(d + 8, len);
  }

  /** Messages the firmware sent since the last call; their buffers are re-posted. */
  receive(): RxMessage[] {
    const m = this.mem;
    const out: RxMessage[] = [];
    const idx = m.atomicLoadU16(VRING0_PA + USED_OFF + 2);
    while (this.#rxUsedSeen !== idx) {
      const e = VRING0_PA + USED_OFF + 4 + 8 * (this.#rxUsedSeen % VRING_NUM);
      const id = m.u32(e);
      const len = m.u32(e + 4);
      this.#rxUsedSeen = (this.#rxUsedSeen + 1) & 0xffff;
      if (id >= VRING_NUM || len > BUF_SIZE) throw new Error(`bad used entry ${id} ${len}`);
      const buf = POOL_PA + id * BUF_SIZE;
      const n = m.u16(buf + 12);
      if (n > len - 16) throw new Error(`bad header len ${n} in a ${len}-byte buffer`);
      out.push({ src: m.u32(buf), dst: m.u32(buf + 4), payload: m.read(buf + 16, n) });
      this.#postRx(id);
    }
    return out;
  }

  /** Send one message on vring1. */
  send(src: number, dst: number, payload: Uint8Array): void {
    const m = this.mem;
    const used = m.atomicLoadU16(VRING1_PA + USED_OFF + 2);
    while (this.#txUsedSeen !== used) {
      const e = VRING1_PA + USED_OFF + 4 + 8 * (this.#txUsedSeen % VRING_NUM);
      this.#txFree.push(m.u32(e));
      this.#txUsedSeen = (this.#txUsedSeen + 1) & 0xffff;
    }
    const id = this.#txFree.shift();
    if (id === undefined) throw new Error("no free TX buffer");
    const buf = POOL_PA + (VRING_NUM + id) * BUF_SIZE;
    m.setU32(buf, src);
    m.setU32(buf + 4, dst);
    m.setU32(buf + 8, 0);
    m.setU16(buf + 12, payload.length);
    m.setU16(buf + 14, 0);
    m.write(buf + 16, payload);
    const d = VRING1_PA + 16 * id;
    m.setU64(d, BigInt(buf));
    m.setU32(d + 8, BUF_SIZE);
    m.setU16(d + 12, 0);
    m.setU16(VRING1_PA + AVAIL_OFF + 4 + 2 * (this.#txAvail % VRING_NUM), id);
    this.#txAvail = (this.#txAvail + 1) & 0xffff;
    m.atomicStoreU16(VRING1_PA + AVAIL_OFF + 2, this.#txAvail);
  }

  /** Reset the vdev (status 0). */
  reset(): void {
    this.setStatus(0);
  }

  /** Poll until `n` messages arrived (or the deadline); returns what arrived. */
  async receiveN(n: number, timeoutMs = 5000): Promise<RxMessage[]> {
    const got: RxMessage[] = [];
    const t0 = performance.now();
    let spins = 0;
    while (got.length < n && performance.now() - t0 < timeoutMs) {
      got.push(...this.receive());
      if (got.length >= n) break;
      if (++spins > 200) await new Promise((r) => setTimeout(r, spins > 2000 ? 1 : 0));
    }
    return got;
  }
}

/** Parse a 40-byte name service message. */
export function parseNs(p: Uint8Array): { name: string; addr: number; flags: number } {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const raw = p.subarray(0, 32);
  const nul = raw.indexOf(0);
  return {
    name: new TextDecoder().decode(nul < 0 ? raw : raw.subarray(0, nul)),
    addr: dv.getUint32(32, true),
    flags: dv.getUint32(36, true),
  };
}

/** A tiny RV64 program that stores `lui`-immediate `tag << 12` at 0x90000060 and spins. */
export function tagProgram(tag: number): Uint8Array {
  const words = [
    0x480002b7, // lui t0, 0x48000
    0x00129293, // slli t0, t0, 1        (t0 = 0x90000000)
    ((tag & 0xfffff) << 12 | 6 << 7 | 0x37) >>> 0, // lui t1, tag
    0x0662a023, // sw t1, 0x60(t0)
    0x0000006f, // j .
  ];
  const out = new Uint8Array(words.length * 4);
  const dv = new DataView(out.buffer);
  words.forEach((w, i) => dv.setUint32(4 * i, w, true));
  return out;
}

function fromWords(words: number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const dv = new DataView(out.buffer);
  words.forEach((w, i) => dv.setUint32(4 * i, w >>> 0, true));
  return out;
}

/**
 * A tiny position-independent S-mode program for SBI boots: it prints
 * "sbi-probe: legacy putchar works; extension 10 " through legacy SBI
 * `console_putchar` (extension 1), calls the custom legacy extension 10 (the
 * seed's SD card call, which a standard SBI does not have), stores its `a0`
 * at 0x90000064, prints "failed" or "succeeded", stores 0x600D at 0x90000060
 * and sleeps. The SBI turns each "\n" into "\r\n". Assembled from
 * (riscv64-unknown-elf-gcc, rv64imac):
 *
 * ```
 *     la   s0, msg;  jal ra, puts
 *     li   a7, 10;  li a6, 0;  li a0, 0;  ecall
 *     li   t0, 0x90000000;  sw a0, 0x64(t0)
 *     la   s0, ok;  beqz a0, 1f;  la s0, failed
 * 1:  jal  ra, puts;  li t1, 0x600d;  sw t1, 0x60(t0)
 * 2:  wfi;  j 2b
 * puts: lbu a0, 0(s0);  beqz a0, 3f;  li a7, 1;  ecall;  addi s0, s0, 1;  j puts
 * 3:  ret
 * msg: .asciz "sbi-probe: legacy putchar works; extension 10 "
 * ok: .asciz "succeeded\n"
 * failed: .asciz "failed\n"
 * ```
 */
export function sbiProbeProgram(): Uint8Array {
  const b64 = "FwQAABMEZAXvAMADqUgBSAFFcwAAAJsCkADyAiOiogYXBAAAEwRUBgnFFwQAABMEZAbvACABGWM1IyOg" +
    "YgZzAFAQ9b8DRQQAEcWFSHMAAAAFBM2/goBzYmktcHJvYmU6IGxlZ2FjeSBwdXRjaGFyIHdvcmtzOyBl" +
    "eHRlbnNpb24gMTAgAHN1Y2NlZWRlZAoAZmFpbGVkCgA=";
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Where {@linkcode sbiProbeProgram} stores its done marker (0x600D) and extension 10's `a0`. */
export const PROBE_DONE = 0x9000_0060, PROBE_RESULT = 0x9000_0064;

/**
 * A tiny M-mode program for direct boots that writes `text` (ASCII) to the
 * virt board's UART at 0x10000000 and spins: `lui t0, 0x10000`, then
 * `addi t1, zero, c; sb t1, 0(t0)` per character, then `j .`.
 */
export function uartTextProgram(text: string): Uint8Array {
  const words = [0x100002b7];
  for (const ch of text) {
    const c = ch.charCodeAt(0) & 0x7f;
    words.push((c << 20) | (6 << 7) | 0x13, 0x00628023);
  }
  words.push(0x0000006f);
  return fromWords(words);
}

/**
 * A tiny M-mode program for direct boots: a console "echo plus one" over the
 * virt board's UART (it reads a byte and writes back that byte + 1, so typing
 * "HAL" prints "IBM").
 */
export function uartEchoProgram(): Uint8Array {
  return fromWords([
    0x100002b7, // lui t0, 0x10000
    0x0052c303, // 1: lbu t1, 5(t0)     (line status)
    0x00137313, // andi t1, t1, 1       (data ready)
    0xfe030ce3, // beqz t1, 1b
    0x0002c383, // lbu t2, 0(t0)
    0x00138393, // addi t2, t2, 1
    0x00728023, // sb t2, 0(t0)
    0xfe9ff06f, // j 1b
  ]);
}

/** Wait for the shell prompt (after the cursor) on the firmware's console. */
export function waitPrompt(con: QemuConsole, timeoutMs = 10_000): Promise<ConsoleMatch> {
  return con.expect(PROMPT, { timeoutMs });
}

/** What `shmem_demod` prints once it cleared its control word and waits for the host. */
export const SHMEM_READY = "CLIENT> Wait for shared memory demo to start.";

/**
 * Start a demo as a host drives the seed. The caller saw the prompt. rpmsg
 * demos: zero the shared table copy's `ver`, type `command`, wait until the
 * firmware has copied its resource table back (`ver` = 1; `shm` must cover
 * {@linkcode RSC_PA}). `shmem_demod` (which does not touch the table): type it
 * and wait for {@linkcode SHMEM_READY} on the console.
 */
export async function typeDemoCommand(
  con: QemuConsole,
  shm: MemoryRegion,
  command: string,
  timeoutMs = 5000,
): Promise<void> {
  if (command === "shmem_demod") {
    await con.write(`${command}\r`);
    await con.expect(SHMEM_READY, { timeoutMs });
    return;
  }
  shm.atomicStoreU32(RSC_PA, 0);
  await con.write(`${command}\r`);
  await con.expect("Starting application...", { timeoutMs });
  const copied = await waitUntil(() => shm.atomicLoadU32(RSC_PA) === 1, { deadlineMs: timeoutMs });
  if (!copied) {
    throw new TimeoutError(
      `waiting for the firmware to copy its resource table after "${command}" (console: ${
        JSON.stringify(con.tail(200))
      })`,
      timeoutMs,
    );
  }
}

/**
 * Wait until the running demo ends: "Stopping application..." (rpmsg demos)
 * or "CLIENT> Shared memory test finished" (`shmem_demod`), then the prompt.
 */
export async function waitDemoEnd(con: QemuConsole, timeoutMs = 10_000): Promise<void> {
  await con.expect(/Stopping application\.\.\.|CLIENT> Shared memory test finished/, {
    timeoutMs,
  });
  await con.expect(PROMPT, { timeoutMs });
}
