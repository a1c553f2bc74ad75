/**
 * `amp remote <service...>`: run amp as the remote (virtio device) of a
 * machine whose remote is a Linux process, `openamp-linux` by default, so
 * upstream OpenAMP's driver apps (msg-test ping, sample ping, matrix
 * multiply) or amp's own host verbs can talk to it.
 *
 * @module
 */

import { AmpError, UsageError } from "../errors.ts";
import { remoteLocks } from "../runtime/locks.ts";
import { dieWithParent } from "../util/orphans.ts";
import { loadProfile } from "../machine/load.ts";
import { type LinuxRemote, remoteServices, startLinuxRemote } from "../device/mod.ts";
import { type Command, defineCommand } from "./_command.ts";
import { intOption } from "./_demos.ts";
import { runVhostRemote } from "./_kernel.ts";
import { renameLinks } from "./_links.ts";
import { PRIME_MESSAGES, primeRemote } from "../prime/mod.ts";

/** The machine `amp remote` serves when `--machine` is absent. */
export const REMOTE_DEFAULT_MACHINE = "openamp-linux";

/** `amp remote`. */
export const remoteCommand: Command = defineCommand({
  name: "remote",
  summary: "Run amp as the remote (virtio device) serving echo, sample and/or matrix",
  usage:
    "remote <echo|sample|matrix>... [--machine NAME|FILE] [--shm-name NAME] [--socket PATH] [--sessions N] [--keep-shm] [--detach] [--prime N] | [--vhost-user SOCKET]",
  description:
    "Creates the machine's shared memory, writes the remote's resource table, listens on\n" +
    "the notification socket and serves host sessions until Ctrl+C (or --sessions N).\n" +
    'Services: echo ("rpmsg-openamp-demo-channel"), sample ("rpmsg-client-sample", its\n' +
    "endpoint is destroyed after 100 messages as upstream's sample does), matrix\n" +
    '("rpmsg-openamp-demo-channel" when run alone, as upstream\'s matrix daemon;\n' +
    '"rpmsg-openamp-matrix" next to echo). A session ends when the host disconnects;\n' +
    "the table is then written again for the next host. On exit the socket file and the\n" +
    "shm object are removed (unless --keep-shm).\n" +
    "One amp remote per shm object and per socket: a second one is refused at once, naming\n" +
    "the first (a lock the kernel drops when its holder exits). It stops, cleaning up, when\n" +
    "the process that started it dies or its terminal hangs up, unless --detach.\n" +
    "On a machine notified by a socket it primes itself before it writes the table:\n" +
    `${PRIME_MESSAGES} echo round trips with a private host in its own process (under 0.1 s),\n` +
    "so its first host finds its message path compiled; --prime N sets the count, 0 skips it.\n" +
    "With --vhost-user SOCKET, amp is instead a vhost-user rpmsg device (virtio id 7) for a\n" +
    "front-end such as User-Mode Linux (virtio_uml.device=SOCKET:7): the guest kernel is the\n" +
    "host; front-ends are served one after another (--sessions N: exit after N).",
  options: {
    machine: {
      type: "string",
      short: "m",
      valueName: "NAME|FILE",
      description: `The machine (default ${REMOTE_DEFAULT_MACHINE})`,
    },
    "shm-name": {
      type: "string",
      valueName: "NAME",
      description: "Shared-memory object name (default: the machine's, openamp.shm)",
    },
    socket: {
      type: "string",
      valueName: "PATH",
      description: "Notification socket (default: the machine's, /tmp/openamp.event.0)",
    },
    sessions: {
      type: "string",
      valueName: "N",
      description: "Exit after N host sessions have ended (default: run until Ctrl+C)",
    },
    "keep-shm": { type: "boolean", description: "Leave the shm object in place on exit" },
    "vhost-user": {
      type: "string",
      valueName: "SOCKET",
      description: "Serve a vhost-user front-end (e.g. UML's virtio_uml) on this socket instead",
    },
    "call-delay": {
      type: "string",
      valueName: "MS",
      description:
        "--vhost-user: write each interrupt to the guest MS ms late (default 2; 0 = at once)",
    },
    prime: {
      type: "string",
      valueName: "N",
      description:
        `Echo round trips to prime the message path with before serving (default ${PRIME_MESSAGES} on a machine notified by a socket, else 0; not with --vhost-user)`,
    },
    detach: {
      type: "boolean",
      description: "Keep serving when the process that started it (or its terminal) goes away",
    },
  },
  args: { min: 1, max: 3, names: "service..." },
  async run(ctx) {
    const vhost = ctx.values["vhost-user"];
    if (typeof vhost === "string") return runVhostRemote(ctx, ctx.positionals, vhost);
    const services = remoteServices(ctx.positionals);
    const v = ctx.values;
    const str = (k: string) => (typeof v[k] === "string" ? v[k] as string : undefined);
    const shmName = str("shm-name"), socketPath = str("socket");
    if (socketPath === "") throw new UsageError("--socket must not be empty");
    let profile = await loadProfile(str("machine") ?? REMOTE_DEFAULT_MACHINE);
    if (shmName !== undefined || socketPath !== undefined) {
      profile = renameLinks(profile, {
        ...(shmName !== undefined ? { shmName } : {}),
        ...(socketPath !== undefined ? { socketPath } : {}),
      });
    }
    const maxSessions = intOption(v.sessions, "sessions");
    // Not by default over a polled word: primed, the sim remote (polled too)
    // measured a slower first bench than unprimed (bench/README.md).
    const prime = intOption(v.prime, "prime", 0, 1e6) ??
      (profile.notify.kind === "socket" ? PRIME_MESSAGES : 0);
    const detach = v.detach === true;
    // Not without its parent: SIGTERM (handled below) when the parent dies.
    if (!detach && !dieWithParent("SIGTERM")) {
      throw new AmpError("PARENT_GONE", "The process that started amp remote is already gone");
    }
    const locks = await remoteLocks(profile);
    let remote: LinuxRemote;
    try {
      // Before anything is published: no host can meet an unprimed remote.
      // Priming is only a speed-up, so a failure is reported and serving goes on.
      try {
        const p = await primeRemote({ profile, messages: prime });
        if (ctx.verbose && p.messages > 0) {
          ctx.out(`remote: primed with ${p.messages} echo round trips in ${p.ms.toFixed(0)} ms`);
        }
      } catch (e) {
        ctx.err(`amp remote: priming failed (${(e as Error).message}); serving unprimed`);
      }
      remote = await startLinuxRemote({
        profile,
        services,
        ...(maxSessions !== undefined ? { maxSessions } : {}),
        keepShm: v["keep-shm"] === true,
        log: (l) => {
          if (ctx.verbose || l.startsWith("remote: ")) ctx.out(l);
        },
      });
    } catch (e) {
      locks.release();
      throw e;
    }
    const stop = () => void remote.stop().catch(() => {});
    const signals: Deno.Signal[] = detach ? ["SIGINT", "SIGTERM"] : ["SIGINT", "SIGTERM", "SIGHUP"];
    for (const sig of signals) Deno.addSignalListener(sig, stop);
    try {
      ctx.out(
        `amp remote: serving ${
          services.map((s) => `"${s.name}"`).join(", ")
        } on machine "${profile.name}"${
          maxSessions === undefined ? "; Ctrl+C to stop" : ` for ${maxSessions} session(s)`
        }`,
      );
      await remote.done;
    } finally {
      for (const sig of signals) Deno.removeSignalListener(sig, stop);
      locks.release();
    }
    const st = remote.device.stats;
    ctx.out(
      `amp remote: stopped after ${remote.sessions} session(s); ${st.rxMessages} messages received, ${st.txMessages} sent`,
    );
    return 0;
  },
});
