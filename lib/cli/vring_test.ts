import assert from "node:assert/strict";
import { mapFile } from "../mem/mmap.ts";
import { qemuRv64Profile } from "../machine/profiles/qemu_rv64.ts";
import { InProcessNotifier } from "../notify/in_process.ts";
import { createRpmsgDevice } from "../rpmsg/create.ts";
import {
  buildResourceTable,
  rpmsgVdev,
  serializeResourceTable,
  vdevStatusAddr,
} from "../rsc/table.ts";
import type { VdevDump } from "../diag/vring_dump.ts";
import { captureIo } from "./_io.ts";
import { runCli } from "./main.ts";
import { vringCommand } from "./vring.ts";

async function run(argv: string[]) {
  const io = captureIo();
  const code = await runCli(argv, { commands: [vringCommand], version: "t", io });
  return { code, out: io.out, err: io.err };
}

Deno.test("amp vring dump decodes a live channel in another mapping, text and JSON", async () => {
  const name = `amp-vring-test-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
  const ramFile = `/dev/shm/${name}`;
  const profilePath = await Deno.makeTempFile({ suffix: ".json" });
  const shm = mapFile(ramFile, {
    base: 0x9010_0000,
    size: 0x8_0000,
    offset: 0x1010_0000,
    create: true,
  });
  try {
    await Deno.truncate(ramFile, 0x10a0_0000); // the whole guest view, sparse
    await Deno.writeTextFile(profilePath, JSON.stringify(qemuRv64Profile({ name })));
    const vr = { align: 0x1000, num: 256 };
    const t = buildResourceTable([rpmsgVdev({
      vrings: [
        { ...vr, da: 0x9016_0000, notifyid: 1 },
        { ...vr, da: 0x9016_4000, notifyid: 2 },
      ],
    })], { offsetSlots: 8 });
    const bytes = serializeResourceTable(t);
    bytes[vdevStatusAddr(0, t.entries[0]!)] = 4;
    new DataView(bytes.buffer).setUint32(t.entries[0]!.offset + 16, 1, true);
    shm.write(0x9010_0000, bytes);
    const [nh, nr] = InProcessNotifier.pair();
    const layout = {
      vring0: { pa: 0x9016_0000, num: 256, align: 0x1000 },
      vring1: { pa: 0x9016_4000, num: 256, align: 0x1000 },
      pool: { base: 0x9012_0000, size: 0x4_0000 },
    };
    const host = createRpmsgDevice({ role: "driver", region: shm, notifier: nh, ...layout });
    const remote = createRpmsgDevice({ role: "device", region: shm, notifier: nr, ...layout });
    remote.createEndpoint({ name: "echo", addr: 1024, onMessage: (d, _s, ep) => ep.trySend(d) });
    const ep = host.createEndpoint({ name: "echo", onMessage: () => {} });
    remote.poll();
    host.poll();
    for (let i = 0; i < 3; i++) {
      await ep.send(new Uint8Array(100 + i));
      remote.poll();
      host.poll();
    }

    const txt = await run(["vring", "dump", "--machine", profilePath, "--last", "2"]);
    assert.equal(txt.err, "");
    assert.equal(txt.code, 0);
    assert.match(txt.out, /^Resource table at 0x90100000 on qemu-rv64: ok$/m);
    assert.match(txt.out, /status 0x4 DRIVER_OK/);
    assert.match(txt.out, /negotiated NS/);
    assert.match(txt.out, /vring0 at 0x90160000: num 256, align 0x1000, notifyid 1/);
    assert.match(
      txt.out,
      /last 2 used:\n.*src 1024 dst 1024 len 101.*\n.*src 1024 dst 1024 len 102/,
    );

    const js = await run(["vring", "dump", "--machine", profilePath, "--json", "--last", "1"]);
    assert.equal(js.code, 0);
    const d = JSON.parse(js.out) as VdevDump;
    assert.equal(d.vdevs[0]?.status, 4);
    assert.deepEqual(d.vdevs[0]?.vrings.map((v) => [v.availIdx, v.usedIdx]), [[260, 4], [4, 4]]);
    assert.equal(d.vdevs[0]?.vrings[0]?.lastUsed[0]?.header?.len, 102);
    host.close();
    remote.close();
  } finally {
    shm.close();
    await Deno.remove(ramFile).catch(() => {});
    await Deno.remove(profilePath).catch(() => {});
  }
});

Deno.test("amp vring: usage errors exit 2", async () => {
  let r = await run(["vring", "show", "--machine", "qemu-rv64"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /Unknown vring subcommand "show"/);
  r = await run(["vring", "dump", "--machine", "qemu-rv64", "--last", "x"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--last must be a number/);
  r = await run(["vring"]);
  assert.equal(r.code, 2);
});
