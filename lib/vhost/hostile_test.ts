/**
 * A hostile front-end: malformed and out-of-bounds vhost-user messages. Each
 * case must be reported with the failed check's code, the front-end dropped,
 * and the back-end must then serve a well-behaved front-end as if nothing
 * happened.
 */

import assert from "node:assert/strict";
import { echoService, sampleService } from "../apps/services.ts";
import { runSample } from "../apps/sample.ts";
import { closeFd, writeFd } from "../sys/posix.ts";
import { Request } from "./protocol.ts";
import {
  configPayload,
  encodeMessage,
  memTablePayload,
  statePayload,
  u64Payload,
} from "./encode.ts";
import { serveVhostUserRpmsg } from "./rpmsg_backend.ts";
import { GUEST_BASE, GUEST_SIZE, LAYOUT, TestFrontEnd, USER_BASE } from "./_testing.ts";

type Case = { name: string; code: string; run: (fe: TestFrontEnd) => Promise<void> | void };

const region = (
  o: Partial<Record<"guestAddr" | "size" | "userAddr" | "mmapOffset", bigint>> = {},
) => ({
  guestAddr: BigInt(GUEST_BASE),
  size: BigInt(GUEST_SIZE),
  userAddr: BigInt(USER_BASE),
  mmapOffset: 0n,
  ...o,
});

const CASES: Case[] = [
  {
    name: "protocol version 2",
    code: "VHOST_BAD_VERSION",
    run: (fe) => fe.sendRaw(encodeMessage(Request.GET_FEATURES, 2, new Uint8Array(0))),
  },
  {
    name: "a reply sent as a request",
    code: "VHOST_BAD_FLAGS",
    run: (fe) => fe.sendRaw(encodeMessage(Request.GET_FEATURES, 5, new Uint8Array(0))),
  },
  {
    name: "a 1 MiB payload announced",
    code: "VHOST_PAYLOAD_TOO_LARGE",
    run: (fe) => {
      const m = encodeMessage(Request.SET_FEATURES, 1, new Uint8Array(0));
      new DataView(m.buffer).setUint32(8, 0x10_0000, true);
      fe.sendRaw(m);
    },
  },
  {
    name: "SET_FEATURES with a 4-byte payload",
    code: "VHOST_BAD_SIZE",
    run: (fe) => fe.send(Request.SET_FEATURES, new Uint8Array(4)),
  },
  {
    name: "an unknown request",
    code: "VHOST_UNSUPPORTED",
    run: (fe) => fe.send(77, new Uint8Array(8)),
  },
  {
    name: "SET_LOG_BASE (logging was not offered)",
    code: "VHOST_UNSUPPORTED",
    run: (fe) => fe.send(Request.SET_LOG_BASE, u64Payload(0n)),
  },
  {
    name: "SET_VRING_KICK without its descriptor",
    code: "VHOST_BAD_FDS",
    run: (fe) => fe.send(Request.SET_VRING_KICK, u64Payload(0n)),
  },
  {
    name: "SET_OWNER with an extra descriptor",
    code: "VHOST_BAD_FDS",
    run: (fe) => fe.send(Request.SET_OWNER, new Uint8Array(0), [fe.kick[0]!]),
  },
  {
    name: "more descriptors than any message takes",
    code: "VHOST_BAD_FDS",
    run: (fe) => fe.send(Request.SET_OWNER, new Uint8Array(0), Array(12).fill(fe.kick[0]!)),
  },
  {
    name: "a queue index past the device's queues",
    code: "VHOST_BAD_INDEX",
    run: (fe) => fe.send(Request.SET_VRING_NUM, statePayload(5, 256)),
  },
  {
    name: "a queue size that is no power of two",
    code: "VHOST_BAD_FIELD",
    run: (fe) => fe.send(Request.SET_VRING_NUM, statePayload(0, 300)),
  },
  {
    name: "features that were not offered",
    code: "VHOST_FEATURES",
    run: (fe) => fe.send(Request.SET_FEATURES, u64Payload(1n << 28n)),
  },
  {
    name: "GET_CONFIG without the CONFIG protocol feature",
    code: "VHOST_NOT_NEGOTIATED",
    run: (fe) => fe.send(Request.GET_CONFIG, configPayload(0, new Uint8Array(4))),
  },
  {
    name: "a backend request channel that was not negotiated",
    code: "VHOST_NOT_NEGOTIATED",
    run: (fe) => fe.send(Request.SET_BACKEND_REQ_FD, new Uint8Array(0), [fe.kick[0]!]),
  },
  {
    name: "a memory region wrapping past 2^64",
    code: "VHOST_REGION_WRAP",
    run: (fe) =>
      fe.send(
        Request.SET_MEM_TABLE,
        memTablePayload([region({ guestAddr: (1n << 64n) - 0x1000n })]),
        [
          fe.ramFd,
        ],
      ),
  },
  {
    name: "overlapping memory regions",
    code: "VHOST_REGION_OVERLAP",
    run: (fe) =>
      fe.send(
        Request.SET_MEM_TABLE,
        memTablePayload([
          region(),
          region({ guestAddr: BigInt(GUEST_BASE + 0x1000), userAddr: 0n }),
        ]),
        [fe.ramFd, fe.ramFd],
      ),
  },
  {
    name: "a memory region larger than its file",
    code: "MMAP_FILE_TOO_SMALL",
    run: (fe) =>
      fe.send(Request.SET_MEM_TABLE, memTablePayload([region({ mmapOffset: 0x1000n })]), [
        fe.ramFd,
      ]),
  },
  {
    name: "two memory regions (one is served)",
    code: "VHOST_MULTIPLE_REGIONS",
    run: (fe) =>
      fe.send(
        Request.SET_MEM_TABLE,
        memTablePayload([
          region({ size: 0x1000n }),
          region({
            guestAddr: BigInt(GUEST_BASE + 0x1000),
            userAddr: BigInt(USER_BASE + 0x1000),
            size: 0x1000n,
          }),
        ]),
        [fe.ramFd, fe.ramFd],
      ),
  },
  {
    name: "ring addresses outside the memory",
    code: "VHOST_ADDR_OUTSIDE",
    run: (fe) =>
      fe.handshake({
        vring1Addr: { desc: BigInt(USER_BASE + GUEST_SIZE - 0x100), avail: 0n, used: 0n },
      }),
  },
  {
    name: "rings not in the contiguous split layout",
    code: "VHOST_RING_LAYOUT",
    run: (fe) => {
      const d = BigInt(USER_BASE + 0x8000);
      return fe.handshake({ vring1Addr: { desc: d, avail: d + 0x1000n, used: d + 0x2010n } });
    },
  },
  {
    name: "a header cut short by the disconnect",
    code: "VHOST_TRUNCATED",
    run: (fe) =>
      fe.sendRaw(encodeMessage(Request.GET_FEATURES, 1, new Uint8Array(0)).subarray(0, 7)),
  },
  {
    name: "the avail index jumping by more than the queue size",
    code: "VHOST_DEVICE_FAILED",
    run: async (fe) => {
      await fe.handshake();
      const bus = fe.startBus();
      // Make vring1's avail.idx jump by 1000, then kick.
      const idx = LAYOUT.vring1.pa + 16 * LAYOUT.vring1.num + 2;
      fe.ram.atomicStoreU16(idx, 1000);
      assert.equal(bus.vrings[1].numFree, 256);
      writeFd(fe.kick[1]!, u64Payload(1n), "kick");
    },
  },
];

Deno.test("hostile front-ends are reported and dropped; the back-end serves the next one", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/hostile.sock`;
  const { server } = serveVhostUserRpmsg(path, { services: [echoService(), sampleService()] });
  try {
    for (const c of CASES) {
      await t.step(c.name, async () => {
        const before = server.ended.length;
        const fe = TestFrontEnd.connect(path);
        try {
          try {
            await c.run(fe);
          } catch {
            // a handshake step may be refused mid-way: the back-end's report is what counts
          }
          if (c.code === "VHOST_TRUNCATED") closeFd(fe.fd);
          const end = await server.nextEnd(10_000, before);
          assert(end, `no report for "${c.name}"`);
          assert.equal(end.code, c.code, end.error ?? "");
          assert(end.error && end.error.length > 10);
          if (c.code !== "VHOST_TRUNCATED") assert(await fe.waitClosed(), "front-end not dropped");
        } finally {
          fe.close();
        }
      });
    }
    await t.step("a well-behaved front-end afterwards", async () => {
      const before = server.ended.length;
      using fe = TestFrontEnd.connect(path);
      await fe.handshake();
      const r = await runSample(await fe.channel("rpmsg-client-sample"));
      assert(r.passed, r.failures.join("; "));
      fe.close();
      assert.equal((await server.nextEnd(5000, before))?.error, null);
    });
    // Nothing leaked: no descriptor or mapping of a front-end's RAM file is left open.
    const open = [...Deno.readDirSync("/proc/self/fd")].flatMap((e) => {
      try {
        return [Deno.readLinkSync(`/proc/self/fd/${e.name}`)];
      } catch {
        return [];
      }
    }).filter((l) => l.includes("amp-vhost-ram-"));
    assert.deepEqual(open, []);
    const maps = Deno.readTextFileSync("/proc/self/maps").split("\n").filter((l) =>
      l.includes("amp-vhost-ram-")
    );
    assert.deepEqual(maps, []);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
