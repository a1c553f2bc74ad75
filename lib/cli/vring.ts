/**
 * `amp vring dump`: decode a live rpmsg vdev from shared memory, read-only:
 * status, features, each vring's indices, the descriptors in flight and the
 * headers of the last N messages. The tool for a stuck channel.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { dumpVdev, formatVdevDump } from "../diag/vring_dump.ts";
import { type Command, defineCommand } from "./_command.ts";
import { mapLiveMachine } from "./_live.ts";
import { findTarget } from "./_target.ts";
import { DEMO_OPTIONS, targetOptions } from "./_demos.ts";

/** Entries listed per ring when `--last` is not given. */
export const DEFAULT_LAST = 8;

/** The `amp vring` verb. */
export const vringCommand: Command = defineCommand({
  name: "vring",
  summary: "Decode a live rpmsg vdev and its vrings from shared memory (read-only)",
  usage: "vring dump [--machine NAME|FILE] [--cpu N] [--last N] [--json]",
  description: [
    "Reads the live resource table at the machine layout's address and, for each",
    "vdev: the status byte by name (ACKNOWLEDGE|DRIVER|DRIVER_OK|FEATURES_OK|",
    "NEEDS_RESET|FAILED), dfeatures/gfeatures (bit 0 = NS), and for each vring the",
    "avail and used indices and flags, the descriptors in flight, and the rpmsg",
    "headers {src, dst, len, flags} of the last N used and avail entries.",
    "Nothing is written. Values that make no sense are shown as found, with a note.",
    "Buffers are re-used, so an older entry shows the newest message in its buffer.",
    "When the table has no vdev, the layout's rings are decoded anyway.",
    "--json prints the same data as one JSON object (numbers are numbers).",
  ].join("\n"),
  options: {
    machine: {
      type: "string",
      short: "m",
      valueName: "NAME|FILE",
      description: "The machine (default: the running remote's, from the state file)",
    },
    cpu: {
      type: "string",
      valueName: "N",
      description: "The running remote cpu (default: the only one running)",
    },
    last: {
      type: "string",
      valueName: "N",
      description: `Entries listed per ring (default ${DEFAULT_LAST})`,
    },
    json: { type: "boolean", description: "Print the dump as JSON" },
    "shm-name": DEMO_OPTIONS["shm-name"]!,
    socket: DEMO_OPTIONS.socket!,
  },
  args: { min: 1, max: 1, names: "dump" },
  async run(ctx) {
    const sub = ctx.positionals[0]!;
    if (sub !== "dump") {
      throw new UsageError(
        `Unknown vring subcommand "${sub}" (only "dump"; see amp vring --help)`,
      );
    }
    let last = DEFAULT_LAST;
    const lastArg = ctx.values.last;
    if (lastArg !== undefined) {
      if (typeof lastArg !== "string" || !/^[0-9]{1,5}$/.test(lastArg) || Number(lastArg) > 32768) {
        throw new UsageError(
          `vring dump: --last must be a number 0..32768, got "${String(lastArg)}"`,
        );
      }
      last = Number(lastArg);
    }
    const { profile } = await findTarget(targetOptions(ctx));
    const map = await mapLiveMachine(profile);
    try {
      const d = dumpVdev(map, profile, { last });
      if (ctx.json) ctx.out(JSON.stringify(d, null, 2));
      else ctx.io.stdout(formatVdevDump(d, last));
      return 0;
    } finally {
      map.close();
    }
  },
});
