import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { parseElf } from "../elf/reader.ts";
import { buildElf } from "../elf/writer.ts";
import { bootStubImage, mailboxAddress, MB_BOOTS } from "./boot_stub.ts";
import {
  AG_ACK_SEQ,
  AG_ERROR,
  AG_HART,
  AG_LOAD_LEN,
  AG_OP,
  AG_REQ_SEQ,
  AGENT_MAGIC,
  AGENT_MAILBOX,
  agentImage,
  agentStatusAddress,
  AGS_REFRESH,
  HSM_STATE_FAILED,
  sbiErrorName,
} from "./agent.ts";
import { loadRangeOf, qemuAvailable, QemuRv64 } from "./qemu.ts";
import {
  PROBE_DONE,
  PROBE_RESULT,
  sbiProbeProgram,
  tagProgram,
  uartEchoProgram,
  uartTextProgram,
} from "./_testing.ts";
import { waitUntil } from "../util/wait.ts";

const FW_DIR = new URL("../../examples/firmware/rv64-virt/", import.meta.url);
const HAVE_QEMU = qemuAvailable();
const IN_CI = Deno.env.get("CI") === "true";
if (!HAVE_QEMU) {
  console.warn(
    "qemu-system-riscv64 not found: QEMU end-to-end tests are skipped " +
      "(apt-get install qemu-system-misc; with CI=true they fail instead)",
  );
}
const ignore = !HAVE_QEMU && !IN_CI;
const TAG = 0x9000_0060;
const IMAGE = 0x9020_0000;

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  if (!(await waitUntil(cond, { deadlineMs: timeoutMs }))) throw new Error(`timed out: ${what}`);
}

function codeOf(e: unknown): string {
  return isAmpError(e) ? e.code : String(e);
}

Deno.test({
  name: "qemu: CI has qemu-system-riscv64 installed",
  ignore: !IN_CI,
  fn() {
    assert.ok(HAVE_QEMU, "CI=true but qemu-system-riscv64 is not in PATH");
  },
});

Deno.test("qemu: loadRangeOf covers the code segments, else every loaded segment", () => {
  const seg = (paddr: number, size: number, flags: number, memsz = size) => ({
    paddr,
    data: new Uint8Array(size),
    memsz,
    flags,
  });
  const code = parseElf(buildElf({
    class: 64,
    segments: [seg(0x9020_0000, 0x100, 5), seg(0x9020_2000, 0x80, 5), seg(0x9020_3000, 8, 6)],
  }));
  assert.deepEqual(loadRangeOf(code), { start: 0x9020_0000, len: 0x2080 });
  const noCode = parseElf(buildElf({
    class: 64,
    segments: [seg(0x9020_1000, 0x10, 6), seg(0x9020_0000, 0, 6, 0x20)],
  }));
  assert.deepEqual(loadRangeOf(noCode), { start: 0x9020_0000, len: 0x1010 });
  assert.deepEqual(
    loadRangeOf(parseElf(buildElf({ class: 64, segments: [seg(0x1000, 0, 5, 0)] }))),
    {
      start: 0,
      len: 0,
    },
  );
  // The committed firmware: only its text segment is re-written.
  const fw = parseElf(Deno.readFileSync(new URL("amp-demo.elf", FW_DIR)));
  const r = loadRangeOf(fw);
  assert.equal(r.start, fw.entry);
  assert.ok(r.len > 0 && r.len < 0x8000);
});

Deno.test("qemu: the embedded boot stub and SBI agent are the committed binaries", () => {
  assert.deepEqual(bootStubImage(), Deno.readFileSync(new URL("boot-stub.bin", FW_DIR)));
  assert.deepEqual(agentImage(), Deno.readFileSync(new URL("agent.bin", FW_DIR)));
  assert.ok(agentImage().length < 0x1000);
});

Deno.test("qemu: SBI error and HSM state names", () => {
  assert.equal(sbiErrorName(-3), "SBI_ERR_INVALID_PARAM");
  assert.equal(sbiErrorName(0xffff_fffe), "SBI_ERR_NOT_SUPPORTED");
  assert.equal(sbiErrorName(0), "SBI_SUCCESS");
});

Deno.test({
  name: "qemu: bad options are refused before anything is launched",
  ignore,
  async fn() {
    const refused = async (o: Parameters<typeof QemuRv64.launch>[0], code: string, re: RegExp) => {
      const e = await QemuRv64.launch(o).then(() => undefined, (e) => e);
      assert.equal(codeOf(e), code, String(e));
      assert.match((e as Error).message, re);
    };
    await refused({ smp: 9 }, "QEMU_BAD_OPTION", /smp/);
    await refused({ binary: "/nonexistent/qemu-system-riscv64" }, "QEMU_NOT_FOUND", /not found/);
    await refused({ ramFile: "/dev/shm/a,b" }, "QEMU_BAD_OPTION", /ramFile/);
    await refused({ consoleLog: "/tmp/a,b.log" }, "QEMU_BAD_OPTION", /consoleLog/);
    await refused({ boot: "bios" as "sbi" }, "QEMU_BAD_OPTION", /boot = "bios" is not one of/);
    await refused({ bios: "none" }, "QEMU_BAD_OPTION", /without an SBI/);
    await refused({ boot: "direct", bios: "default" }, "QEMU_BAD_OPTION", /needs boot "sbi"/);
    await refused({ bios: "a,b" }, "QEMU_BAD_OPTION", /bios/);
    await refused({ workDir: "/tmp/a:b" }, "QEMU_BAD_OPTION", /workDir.*no ":"/);
    await refused(
      { workDir: `/tmp/${"d".repeat(100)}` },
      "QEMU_BAD_OPTION",
      /UNIX socket path of at most 107 bytes/,
    );
    const existing = await Deno.makeTempFile();
    try {
      await refused({ ramFile: existing }, "QEMU_RAM_FILE", /Cannot create the guest RAM file/);
      assert.equal(Deno.statSync(existing).size, 0); // left alone
    } finally {
      await Deno.remove(existing);
    }
  },
});

Deno.test({
  name: "qemu (sbi): the agent comes up on hart 0 with hart 1 stopped; refused starts",
  ignore,
  async fn() {
    const q = await QemuRv64.launch({ smp: 2 });
    try {
      assert.equal(q.boot, "sbi");
      assert.equal(q.bios, "default");
      const info = q.agentInfo();
      assert.equal(info.ready, true);
      assert.equal(info.agentHart, 0);
      assert.equal(info.boots, 1);
      assert.ok(info.firstHart === 0 || info.firstHart === 1);
      assert.equal(info.implName, "OpenSBI");
      assert.equal(info.hsm, true);
      assert.match(info.specVersion, /^[1-9]\d*\.\d+$/);
      const h0 = q.hartStatus(0), h1 = q.hartStatus(1);
      assert.equal(h0.state, "running"); // the agent
      assert.equal(h0.hsm?.name, "STARTED");
      assert.deepEqual([h1.state, h1.boots, h1.hsm?.name, h1.hsm?.error], [
        "stopped",
        1,
        "STOPPED",
        0,
      ]);
      // The table is refreshed continuously; harts the machine lacks fail the call.
      const r0 = q.ram.u32(agentStatusAddress(1) + AGS_REFRESH);
      await waitFor(() => q.ram.u32(agentStatusAddress(1) + AGS_REFRESH) > r0 + 2, "refresh");
      assert.equal(q.ram.u32(agentStatusAddress(5)), HSM_STATE_FAILED);
      assert.equal(sbiErrorName(q.ram.u32(agentStatusAddress(5) + 4)), "SBI_ERR_INVALID_PARAM");
      assert.equal(q.ram.base, 0x8000_0000);
      assert.equal(q.ram.size, 0x2000_0000 - 0x20_0000);
      assert.equal(q.reservedEnd, 0x8040_1000);
      assert.match(await q.serialOutput(), /OpenSBI v\d/); // its banner, with no client connected

      assert.throws(() => q.hartStatus(2), (e) => codeOf(e) === "QEMU_BAD_HART");
      const refused = async (p: Promise<void>, code: string, re: RegExp) => {
        const e = await p.then(() => undefined, (e) => e);
        assert.equal(codeOf(e), code, String(e));
        assert.match((e as Error).message, re);
      };
      await refused(q.startHart(0, IMAGE), "QEMU_HART_BUSY", /hart 0: it runs the SBI agent/);
      await refused(q.startHart(1, 0x8020_0000), "QEMU_BAD_ENTRY", /0x80401000/);
      await refused(
        q.startHart(1, IMAGE, { start: 0x9fd0_0000, len: 0x20_0000 }),
        "QEMU_BAD_LOAD_RANGE",
        /is not inside/,
      );

      // The agent's ABI directly: a request for a hart the machine lacks and an
      // unknown op are answered with the SBI error, nothing else happens.
      const post = async (op: number, hart: number) => {
        const seq = q.ram.u32(AGENT_MAILBOX + AG_REQ_SEQ) + 1;
        q.ram.setU32(AGENT_MAILBOX + AG_OP, op);
        q.ram.setU32(AGENT_MAILBOX + AG_HART, hart);
        q.ram.setU64(AGENT_MAILBOX + AG_LOAD_LEN, 0n);
        q.ram.atomicStoreU32(AGENT_MAILBOX + AG_REQ_SEQ, seq);
        await waitFor(() => q.ram.atomicLoadU32(AGENT_MAILBOX + AG_ACK_SEQ) === seq, "ack");
        return sbiErrorName(q.ram.u32(AGENT_MAILBOX + AG_ERROR));
      };
      assert.equal(await post(1, 7), "SBI_ERR_INVALID_PARAM");
      assert.equal(await post(9, 1), "SBI_ERR_NOT_SUPPORTED");
      assert.equal(q.hartStatus(1).state, "stopped");

      // A running hart cannot be started twice; stop() brings it back to STOPPED.
      q.ram.write(IMAGE, tagProgram(0x11111));
      await q.startHart(1, IMAGE, { start: IMAGE, len: 20 });
      await waitFor(() => q.ram.u32(TAG) === 0x11111000, "tag program ran");
      assert.equal(q.hartStatus(1).state, "running");
      assert.equal(q.hartStatus(1).hsm?.name, "STARTED");
      await refused(q.startHart(1, IMAGE), "QEMU_HART_BUSY", /running \(SBI HSM STARTED\)/);
      await q.stop();
      assert.deepEqual([q.hartStatus(1).state, q.hartStatus(1).boots], ["stopped", 2]);
      assert.equal(q.agentInfo().boots, 2);
    } finally {
      await q.close();
    }
    assert.throws(() => Deno.statSync(q.ramFile), Deno.errors.NotFound);
    assert.throws(() => Deno.statSync(q.consolePath), Deno.errors.NotFound);
    await assert.rejects(q.stop(), (e) => codeOf(e) === "QEMU_CLOSED");
  },
});

Deno.test({
  name: "qemu (sbi): S-mode code on hart 1: legacy SBI putchar works, an unknown SBI call fails",
  ignore,
  async fn() {
    const q = await QemuRv64.launch();
    const con = await q.connectConsole();
    try {
      for (let round = 0; round < 2; round++) {
        q.ram.fill(TAG, 8, 0);
        q.ram.write(IMAGE, sbiProbeProgram());
        await q.startHart(1, IMAGE, { start: IMAGE, len: 0x100 });
        // On the socket as it happens, and in the log.
        await con.expect("sbi-probe: legacy putchar works; extension 10 failed\r\n");
        await waitFor(() => q.ram.u32(PROBE_DONE) === 0x600d, "probe done");
        assert.equal(sbiErrorName(q.ram.u32(PROBE_RESULT)), "SBI_ERR_NOT_SUPPORTED");
        // The log trails the socket by a moment (QEMU logs after the socket write).
        const count = () =>
          Deno.readTextFileSync(q.consoleLog).split("extension 10 failed").length - 1;
        await waitFor(() => count() === round + 1, "the line in the console log");
        await q.stop();
      }
    } finally {
      con.close();
      await q.close();
    }
  },
});

Deno.test({
  name: "qemu (sbi): stop and restart twice; new code at the same address runs after a reset",
  ignore,
  async fn() {
    const q = await QemuRv64.launch();
    try {
      const boots0 = q.agentInfo().boots;
      for (const [i, tag] of [0x12345, 0x54321, 0x0abcd].entries()) {
        q.ram.write(IMAGE, tagProgram(tag));
        await q.startHart(1, IMAGE, { start: IMAGE, len: 20 });
        await waitFor(() => q.ram.u32(TAG) === tag << 12, `program ${tag.toString(16)}`);
        assert.equal(q.hartStatus(1).state, "running");
        await q.stop();
        const s = q.hartStatus(1);
        assert.deepEqual([s.state, s.boots], ["stopped", boots0 + i + 1]);
        assert.equal(q.ram.u32(AGENT_MAILBOX), AGENT_MAGIC);
        assert.equal(q.agentInfo().agentHart, 0); // whichever hart won OpenSBI's lottery
      }
    } finally {
      await q.close();
    }
  },
});

Deno.test({
  name: "qemu: the console socket is interactive and every byte lands in the log (both boots)",
  ignore,
  async fn() {
    // Direct boot: M-mode programs that drive the UART themselves.
    const dir = await Deno.makeTempDir({ prefix: "amp-qemu-con-" });
    const log = `${dir}/uart.log`;
    const q = await QemuRv64.launch({ boot: "direct", consoleLog: log });
    try {
      assert.equal(q.consoleLog, log);
      assert.equal(q.bios, "none");
      q.ram.write(IMAGE, uartTextProgram("no client\n"));
      await q.startHart(1, IMAGE, { start: IMAGE, len: 0x100 });
      await waitFor(() => Deno.readTextFileSync(log).includes("no client\n"), "log without client");
      await q.stop();
      const con = await q.connectConsole();
      try {
        q.ram.write(IMAGE, uartEchoProgram());
        await q.startHart(1, IMAGE, { start: IMAGE, len: 0x20 });
        await con.write("HAL");
        await con.expect("IBM");
        // QEMU logs a chunk after handing it to the socket: the log may trail a moment.
        await waitFor(
          () => /no client\n[^]*IBM/.test(Deno.readTextFileSync(log)),
          "IBM in the log",
        );
      } finally {
        con.close();
      }
    } finally {
      await q.close();
    }
    assert.ok(Deno.readTextFileSync(log).includes("IBM"), "a log outside the work dir is kept");
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "qemu (direct): launch parks every hart; the stub starts and re-parks them",
  ignore,
  async fn() {
    const q = await QemuRv64.launch({ smp: 2, boot: "direct" });
    try {
      assert.deepEqual(q.hartStatus(0), { hart: 0, state: "parked", boots: 1 });
      assert.deepEqual(q.hartStatus(1), { hart: 1, state: "parked", boots: 1 });
      assert.equal(q.reservedEnd, 0x8000_1200);
      assert.throws(() => q.agentInfo(), (e) => codeOf(e) === "QEMU_BOOT_MODE");
      assert.throws(() => q.hartStatus(2), (e) => codeOf(e) === "QEMU_BAD_HART");
      await assert.rejects(q.startHart(1, 0x8000_0000), (e) => codeOf(e) === "QEMU_BAD_ENTRY");
      await assert.rejects(
        q.startHart(1, IMAGE, { start: 0x9fd0_0000, len: 0x20_0000 }),
        (e) => codeOf(e) === "QEMU_BAD_LOAD_RANGE",
      );
      // A running hart cannot be started twice; stop() parks it again.
      q.ram.write(IMAGE, tagProgram(0x11111));
      await q.startHart(1, IMAGE, { start: IMAGE, len: 20 });
      await waitFor(() => q.ram.u32(TAG) === 0x11111000, "tag program ran");
      assert.equal(q.hartStatus(1).state, "running");
      assert.equal(q.hartStatus(0).state, "parked");
      await assert.rejects(q.startHart(1, IMAGE), (e) => codeOf(e) === "QEMU_HART_BUSY");
      await q.stop();
      assert.deepEqual(q.hartStatus(1), { hart: 1, state: "parked", boots: 2 });
      assert.equal(q.ram.u32(mailboxAddress(0) + MB_BOOTS), 2);
      // New code at the same address runs after a stop (no stale translations).
      for (const tag of [0x12345, 0x54321]) {
        q.ram.write(IMAGE, tagProgram(tag));
        await q.startHart(1, IMAGE, { start: IMAGE, len: 20 });
        await waitFor(() => q.ram.u32(TAG) === tag << 12, `program ${tag.toString(16)}`);
        await q.stop();
      }
    } finally {
      await q.close();
    }
    assert.throws(() => Deno.statSync(q.ramFile), Deno.errors.NotFound);
  },
});
