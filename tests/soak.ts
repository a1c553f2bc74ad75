#!/usr/bin/env -S deno run --allow-all
/**
 * Soak: N messages (default 10M) between amp's host and the simulated remote
 * in another process (started by `amp load` in a third one), each carrying a
 * sequence number and a checksum, echoed back and checked; a window of
 * messages in flight keeps the link busy. Prints sent / received / lost /
 * corrupted / out of order, the rate, and the RSS of the host, the owner and
 * the remote at the start and the end. Exit 0 only when nothing was lost or
 * corrupted.
 *
 * ```sh
 * deno task soak                      # 10 000 000 messages
 * deno task soak --messages 100000    # what CI runs
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openDemoSession } from "../lib/demos/run.ts";
import { loadProfile } from "../lib/machine/load.ts";
import { runProfilePath } from "../lib/runtime/owner.ts";
import { liveEntries } from "../lib/runtime/status.ts";
import { CLI, SEED_ELF } from "./_cli_env.ts";

/** Header of every soak message: u32 sequence (low), u32 sequence (high), u32 checksum, u32 length. */
const HDR = 16;
const SERVICE = "rpmsg-openamp-demo-channel";

/** FNV-1a over `b` (the checksum of a soak payload). */
export function fnv1a(b: Uint8Array, from = 0): number {
  let h = 0x811c9dc5;
  for (let i = from; i < b.length; i++) {
    h ^= b[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** RSS of `pid` in KiB (`/proc/<pid>/status` VmRSS), or -1. */
export function rssKiB(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

function mib(kib: number): string {
  return kib < 0 ? "?" : `${(kib / 1024).toFixed(1)} MiB`;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== "--"),
    strict: true,
    options: {
      messages: { type: "string", default: "10000000" },
      window: { type: "string", default: "32" },
      seed: { type: "string", default: "1" },
    },
  });
  const total = Number(values.messages);
  const window = Number(values.window);
  let rng = Number(values.seed) >>> 0 || 1;
  if (!Number.isSafeInteger(total) || total < 1 || !(window >= 1 && window <= 128)) {
    console.error("soak: --messages N (>= 1) and --window 1..128");
    return 2;
  }
  const dir = await Deno.makeTempDir({ prefix: "amp-soak-" });
  const prefix = `amp-soak-${Deno.pid}`;
  const env = { AMP_STATE_DIR: dir, AMP_SIM_PREFIX: prefix };
  const owner = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, "load", SEED_ELF, "1", "--machine", "sim"],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    let entry;
    for (let i = 0; i < 600 && !entry; i++) {
      entry = (await liveEntries({ dir })).find((e) => e.state === "running");
      if (!entry) await new Promise((r) => setTimeout(r, 50));
    }
    if (!entry) throw new Error("amp load did not start the simulated remote");
    const remotePid = entry.children?.[0]?.pid ?? -1;
    const profile = await loadProfile(runProfilePath(dir, entry.pid, entry.cpu));
    const rss0 = { host: rssKiB(Deno.pid), owner: rssKiB(entry.pid), remote: rssKiB(remotePid) };
    const s = await openDemoSession(undefined, profile, { entry, timeoutMs: 10_000, lockDir: dir });
    let sent = 0, received = 0, corrupted = 0, outOfOrder = 0;
    const t0 = performance.now();
    try {
      const ch = await s.channel(SERVICE);
      const max = ch.maxPayload;
      const next = () => {
        rng ^= rng << 13;
        rng ^= rng >>> 17;
        rng ^= rng << 5;
        return rng >>> 0;
      };
      const make = (seq: number): Uint8Array => {
        const len = HDR + (next() % (max - HDR + 1));
        const m = new Uint8Array(len);
        for (let i = HDR; i < len; i++) m[i] = next() & 0xff;
        const dv = new DataView(m.buffer);
        dv.setUint32(0, seq >>> 0, true);
        dv.setUint32(4, Math.floor(seq / 2 ** 32), true);
        dv.setUint32(12, len, true);
        dv.setUint32(8, fnv1a(m, 12), true);
        return m;
      };
      let expect = 0;
      let lastReport = t0;
      while (received < total) {
        while (sent < total && sent - received < window) {
          await ch.send(make(sent));
          sent++;
        }
        let m: Uint8Array;
        try {
          m = await ch.recv(5000);
        } catch (e) {
          console.error(`soak: after ${received} echoes: ${(e as Error).message}`);
          break;
        }
        received++;
        const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
        const ok = m.length >= HDR && dv.getUint32(12, true) === m.length &&
          dv.getUint32(8, true) === fnv1a(m, 12);
        if (!ok) corrupted++;
        const seq = m.length >= 8 ? dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32 : -1;
        if (ok && seq !== expect) outOfOrder++;
        expect = seq + 1;
        const now = performance.now();
        if (now - lastReport > 10_000) {
          lastReport = now;
          console.log(
            `soak: ${received}/${total} echoed, ${
              Math.round(received / ((now - t0) / 1000))
            } msgs/s, remote RSS ${mib(rssKiB(remotePid))}`,
          );
        }
      }
    } finally {
      await s.close();
    }
    const secs = (performance.now() - t0) / 1000;
    const rss1 = { host: rssKiB(Deno.pid), owner: rssKiB(entry.pid), remote: rssKiB(remotePid) };
    const lost = sent - received;
    console.log(
      `soak: ${sent} sent, ${received} received, ${lost} lost, ${corrupted} corrupted, ${outOfOrder} out of order in ${
        secs.toFixed(1)
      } s (${Math.round(received / secs)} msgs/s)`,
    );
    for (const k of ["host", "owner", "remote"] as const) {
      console.log(`soak: RSS ${k}: ${mib(rss0[k])} at start, ${mib(rss1[k])} at end`);
    }
    return lost === 0 && corrupted === 0 && outOfOrder === 0 ? 0 : 1;
  } finally {
    try {
      owner.kill("SIGTERM");
    } catch { /* gone */ }
    await owner.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
