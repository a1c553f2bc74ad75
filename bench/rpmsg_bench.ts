/**
 * `deno bench` throughput of rpmsg between two Deno processes over /dev/shm
 * (polled-word notifier, spin-then-yield pollers on both sides), next to the
 * limits: a raw polled u32 ping-pong between the same two processes and a
 * memcpy of the same bytes. Latency percentiles (p50/p99) and a summary table
 * come from `deno run -A bench/rpmsg_latency.ts`.
 *
 * Each echo iteration is 100 round trips; each stream iteration is 10 000
 * one-way messages followed by a sync round trip; divide accordingly.
 *
 * @module
 */

import {
  echoRoundTrips,
  memcpy,
  openLink,
  openRaw,
  rawPingPong,
  SIZES,
  stream,
} from "./rpmsg_latency.ts";

const SPIN_US = 200;
const echo = await openLink("echo", SPIN_US);
const sink = await openLink("sink", SPIN_US);
const raw = await openRaw(SPIN_US);
let rawNext = 1;
globalThis.addEventListener("unload", () => {
  echo.kill();
  sink.kill();
  raw.kill();
});

Deno.bench("raw u32 ping-pong x100 (limit)", { group: "round trip", baseline: true }, async () => {
  await rawPingPong(raw.shm, 100, rawNext);
  rawNext += 100;
});
for (const size of SIZES) {
  Deno.bench(`rpmsg echo ${size} B x100`, { group: "round trip" }, async () => {
    await echoRoundTrips(echo, size, 100);
  });
}
for (const size of SIZES) {
  Deno.bench(
    `memcpy ${size} B x10000 (limit)`,
    { group: `stream ${size} B`, baseline: true },
    () => {
      memcpy(sink.h.shm, size, 10_000);
    },
  );
  Deno.bench(`rpmsg one-way ${size} B x10000`, { group: `stream ${size} B` }, async () => {
    await stream(sink, size, 10_000);
  });
}
