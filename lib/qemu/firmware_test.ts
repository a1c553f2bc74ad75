/**
 * The demo firmware (examples/firmware/rv64-virt/amp-demo.elf) on a real
 * RISC-V core: QEMU `virt` booted through OpenSBI and the SBI agent, the
 * firmware entered in S-mode on hart 1 through SBI HSM and driven at its
 * shell prompt as a host drives the seed's RT-Thread image. Skipped when
 * qemu-system-riscv64 is missing, except under CI=true where that is a
 * failure.
 */

import assert from "node:assert/strict";
import { parseElf, sectionByName, sectionData } from "../elf/reader.ts";
import type { ElfImage } from "../elf/types.ts";
import { runShmemDemo } from "../apps/shmem.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import { ShmWordNotifier } from "../notify/shm_word.ts";
import { loadElf } from "../remoteproc/loader.ts";
import { createRpmsgDevice } from "../rpmsg/create.ts";
import type { QemuConsole } from "./console.ts";
import { loadRangeOf, qemuAvailable, QemuRv64 } from "./qemu.ts";
import {
  APP_MATRIX,
  APP_NONE,
  APP_RPMSG_ECHO,
  APP_RPMSG_UPDATE,
  APP_SHMEM,
  ARG_TRACE_CONSOLE,
  DEMO_COMMANDS,
  DIAG_APP,
  DIAG_BASE,
  DIAG_HART,
  DIAG_LEN,
  DIAG_MAGIC,
  DIAG_MAGIC_VALUE,
  DIAG_PING,
  DIAG_PONG,
  DIAG_SCAUSE,
  DIAG_SEPC,
  DIAG_STARTS,
  DIAG_STATE,
  DIAG_TRAPPED,
  FW_BROKEN,
  FW_RUNNING,
  FW_SHELL,
  FW_WAIT_HOST,
  MiniHost,
  parseNs,
  POOL_PA,
  RSC_PA,
  SHMEM_PA,
  traceText,
  typeDemoCommand,
  VDEV_GFEATURES,
  VDEV_STATUS,
  VDEV_VRING0_DA,
  VDEV_VRING1_DA,
  VRING0_PA,
  VRING1_PA,
  waitDemoEnd,
  waitPrompt,
} from "./_testing.ts";
import { waitUntil } from "../util/wait.ts";

const FW_DIR = new URL("../../examples/firmware/rv64-virt/", import.meta.url);
const HAVE_QEMU = qemuAvailable();
const IN_CI = Deno.env.get("CI") === "true";
const ignore = !HAVE_QEMU && !IN_CI;
const HOST_ADDR = 0x400;
const EPT = 1024;
const enc = new TextEncoder();

function firmware(): ElfImage {
  return parseElf(Deno.readFileSync(new URL("amp-demo.elf", FW_DIR)), { name: "amp-demo.elf" });
}

/** Name -> [value, global] from the ELF's .symtab (ELF64). */
function symbols(img: ElfImage): Map<string, { value: number; global: boolean }> {
  const symtab = sectionByName(img, ".symtab"), strtab = sectionByName(img, ".strtab");
  assert.ok(symtab && strtab, "the firmware keeps its symbol table");
  const syms = sectionData(img, symtab), strs = sectionData(img, strtab);
  const dv = new DataView(syms.buffer, syms.byteOffset, syms.byteLength);
  const out = new Map<string, { value: number; global: boolean }>();
  for (let o = 0; o + 24 <= syms.length; o += 24) {
    const nameOff = dv.getUint32(o, true);
    const end = strs.indexOf(0, nameOff);
    const name = new TextDecoder().decode(strs.subarray(nameOff, end));
    if (name) {
      out.set(name, {
        value: Number(dv.getBigUint64(o + 8, true)),
        global: syms[o + 4]! >> 4 === 1,
      });
    }
  }
  return out;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  if (!(await waitUntil(cond, { deadlineMs: timeoutMs }))) throw new Error(`timed out: ${what}`);
}

/**
 * Load the firmware, start hart 1 through SBI HSM, wait for the prompt. On a
 * failure the machine is closed here (callers close it only once booted).
 */
async function bootShell(q: QemuRv64, arg = 0n, patch?: (img: ElfImage) => void) {
  let con: QemuConsole | undefined;
  try {
    const img = firmware();
    q.ram.fill(DIAG_BASE, DIAG_LEN, 0);
    q.ram.fill(RSC_PA, 0x200, 0);
    const map = new MemoryMap([q.region(0x9020_0000, 0x7f_f000, "90200000.rproc")]);
    loadElf(img, map, { name: "amp-demo.elf" });
    patch?.(img);
    con = await q.connectConsole();
    await q.startHart(1, img.entry, loadRangeOf(img), arg);
    await waitPrompt(con);
    assert.equal(q.ram.u32(DIAG_MAGIC), DIAG_MAGIC_VALUE);
    assert.equal(q.ram.u32(DIAG_STATE), FW_SHELL);
    return { img, con };
  } catch (e) {
    con?.close();
    await q.close();
    throw e;
  }
}

function matrixMessage(a: number[][], b: number[][]): Uint8Array {
  const out = new Uint8Array(296);
  const dv = new DataView(out.buffer);
  [a, b].forEach((m, k) => {
    dv.setUint32(k * 148, 6, true);
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 6; j++) dv.setUint32(k * 148 + 4 + 4 * (i * 6 + j), m[i]![j]!, true);
    }
  });
  return out;
}

function nsMessage(name: string, addr: number, flags: number): Uint8Array {
  const m = new Uint8Array(40);
  m.set(enc.encode(name));
  new DataView(m.buffer).setUint32(32, addr, true);
  new DataView(m.buffer).setUint32(36, flags, true);
  return m;
}

/** Type `command`, set up the rings, expect the one endpoint's announcement. */
async function startApp(q: QemuRv64, con: QemuConsole, host: MiniHost, command: string) {
  await typeDemoCommand(con, q.ram, command);
  await waitFor(() => q.ram.u32(DIAG_STATE) === FW_WAIT_HOST, "waiting for DRIVER_OK");
  host.start();
  const [ns] = await host.receiveN(1);
  assert.ok(ns, `${command}: endpoint announced`);
  assert.equal(ns.dst, 53);
  await con.expect(/Successfully created rpmsg endpoint\.|Waiting for events\.\.\./);
  assert.equal(q.ram.u32(DIAG_STATE), FW_RUNNING);
  return parseNs(ns.payload);
}

Deno.test("firmware: seed layout, S-mode entry, resource table plus trace, shell command symbols", () => {
  const img = firmware();
  assert.equal(img.entry, 0x9020_0000);
  const sec = sectionByName(img, ".resource_table");
  assert.ok(sec);
  assert.equal(sec.size, 0x100);
  assert.equal(sec.addr % 0x100, 0);
  const t = new DataView(sectionData(img, sec).slice().buffer);
  const u32 = (o: number) => t.getUint32(o, true);
  assert.deepEqual([u32(0), u32(4), u32(8), u32(12)], [1, 2, 0, 0]);
  assert.deepEqual([u32(16), u32(20)], [0x30, 0x74]);
  for (let i = 2; i < 8; i++) assert.equal(u32(16 + 4 * i), 0);
  assert.deepEqual([0, 4, 8, 12, 16, 20].map((o) => u32(0x30 + o)), [3, 7, 0, 1, 0, 0]);
  assert.deepEqual([0, 1, 2, 3].map((o) => t.getUint8(0x48 + o)), [0, 2, 0, 0]);
  for (const [k, notifyid] of [[0, 1], [1, 2]] as const) {
    const v = 0x4c + 20 * k;
    assert.deepEqual([0, 4, 8, 12, 16].map((o) => u32(v + o)), [
      0xffff_ffff,
      0x1000,
      256,
      notifyid,
      0,
    ]);
  }
  const trace = sectionByName(img, ".trace");
  assert.ok(trace);
  assert.deepEqual([u32(0x74), u32(0x78), u32(0x7c), u32(0x80)], [2, trace.addr, 0x1000, 0]);
  assert.equal(new TextDecoder().decode(sectionData(img, sec).subarray(0x84, 0x8a)), "trace0");
  // Commands as RT-Thread's shell exports them: __fsym_<cmd> and __fsym___cmd_<cmd>.
  const syms = symbols(img);
  for (const cmd of [...DEMO_COMMANDS, "help", "version"]) {
    for (const name of [`__fsym_${cmd}`, `__fsym___cmd_${cmd}`]) {
      const s = syms.get(name);
      assert.ok(s?.global, `${name} is a global symbol`);
      assert.equal(s.value, syms.get(`__fsym_${cmd}`)!.value);
    }
  }
  // Code and writable data on separate pages.
  const loads = img.segments.filter((s) => s.type === 1 && s.memsz > 0);
  const code = loads.filter((s) => s.flags & 1);
  assert.equal(code.length, 1);
  for (const s of loads.filter((s) => !(s.flags & 1))) {
    assert.ok(s.paddr >= code[0]!.paddr + code[0]!.memsz);
    assert.equal(s.paddr % 0x1000, 0);
  }
});

Deno.test({
  name: "firmware: boots to msh />, fails the seed's custom SBI call cleanly, edits lines, Ctrl+C",
  ignore,
  async fn() {
    const q = await QemuRv64.launch();
    const { con } = await bootShell(q);
    try {
      const boot = con.text; // the console was connected before the start
      assert.match(boot, /amp demo firmware 2\.0: S-mode on hart 1, SBI console/);
      assert.match(boot, /sdcard: SBI call 10 failed \(error -2\)\r\nError mounting rootfs\r\n/);
      assert.match(boot, /msh \/>$/);
      assert.equal(q.ram.u32(DIAG_HART), 1);
      assert.match(traceText(q.ram), /\[0\] amp demo firmware 2\.0 on hart 1/);
      assert.match(traceText(q.ram), /sbi: custom call 10 failed with -2; no file system/);

      await con.write("help\r");
      const help = await con.expect(/commands:\r\n([^]*?)msh \/>/);
      for (const c of ["help", "version", ...DEMO_COMMANDS]) {
        assert.match(help.groups[0]!, new RegExp(`^${c} - `, "m"));
      }
      await con.write("frobnicate now\r");
      await con.expect("frobnicate: command not found.");
      await waitPrompt(con);
      // Backspace and DEL edit the line; "\r\n" is one Enter.
      await con.write("verX\x7fsiox\bn\r\n");
      await con.expect("amp demo firmware 2.0 (S-mode, legacy SBI console and timer)");
      await waitPrompt(con);
      // Ctrl+C abandons a line: nothing starts.
      await con.write("rpmsg_update\x03");
      await con.expect("^C");
      await waitPrompt(con);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(con.text.slice(con.cursor), "", "one prompt per line");
      assert.equal(q.ram.u32(DIAG_STARTS), 0);

      // Ctrl+C abandons a demo still waiting for the host.
      await typeDemoCommand(con, q.ram, "rpmsg_update");
      await con.expect("creating remoteproc virtio");
      await waitFor(() => q.ram.u32(DIAG_STATE) === FW_WAIT_HOST, "waiting for DRIVER_OK");
      assert.equal(q.ram.u32(DIAG_APP), APP_RPMSG_UPDATE);
      assert.equal(q.ram.u32(0x9000_0000), 0); // the poll word, cleared at app start
      assert.deepEqual(
        q.ram.read(RSC_PA, 0xa4),
        sectionData(firmware(), sectionByName(firmware(), ".resource_table")!).subarray(0, 0xa4),
      );
      await con.write("\x03");
      await waitDemoEnd(con);
      assert.deepEqual([q.ram.u32(DIAG_STATE), q.ram.u32(DIAG_APP)], [FW_SHELL, APP_NONE]);
      assert.match(traceText(q.ram), /app rpmsg_update: abandoned/);
    } finally {
      con.close();
      await q.close();
    }
  },
});

Deno.test({
  name: "firmware: every demo twice in a row on one machine, as the seed's commands",
  ignore,
  async fn(t) {
    const q = await QemuRv64.launch();
    const { con } = await bootShell(q);
    const host = new MiniHost(q.ram);
    try {
      for (let round = 1; round <= 2; round++) {
        await t.step(`round ${round}: rpmsg_echo = rpmsg-client-sample, 100 messages`, async () => {
          const ns = await startApp(q, con, host, "rpmsg_echo");
          assert.deepEqual(ns, { name: "rpmsg-client-sample", addr: EPT, flags: 0 });
          assert.equal(q.ram.u32(DIAG_APP), APP_RPMSG_ECHO);
          for (let i = 0; i < 100; i++) {
            const p = enc.encode(i < 99 ? "hello world!" : "goodbye!");
            host.send(HOST_ADDR + 1, EPT, p);
            // After the 100th echo the endpoint is destroyed: its announcement follows.
            const got = await host.receiveN(i < 99 ? 1 : 2);
            const r = got[0];
            assert.ok(r && got.length === (i < 99 ? 1 : 2), `sample message ${i}`);
            assert.deepEqual([r.src, r.dst, r.payload], [EPT, HOST_ADDR + 1, p]);
            if (i === 99) {
              assert.equal(got[1]!.dst, 53);
              assert.deepEqual(parseNs(got[1]!.payload), {
                name: "rpmsg-client-sample",
                addr: EPT,
                flags: 1,
              });
            }
          }
          await waitDemoEnd(con);
          assert.match(con.text, /echo message number 1: hello world!\r\n/);
          assert.match(
            con.text,
            /echo message number 100: goodbye!\r\nreach message limit, exit\r\n/,
          );
          assert.deepEqual([q.ram.u32(DIAG_STATE), q.ram.u32(DIAG_APP)], [FW_SHELL, APP_NONE]);
        });

        await t.step(
          `round ${round}: rpmsg_update = msg-test echo until the shutdown message`,
          async () => {
            const ns = await startApp(q, con, host, "rpmsg_update");
            assert.deepEqual(ns, { name: "rpmsg-openamp-demo-channel", addr: EPT, flags: 0 });
            for (const size of [1, 17, 100, 495, 496]) {
              const p = new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff);
              host.send(HOST_ADDR, EPT, p);
              const [r] = await host.receiveN(1);
              assert.ok(r, `echo of ${size} bytes`);
              assert.deepEqual([r.src, r.dst, r.payload], [EPT, HOST_ADDR, p]);
            }
            const stop = new Uint8Array(8);
            new DataView(stop.buffer).setUint32(0, 0xef56a55a, true);
            host.send(HOST_ADDR, EPT, stop);
            const [r] = await host.receiveN(1);
            assert.ok(r);
            assert.equal(r.dst, 53); // no echo: the destroy announcement
            assert.deepEqual(parseNs(r.payload), {
              name: "rpmsg-openamp-demo-channel",
              addr: EPT,
              flags: 1,
            });
            await con.expect("shutdown message is received.");
            await waitDemoEnd(con);
            assert.match(traceText(q.ram), /rpmsg-openamp-demo-channel: 5 messages handled/);
          },
        );

        await t.step(
          `round ${round}: matrix_multiplyd until the host destroys its endpoint`,
          async () => {
            const ns = await startApp(q, con, host, "matrix_multiplyd");
            assert.deepEqual(ns, { name: "rpmsg-openamp-demo-channel", addr: EPT, flags: 0 });
            assert.equal(q.ram.u32(DIAG_APP), APP_MATRIX);
            for (let n = 0; n < 3; n++) {
              const a = Array.from(
                { length: 6 },
                (_, i) => Array.from({ length: 6 }, (_, j) => (i + 2 * j + n) % 10),
              );
              const b = Array.from(
                { length: 6 },
                (_, i) => Array.from({ length: 6 }, (_, j) => (3 * i + j + n) % 10),
              );
              host.send(HOST_ADDR, EPT, matrixMessage(a, b));
              const [r] = await host.receiveN(1);
              assert.ok(r);
              assert.equal(r.payload.length, 148);
              const dv = new DataView(r.payload.slice().buffer);
              assert.equal(dv.getUint32(0, true), 6);
              for (let i = 0; i < 6; i++) {
                for (let j = 0; j < 6; j++) {
                  let s = 0;
                  for (let k = 0; k < 6; k++) {
                    s += a[i]![k]! * b[k]![j]!;
                  }
                  assert.equal(dv.getUint32(4 + 4 * (i * 6 + j), true), s);
                }
              }
            }
            host.send(HOST_ADDR, 53, nsMessage("rpmsg-openamp-demo-channel", HOST_ADDR, 1));
            // As the seed: its line, then its own DESTROY, then the end.
            await con.expect("ERROR: Endpoint is destroyed");
            const [bye] = await host.receiveN(1);
            assert.ok(bye);
            assert.equal(bye.dst, 53);
            assert.deepEqual(parseNs(bye.payload), {
              name: "rpmsg-openamp-demo-channel",
              addr: EPT,
              flags: 1,
            });
            await waitDemoEnd(con);
            assert.match(traceText(q.ram), /3 messages handled; endpoint destroyed by the host/);
          },
        );

        await t.step(`round ${round}: shmem_demod on the block at 0x90000000`, async () => {
          q.ram.setU32(SHMEM_PA, 1); // left over: the demo clears it at start
          q.ram.setU32(RSC_PA, 0x5a5a_5a5a); // shmem_demod does not touch the table
          await typeDemoCommand(con, q.ram, "shmem_demod");
          assert.equal(q.ram.u32(SHMEM_PA), 0);
          assert.equal(q.ram.u32(RSC_PA), 0x5a5a_5a5a);
          assert.deepEqual([q.ram.u32(DIAG_STATE), q.ram.u32(DIAG_APP)], [FW_WAIT_HOST, APP_SHMEM]);
          const res = await runShmemDemo(q.ram, SHMEM_PA, { count: 20, timeoutMs: 5000 });
          assert.equal(res.errors, 0, res.failures.join("; "));
          assert.equal(res.received, 20);
          await waitDemoEnd(con); // the host put the control word back to 0
          assert.match(
            con.text,
            /shmem_demod\r\n\r\nCLIENT> Configuration share memory\r\n\r\nCLIENT> Wait for shared memory demo to start\.\r\n\r\nCLIENT> Demo has started\.\r\n\r\nCLIENT> Shared memory test finished\r\nmsh \/>/,
          );
          assert.match(traceText(q.ram), /shmem demo: stopped after 20 messages/);
        });
      }
      assert.equal(q.ram.u32(DIAG_STARTS), 8);
    } finally {
      con.close();
      await q.close();
    }
  },
});

Deno.test({
  name:
    "firmware: a vdev reset ends the app; a hostile host breaks a ring (NEEDS_RESET) or is refused",
  ignore,
  async fn(t) {
    const q = await QemuRv64.launch();
    const { con } = await bootShell(q);
    const host = new MiniHost(q.ram);
    try {
      await t.step("reset mid-app", async () => {
        await startApp(q, con, host, "rpmsg_update");
        host.send(HOST_ADDR, EPT, enc.encode("x"));
        assert.equal((await host.receiveN(1)).length, 1);
        host.reset();
        await con.expect("the host reset the vdev");
        await waitDemoEnd(con);
        assert.equal(q.ram.u32(DIAG_STATE), FW_SHELL);
      });

      await t.step(
        "typed-ahead input waits for the prompt; host DESTROY ends rpmsg_update",
        async () => {
          await startApp(q, con, host, "rpmsg_update");
          await con.write("version\r"); // while the demo runs: not echoed, kept for the shell
          host.send(HOST_ADDR, EPT, enc.encode("y"));
          assert.equal((await host.receiveN(1)).length, 1);
          host.send(HOST_ADDR, 53, nsMessage("rpmsg-openamp-demo-channel", HOST_ADDR, 1));
          await con.expect("unexpected Remote endpoint destroy");
          const [bye] = await host.receiveN(1);
          assert.deepEqual(bye && parseNs(bye.payload), {
            name: "rpmsg-openamp-demo-channel",
            addr: EPT,
            flags: 1,
          });
          await waitDemoEnd(con);
          await con.expect("version\r\namp demo firmware 2.0");
          await waitPrompt(con);
        },
      );

      await t.step("a buffer outside the pool breaks the ring, nothing is written", async () => {
        await startApp(q, con, host, "rpmsg_update"); // announcement: buffer 0
        const victim = 0x9020_0000; // firmware code
        const before = q.ram.read(victim, 64);
        host.corruptRxDesc(5, victim, 512); // still posted: slot 5
        for (let i = 0; i < 5; i++) host.send(HOST_ADDR, EPT, enc.encode(`m${i}`));
        assert.equal((await host.receiveN(4)).length, 4); // buffers 1..4
        await waitFor(() => q.ram.u32(DIAG_STATE) === FW_BROKEN, "ring marked broken");
        assert.deepEqual(q.ram.read(victim, 64), before);
        assert.match(traceText(q.ram), /vring0: broken: buffer outside the pool/);
        assert.equal(q.ram.u8(VDEV_STATUS) & 0x40, 0x40); // NEEDS_RESET
        await con.expect("ERROR: the host broke a vring");
        host.reset();
        await waitDemoEnd(con);
      });

      await t.step("vrings outside the vring window are refused", async () => {
        await typeDemoCommand(con, q.ram, "matrix_multiplyd");
        await waitFor(() => q.ram.u32(DIAG_STATE) === FW_WAIT_HOST, "waiting");
        host.start(POOL_PA, 0x9016_4000);
        await waitFor(() => q.ram.u32(DIAG_STATE) === FW_BROKEN, "configuration rejected");
        assert.match(traceText(q.ram), /vring0: ring \[0x90120000.*outside the vring window/);
        await con.expect("ERROR: the host's vrings were refused");
        await con.write("\x03"); // still waiting for the host: Ctrl+C ends it
        await waitDemoEnd(con);
        assert.equal(q.ram.u32(DIAG_STATE), FW_SHELL);
      });
    } finally {
      con.close();
      await q.close();
    }
  },
});

Deno.test({
  name:
    "firmware: raw PING/PONG at the prompt and inside an app; the trace mirrored to the console",
  ignore,
  async fn() {
    const q = await QemuRv64.launch();
    const { con } = await bootShell(q, ARG_TRACE_CONSOLE);
    const host = new MiniHost(q.ram);
    try {
      assert.match(
        con.text,
        /trace: \[0\] amp demo firmware 2\.0 on hart 1, arg 0x414d500000000100/,
      );
      const pingPong = (what: string) => {
        const n = 2000, samples: number[] = [];
        let v = q.ram.atomicLoadU32(DIAG_PONG);
        for (let i = 0; i < n; i++) {
          v = (v + 1) >>> 0;
          const t0 = performance.now();
          q.ram.atomicStoreU32(DIAG_PING, v);
          let spins = 0;
          while (q.ram.atomicLoadU32(DIAG_PONG) !== v) {
            if (++spins > 50_000_000) throw new Error(`no pong for ping ${v}`);
          }
          samples.push(performance.now() - t0);
        }
        samples.sort((x, y) => x - y);
        const us = (p: number) => (samples[Math.floor(p * (n - 1))]! * 1000).toFixed(1);
        console.log(
          `ping round trip ${what} over ${n}: p50 ${us(0.5)} us, p90 ${us(0.9)} us, p99 ${
            us(0.99)
          } us`,
        );
      };
      pingPong("at the prompt");
      await startApp(q, con, host, "rpmsg_update");
      pingPong("inside rpmsg_update");
      host.reset();
      await waitDemoEnd(con);
      assert.match(con.text, /trace: \[\d+\] app rpmsg_update: done/);
    } finally {
      con.close();
      await q.close();
    }
  },
});

Deno.test({
  name:
    "firmware: an unexpected trap is recorded in the diag area and the trace, then the hart parks",
  ignore,
  async fn() {
    const q = await QemuRv64.launch();
    let at = 0;
    const { con } = await bootShell(q, 0n, (img) => {
      at = symbols(img).get("cmd_version")!.value;
      q.ram.setU32(at, 0); // an illegal instruction where `version` starts
    });
    try {
      await con.write("version\r");
      await con.expect(/unexpected trap: scause 0x2 sepc (0x[0-9a-f]+)/);
      assert.equal(q.ram.u32(DIAG_TRAPPED), 1);
      assert.equal(q.ram.u64(DIAG_SCAUSE), 2n); // illegal instruction
      assert.equal(Number(q.ram.u64(DIAG_SEPC)), at);
      assert.equal(q.ram.u32(DIAG_STATE), FW_BROKEN);
      assert.match(traceText(q.ram), /trap: scause 0x2 sepc 0x[0-9a-f]+ stval 0x0; stopped/);
      assert.equal(q.hartStatus(1).state, "running"); // parked in its own WFI loop
      await q.stop();
      assert.equal(q.hartStatus(1).state, "stopped");
    } finally {
      con.close();
      await q.close();
    }
  },
});

Deno.test({
  name: "firmware: the project's rpmsg driver (lib/rpmsg) round-trips with rpmsg_update",
  ignore,
  async fn() {
    const q = await QemuRv64.launch();
    const { con } = await bootShell(q);
    try {
      await typeDemoCommand(con, q.ram, "rpmsg_update");
      const notifyShm = q.region(0x9000_0000, 0x8_0000, "90000000.shm");
      const shm = q.region(0x9010_0000, 0x8_0000, "90100000.shm");
      shm.fill(VRING0_PA, 0x8000, 0);
      shm.setU32(VDEV_VRING0_DA, VRING0_PA);
      shm.setU32(VDEV_VRING1_DA, VRING1_PA);
      shm.setU32(VDEV_GFEATURES, 1);
      const notifier = new ShmWordNotifier(notifyShm, { notifyPa: 0x9000_0000, mode: "seed" });
      const dev = createRpmsgDevice({
        role: "driver",
        region: shm,
        notifier,
        vring0: { pa: VRING0_PA, num: 256, align: 0x1000 },
        vring1: { pa: VRING1_PA, num: 256, align: 0x1000 },
        pool: { base: POOL_PA, size: 0x4_0000 },
      });
      try {
        new MiniHost(q.ram).setStatus(4); // DRIVER_OK after the rings are initialised
        const got: Uint8Array[] = [];
        const ep = dev.createEndpoint({
          name: "rpmsg-openamp-demo-channel",
          onMessage: (d) => got.push(d.slice()),
        });
        await waitFor(() => (dev.poll(), ep.ready), "endpoint bound by the announcement");
        const n = 500;
        const times: number[] = [];
        for (let i = 0; i < n; i++) {
          const p = new Uint8Array(1 + (i % 496)).fill(i & 0xff);
          const t0 = performance.now();
          assert.ok(ep.trySend(p));
          await waitFor(() => (dev.poll(), got.length === i + 1), `echo ${i}`);
          times.push(performance.now() - t0);
          assert.deepEqual(got[i], p);
        }
        times.sort((a, b) => a - b);
        console.log(
          `lib/rpmsg echo round trip over ${n}: p50 ${(times[n >> 1]! * 1000).toFixed(1)} us`,
        );
      } finally {
        dev.close();
        notifier.close();
      }
      new MiniHost(q.ram).reset();
      await waitDemoEnd(con);
    } finally {
      con.close();
      await q.close();
    }
  },
});

const OTHER_BIOS = Deno.env.get("AMP_TEST_BIOS");

Deno.test({
  name: "firmware: another SBI as -bios (AMP_TEST_BIOS, e.g. the seed's OpenSBI 0.9 fw_jump.bin)",
  ignore: ignore || !OTHER_BIOS,
  async fn() {
    const q = await QemuRv64.launch({ bios: OTHER_BIOS! });
    const { con } = await bootShell(q);
    const host = new MiniHost(q.ram);
    try {
      console.log(`SBI: ${JSON.stringify(q.agentInfo())}`);
      assert.match(con.text, /Error mounting rootfs/);
      await startApp(q, con, host, "rpmsg_update");
      host.send(HOST_ADDR, EPT, enc.encode("over another SBI"));
      const [r] = await host.receiveN(1);
      assert.deepEqual(r?.payload, enc.encode("over another SBI"));
      host.reset();
      await waitDemoEnd(con);
      await q.stop();
      assert.equal(q.hartStatus(1).state, "stopped");
    } finally {
      con.close();
      await q.close();
    }
  },
});
