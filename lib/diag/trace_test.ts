import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { MemoryMap } from "../mem/memory_map.ts";
import { heapRegion } from "../mem/region.ts";
import { RV64_VIRT } from "../machine/profiles/rv64_virt.ts";
import { buildResourceTable, rpmsgVdev, serializeResourceTable } from "../rsc/table.ts";
import {
  decodeTraceRing,
  findTraceEntries,
  locateTrace,
  readLiveTrace,
  safeText,
  TraceFollower,
} from "./trace.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A writer that behaves like the firmware's trace.c: char at pos, then NUL after it. */
class RingWriter {
  readonly buf: Uint8Array;
  pos = 0;
  constructor(len: number) {
    this.buf = new Uint8Array(len);
  }
  write(s: string): void {
    for (const c of enc.encode(s)) {
      this.buf[this.pos] = c;
      this.pos = (this.pos + 1) % (this.buf.length - 1);
      this.buf[this.pos] = 0;
    }
  }
}

function text(b: Uint8Array | undefined): string {
  return dec.decode(b);
}

Deno.test("decodeTraceRing: before the first wrap the text is the C string at the start", () => {
  const w = new RingWriter(64);
  w.write("[0] boot\n[1] ready\n");
  const r = decodeTraceRing(w.buf);
  assert.equal(text(r.bytes), "[0] boot\n[1] ready\n");
  assert.equal(r.writePos, 19);
  assert.equal(r.wrapped, false);
  assert.equal(decodeTraceRing(new Uint8Array(64)).bytes.length, 0);
});

Deno.test("decodeTraceRing: after wrapping, oldest to newest from just after the NUL", () => {
  const w = new RingWriter(16); // ring of 15 bytes, 14 characters kept
  let all = "";
  for (let i = 0; i < 7; i++) {
    const line = `[${i}] x\n`;
    w.write(line);
    all += line;
  }
  const r = decodeTraceRing(w.buf);
  assert.equal(r.wrapped, true);
  assert.equal(w.buf[15], 0);
  assert.equal(text(r.bytes), all.slice(all.length - 14));
});

Deno.test("decodeTraceRing: garbage without a NUL, tiny buffers, embedded NULs", () => {
  const junk = new Uint8Array(32).fill(0x41);
  const r = decodeTraceRing(junk);
  assert.equal(r.writePos, -1);
  assert.equal(text(r.bytes), "A".repeat(31)); // the last byte is never text
  assert.equal(decodeTraceRing(new Uint8Array(1)).bytes.length, 0);
  assert.equal(decodeTraceRing(new Uint8Array(0)).writePos, -1);
  const holes = enc.encode("ab\0\0cd\0ef\0\0");
  assert.equal(text(decodeTraceRing(holes).bytes), "cdefab");
});

Deno.test("safeText escapes control characters and bad UTF-8", () => {
  assert.equal(safeText(enc.encode("ok\ttab\n")), "ok\ttab\n");
  assert.equal(safeText(Uint8Array.of(0x1b, 0x5b, 0x32, 0x4a)), "\\x1b[2J");
  assert.equal(safeText(Uint8Array.of(0x0d, 0x7f)), "\\x0d\\x7f");
  assert.equal(safeText(Uint8Array.of(0xc3)), "\ufffd");
});

Deno.test("TraceFollower: only new text, across the wrap, with torn snapshots skipped", () => {
  const w = new RingWriter(32);
  const f = new TraceFollower();
  let seen = "";
  let all = "";
  for (let i = 0; i < 40; i++) {
    const line = `[${i}] m${"-".repeat(i % 5)}\n`;
    w.write(line);
    all += line;
    const u = f.update(w.buf.slice());
    assert.ok(u);
    assert.equal(u.gap, false, `update ${i}`);
    seen += text(u.bytes);
    assert.equal(seen, all, `after line ${i}`);
  }
  // Torn: the char was written over the only NUL, the next NUL not yet.
  const torn = w.buf.slice();
  torn[w.pos] = 0x7a;
  assert.equal(f.update(torn), null);
  assert.equal(text(f.update(w.buf.slice())?.bytes), "");
});

Deno.test("TraceFollower: a restart or a lapped ring is reported as a gap", () => {
  const w = new RingWriter(32);
  const f = new TraceFollower();
  w.write("[0] first run\n");
  f.update(w.buf.slice());
  // The remote restarts: trace cleared, new text.
  const w2 = new RingWriter(32);
  w2.write("[0] again\n");
  const u = f.update(w2.buf.slice());
  assert.deepEqual([text(u?.bytes), u?.gap], ["[0] again\n", true]);
  // More than a ring written between two polls.
  w2.write("x".repeat(100));
  const lapped = f.update(w2.buf.slice());
  assert.equal(lapped?.gap, true);
  assert.equal(text(lapped?.bytes), "x".repeat(30));
});

function tableWith(entries: Parameters<typeof buildResourceTable>[0]): Uint8Array {
  return serializeResourceTable(buildResourceTable(entries));
}

Deno.test("findTraceEntries: finds trace entries next to a vdev, skips invalid ones", () => {
  const vr = { da: 0xffff_ffff, align: 0x1000, num: 256 };
  const bytes = tableWith([
    rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] }),
    { kind: "trace", da: 0x9024_0000, len: 0x1000, name: "trace0" },
    { kind: "trace", da: 0x9025_0000, len: 0x100, name: "trace1" },
  ]);
  const found = findTraceEntries(bytes);
  assert.deepEqual(found.map((t) => [t.index, t.da, t.len, t.name]), [
    [1, 0x9024_0000, 0x1000, "trace0"],
    [2, 0x9025_0000, 0x100, "trace1"],
  ]);
  // da ANY and len 0 are not trace buffers; an out-of-bounds offset is skipped.
  const dv = new DataView(bytes.buffer);
  dv.setUint32(found[0]!.offset + 4, 0xffff_ffff, true);
  dv.setUint32(found[1]!.offset + 8, 0, true);
  assert.deepEqual(findTraceEntries(bytes), []);
  dv.setUint32(16 + 4, 0xffff_fff0, true);
  dv.setUint32(16 + 8, 2, true); // unaligned
  assert.deepEqual(findTraceEntries(bytes), []);
});

Deno.test("findTraceEntries: garbage headers fail with typed errors, names are escaped", () => {
  const codeOf = (b: Uint8Array) => {
    try {
      findTraceEntries(b);
      return "none";
    } catch (e) {
      assert.ok(isAmpError(e), String(e));
      return e.code;
    }
  };
  assert.equal(codeOf(new Uint8Array(8)), "TRACE_TABLE_TOO_SMALL");
  assert.equal(codeOf(new Uint8Array(64)), "TRACE_TABLE_VERSION");
  const big = new Uint8Array(64);
  new DataView(big.buffer).setUint32(0, 1, true);
  new DataView(big.buffer).setUint32(4, 0xffff_ffff, true);
  assert.equal(codeOf(big), "TRACE_TABLE_OFFSETS");
  const named = tableWith([{ kind: "trace", da: 0x1000, len: 16, name: "x" }]);
  named.set(enc.encode("\x1b]0;pwned\x07"), 16 + 4 + 16);
  assert.equal(findTraceEntries(named)[0]?.name, "\\x1b]0;pwned\\x07");
  // Random tables never throw anything but typed errors.
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff;
  for (let i = 0; i < 500; i++) {
    const b = Uint8Array.from({ length: 16 + (rnd() << 2) }, rnd);
    b[0] = 1, b[1] = 0, b[2] = 0, b[3] = 0;
    b[5] = b[6] = b[7] = 0;
    codeOf(b);
  }
});

function liveMachine() {
  const shm = heapRegion(0x9010_0000, 0x8_0000, { name: "90100000.shm" });
  const img = heapRegion(0x9020_0000, 0x7f_f000, { name: "90200000.rproc" });
  return { shm, img, map: new MemoryMap([shm, img]) };
}

Deno.test("locateTrace / readLiveTrace: a live table and ring in mapped memory", () => {
  const { shm, img, map } = liveMachine();
  shm.write(0x9010_0000, tableWith([{ kind: "trace", da: 0x9024_0000, len: 64, name: "trace0" }]));
  const w = new RingWriter(64);
  w.write("[0] hello\n[1] \x1b[31mred\n");
  img.write(0x9024_0000, w.buf);
  const r = readLiveTrace(map, RV64_VIRT);
  assert.equal(r.entry.name, "trace0");
  assert.equal(r.text, "[0] hello\n[1] \\x1b[31mred\n");
  assert.throws(
    () => locateTrace(map, RV64_VIRT, 1),
    (e) => isAmpError(e) && e.code === "TRACE_NONE",
  );
  // A buffer that leaves mapped memory is refused, not read.
  shm.write(
    0x9010_0000,
    tableWith([{ kind: "trace", da: 0x909f_f000, len: 0x2000, name: "trace0" }]),
  );
  assert.throws(
    () => readLiveTrace(map, RV64_VIRT),
    (e) => isAmpError(e) && e.code === "TRACE_OUTSIDE" && /0x909ff000/.test(e.message),
  );
  const noTable = new MemoryMap([heapRegion(0x9020_0000, 0x1000)]);
  assert.throws(
    () => readLiveTrace(noTable, RV64_VIRT),
    (e) => isAmpError(e) && e.code === "TRACE_TABLE_UNMAPPED",
  );
});
