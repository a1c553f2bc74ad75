import assert from "node:assert/strict";
import { isAmpError } from "../errors.ts";
import { mulberry32, randInt } from "../util/random.ts";
import {
  decodeHeader,
  decodeRequest,
  FLAG_NEED_REPLY,
  MAX_PAYLOAD,
  Request,
  VhostError,
  type VhostRequest,
} from "./protocol.ts";
import {
  addrPayload,
  configPayload,
  encodeMessage,
  encodeReply,
  memTablePayload,
  statePayload,
  u64Payload,
} from "./encode.ts";
import { checkMemTable } from "./memory.ts";

function decode(bytes: Uint8Array, fds: number[] = []): VhostRequest {
  return decodeRequest(decodeHeader(bytes), bytes.subarray(12), fds);
}

function rejects(fn: () => unknown, code: string): void {
  assert.throws(fn, (e) => {
    assert(e instanceof VhostError, `not a VhostError: ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

Deno.test("headers: version 1 only, known flag bits only, replies only where expected, bounded size", () => {
  const m = (flags: number, size = 0) => {
    const b = encodeMessage(1, flags, new Uint8Array(0));
    new DataView(b.buffer).setUint32(8, size, true);
    return b;
  };
  assert.deepEqual(decodeHeader(m(1 | FLAG_NEED_REPLY)), { request: 1, flags: 9, size: 0 });
  rejects(() => decodeHeader(m(0)), "VHOST_BAD_VERSION");
  rejects(() => decodeHeader(m(2)), "VHOST_BAD_VERSION");
  rejects(() => decodeHeader(m(1 | 0x10)), "VHOST_BAD_FLAGS");
  rejects(() => decodeHeader(m(1 | 4)), "VHOST_BAD_FLAGS");
  rejects(() => decodeHeader(m(1), true), "VHOST_BAD_FLAGS");
  rejects(() => decodeHeader(m(1, MAX_PAYLOAD + 1)), "VHOST_PAYLOAD_TOO_LARGE");
  rejects(() => decodeHeader(m(1, 0xffff_ffff)), "VHOST_PAYLOAD_TOO_LARGE");
  rejects(() => decodeHeader(new Uint8Array(11)), "VHOST_SHORT_HEADER");
  assert.equal(decodeHeader(encodeReply(1, u64Payload(5n)), true).size, 8);
});

Deno.test("requests: every payload size, descriptor count and index is checked", () => {
  const r = decode(encodeMessage(Request.SET_FEATURES, 1, u64Payload(0x1_4000_0001n)));
  assert(r.type === "SET_FEATURES" && r.value === 0x1_4000_0001n);
  rejects(
    () => decode(encodeMessage(Request.SET_FEATURES, 1, new Uint8Array(4))),
    "VHOST_BAD_SIZE",
  );
  rejects(
    () => decode(encodeMessage(Request.GET_FEATURES, 1, new Uint8Array(8))),
    "VHOST_BAD_SIZE",
  );
  rejects(
    () => decode(encodeMessage(Request.SET_OWNER, 1, new Uint8Array(0)), [3]),
    "VHOST_BAD_FDS",
  );
  rejects(
    () => decode(encodeMessage(Request.SET_VRING_NUM, 1, statePayload(256, 8))),
    "VHOST_BAD_INDEX",
  );
  const a = decode(
    encodeMessage(Request.SET_VRING_ADDR, 1, addrPayload(1, { desc: 1n, used: 2n, avail: 3n })),
  );
  assert(
    a.type === "SET_VRING_ADDR" && a.desc === 1n && a.used === 2n && a.avail === 3n &&
      a.index === 1,
  );
  rejects(
    () => decode(encodeMessage(Request.SET_VRING_ADDR, 1, new Uint8Array(32))),
    "VHOST_BAD_SIZE",
  );
  // kick/call/err: one descriptor, or none with the no-fd bit; nothing else in the u64
  const k = decode(encodeMessage(Request.SET_VRING_KICK, 1, u64Payload(1n)), [7]);
  assert(k.type === "SET_VRING_KICK" && k.index === 1 && k.fd === 7);
  const p = decode(encodeMessage(Request.SET_VRING_CALL, 1, u64Payload(0x100n)));
  assert(p.type === "SET_VRING_CALL" && p.fd === null);
  rejects(() => decode(encodeMessage(Request.SET_VRING_KICK, 1, u64Payload(0n))), "VHOST_BAD_FDS");
  rejects(
    () => decode(encodeMessage(Request.SET_VRING_KICK, 1, u64Payload(0x100n)), [4]),
    "VHOST_BAD_FDS",
  );
  rejects(
    () => decode(encodeMessage(Request.SET_VRING_ERR, 1, u64Payload(0x200n)), [4]),
    "VHOST_BAD_FIELD",
  );
  // config: the range inside 256 bytes, the payload exactly 12 + size
  const c = decode(encodeMessage(Request.GET_CONFIG, 1, configPayload(0, new Uint8Array(4))));
  assert(c.type === "GET_CONFIG" && c.size === 4);
  rejects(
    () =>
      decode(encodeMessage(Request.GET_CONFIG, 1, configPayload(0xffff_fff0, new Uint8Array(32)))),
    "VHOST_BAD_FIELD",
  );
  const bad = configPayload(0, new Uint8Array(4));
  new DataView(bad.buffer).setUint32(4, 8, true);
  rejects(() => decode(encodeMessage(Request.SET_CONFIG, 1, bad)), "VHOST_BAD_FIELD");
  const u = decode(encodeMessage(99, 1, new Uint8Array(3)));
  assert(u.type === "UNSUPPORTED" && u.name === "request 99");
});

Deno.test("memory tables: 1..8 regions, one descriptor each, room for more entries than used is accepted", () => {
  const reg = { guestAddr: 0x1000n, size: 0x1000n, userAddr: 0x1000n, mmapOffset: 0n };
  const t = decode(encodeMessage(Request.SET_MEM_TABLE, 1, memTablePayload([reg], 2)), [5]);
  assert(t.type === "SET_MEM_TABLE" && t.regions.length === 1 && t.fds[0] === 5);
  rejects(
    () => decode(encodeMessage(Request.SET_MEM_TABLE, 1, memTablePayload([reg])), [5, 6]),
    "VHOST_BAD_FDS",
  );
  rejects(
    () => decode(encodeMessage(Request.SET_MEM_TABLE, 1, memTablePayload([]))),
    "VHOST_TOO_MANY_REGIONS",
  );
  const nine = memTablePayload(Array(9).fill(reg));
  rejects(
    () => decode(encodeMessage(Request.SET_MEM_TABLE, 1, nine), Array(9).fill(3)),
    "VHOST_TOO_MANY_REGIONS",
  );
  const short = memTablePayload([reg, reg]).subarray(0, 8 + 32 + 16);
  new DataView(short.buffer).setUint32(0, 2, true);
  rejects(() => decode(encodeMessage(Request.SET_MEM_TABLE, 1, short), [3, 4]), "VHOST_BAD_SIZE");
});

const CORPUS: [Uint8Array, number][] = [
  [encodeMessage(Request.GET_FEATURES, 1, new Uint8Array(0)), 0],
  [encodeMessage(Request.SET_FEATURES, 9, u64Payload(0x1_4000_0001n)), 0],
  [encodeMessage(Request.SET_VRING_NUM, 9, statePayload(1, 256)), 0],
  [
    encodeMessage(
      Request.SET_VRING_ADDR,
      9,
      addrPayload(1, { desc: 0x1000n, used: 0x3000n, avail: 0x2000n }),
    ),
    0,
  ],
  [encodeMessage(Request.SET_VRING_KICK, 9, u64Payload(1n)), 1],
  [
    encodeMessage(
      Request.SET_MEM_TABLE,
      9,
      memTablePayload([{ guestAddr: 0x1000n, size: 0x1000n, userAddr: 0n, mmapOffset: 0n }], 2),
    ),
    1,
  ],
  [encodeMessage(Request.GET_CONFIG, 1, configPayload(4, new Uint8Array(8))), 0],
];

Deno.test("fuzz (seeded): mutated messages decode or raise VhostError, never anything else", () => {
  const seed = Number(Deno.env.get("AMP_FUZZ_SEED") ?? 0x5eed_7700);
  const rng = mulberry32(seed);
  let ok = 0, refused = 0;
  for (let i = 0; i < 5000; i++) {
    const [base, nfd] = CORPUS[randInt(rng, CORPUS.length)]!;
    const b = base.slice();
    const flips = 1 + randInt(rng, 4);
    for (let f = 0; f < flips; f++) {
      const at = randInt(rng, b.length);
      const mode = randInt(rng, 3);
      b[at] = mode === 0 ? randInt(rng, 256) : mode === 1 ? 0xff : b[at]! ^ (1 << randInt(rng, 8));
    }
    const cut = randInt(rng, 8) === 0 ? b.subarray(0, randInt(rng, b.length + 1)) : b;
    const fds = Array.from(
      { length: randInt(rng, 4) === 0 ? randInt(rng, 10) : nfd },
      (_, k) => 100 + k,
    );
    try {
      const h = decodeHeader(cut);
      const r = decodeRequest(h, cut.subarray(12, 12 + h.size), fds);
      if (r.type === "SET_MEM_TABLE") {
        try {
          checkMemTable(r.regions);
        } catch (e) {
          if (!(e instanceof VhostError)) throw e;
        }
      }
      ok++;
    } catch (e) {
      assert(e instanceof VhostError && isAmpError(e), `seed ${seed} case ${i}: ${e}`);
      refused++;
    }
  }
  assert(ok > 0 && refused > 0, `ok ${ok}, refused ${refused}`);
});
