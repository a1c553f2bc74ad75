/**
 * The simulated remote as a separate process: the child's main function
 * ({@linkcode simRemoteMain}, behind `amp __sim-remote` and `lib/sim/main.ts`)
 * and the parent's launcher ({@linkcode spawnSimRemote}, used by the `sim`
 * control backend's start hook).
 *
 * Protocol: the child prints `ready` on its own stdout line once it serves;
 * any other stdout line is a log line. It stops on SIGTERM/SIGINT and when its
 * stdin reaches end of file (the parent died), and exits 0 after releasing
 * everything. With `--console PATH --console-log LOG` it also runs the
 * simulated serial console ({@linkcode SimShell}) on a UNIX socket at PATH,
 * appending everything it prints to LOG.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { AmpError, ConfigError, TimeoutError, UsageError } from "../errors.ts";
import { echoService, matrixService, sampleService } from "../apps/services.ts";
import type { MachineProfile } from "../machine/types.ts";
import { validateProfile } from "../machine/validate.ts";
import { hex } from "../mem/region.ts";
import { startDevice } from "../device/runtime.ts";
import { dieWithParent } from "../util/orphans.ts";
import { type ShellActions, SimShell } from "./shell.ts";
import { Chaos } from "./chaos.ts";

/** The line the child prints when it serves. */
export const SIM_READY_LINE = "ready";

/**
 * The services the simulated remote runs, like the demo firmware's default mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultSimServices } from "./process.ts";
 * const names = defaultSimServices().map((s) => s.name);
 * assert(names.join() === "rpmsg-openamp-demo-channel,rpmsg-client-sample,rpmsg-openamp-matrix");
 * ```
 */
export function defaultSimServices(): ReturnType<typeof echoService>[] {
  return [echoService(), sampleService(), matrixService()];
}

function parseAddr(s: string | undefined, what: string): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`__sim-remote: bad ${what} "${s}"`);
  return n;
}

/**
 * Child side: `--profile-json JSON --rsc-addr ADDR [--rsc-size N]`. Runs until
 * a signal or stdin EOF; returns the exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { simRemoteMain } from "./process.ts";
 * const lines: string[] = [];
 * assert((await simRemoteMain(["--rsc-addr", "1"], (l) => lines.push(l))) === 2);
 * ```
 */
export async function simRemoteMain(
  args: string[],
  write: (line: string) => void = (l) => console.log(l),
): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        "profile-json": { type: "string" },
        "rsc-addr": { type: "string" },
        "rsc-size": { type: "string" },
        "stdin-watch": { type: "boolean" },
        "console": { type: "string" },
        "console-log": { type: "string" },
        "chaos": { type: "string" },
      },
      strict: true,
    }).values;
  } catch (e) {
    write(`sim: ${(e as Error).message}`);
    return 2;
  }
  if (values["profile-json"] === undefined || values["rsc-addr"] === undefined) {
    write("sim: usage: __sim-remote --profile-json JSON --rsc-addr ADDR [--rsc-size N]");
    return 2;
  }
  // Die with the owner (`amp load`), even when it is killed with SIGKILL.
  if (!dieWithParent("SIGTERM")) {
    write("sim: the process that started it is already gone");
    return 1;
  }
  let profile: MachineProfile;
  try {
    profile = validateProfile(JSON.parse(values["profile-json"]), "sim profile");
  } catch (e) {
    write(`sim: bad profile: ${(e as Error).message}`);
    return 2;
  }
  const chaosSpec = values.chaos === undefined ? undefined : parseChaos(values.chaos);
  if (chaosSpec === null) {
    write(`sim: bad --chaos "${values.chaos}" (SEED or SEED:MEAN_MS)`);
    return 2;
  }
  const rscAddr = parseAddr(values["rsc-addr"], "--rsc-addr")!;
  const rscSize = parseAddr(values["rsc-size"], "--rsc-size");
  const sim = await startDevice({
    profile,
    rscAddr,
    ...(rscSize !== undefined ? { rscSize } : {}),
    services: defaultSimServices(),
    log: write,
    onSession: (event, n) => {
      if (event === "start") chaos?.sessionStarted(n);
      else chaos?.sessionEnded();
    },
  });
  const chaos: Chaos | undefined = chaosSpec
    ? new Chaos(sim.memory, profile, sim.device, { ...chaosSpec, log: write })
    : undefined;
  if (chaos) write(`sim: CHAOS MODE (seed ${chaosSpec!.seed}): a hostile remote on purpose`);
  const con = values.console !== undefined && values["console-log"] !== undefined
    ? await SimConsole.start(values.console, values["console-log"], {
      startRpmsg: () => sim.restart(),
      startShmem: () => sim.restartShmem(),
    })
    : undefined;
  write(
    `sim: simulating remote core on machine "${profile.name}" (the firmware's code is not executed); table from ${
      hex(rscAddr)
    }`,
  );
  // Listen for SIGTERM before saying ready: a parent that stops us right
  // after the ready line must get a clean stop, not the default action.
  const stop = () => void sim.stop();
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  write(SIM_READY_LINE);
  if (values["stdin-watch"]) {
    // The parent holds our stdin open; EOF means it is gone.
    (async () => {
      const buf = new Uint8Array(64);
      try {
        while ((await Deno.stdin.read(buf)) !== null) { /* ignore input */ }
      } catch { /* closed */ }
      stop();
    })();
  }
  try {
    await sim.done;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
    await con?.close();
    chaos?.close();
  }
  write(`sim: stopped after ${sim.sessions} host session(s)`);
  return 0;
}

/** Options for {@linkcode spawnSimRemote}. */
export interface SpawnSimOptions {
  /** The command that runs `__sim-remote` (e.g. `[deno, "run", "-A", "cli.ts", "__sim-remote"]`). */
  command: string[];
  /** The machine. */
  profile: MachineProfile;
  /** The firmware table's image address. */
  rscAddr: number;
  /** Bytes of the table section. */
  rscSize?: number;
  /** Longest wait for `ready`, ms (default 20000). */
  readyTimeoutMs?: number;
  /** The child's log lines. */
  log?: (line: string) => void;
  /** Run the simulated console on this UNIX socket (with `consoleLog`). */
  consoleSocket?: string;
  /** Append everything the simulated console prints to this file. */
  consoleLog?: string;
  /** Chaos mode: `SEED` or `SEED:MEAN_MS` (see `chaos.ts`). */
  chaos?: string;
}

/** A running simulated-remote child process. */
export interface SimProcess {
  /** Its pid. */
  readonly pid: number;
  /** Resolves with the exit code when the child exits (for any reason). */
  readonly exited: Promise<number>;
  /** The exit code once the child exited, else undefined. */
  readonly exitCode: number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5000); resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

/**
 * Parent side: start the child and wait for its `ready` line. The child is
 * killed if it does not get ready in time or exits first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawnSimRemote } from "./process.ts";
 * import { mapProfileRegions } from "../machine/map.ts";
 * import { simProfile } from "../machine/profiles/sim.ts";
 * import { removeShm } from "../mem/shm.ts";
 * import { seedResourceTable } from "../../examples/make_seed_elf.ts";
 * const profile = simProfile({ prefix: `amp-doc-spawn-${Deno.pid}` });
 * const mem = await mapProfileRegions(profile); // the host creates the shm objects
 * mem.get(0x9020_0100).write(0x9020_0100, seedResourceTable());
 * const main = new URL("./main.ts", import.meta.url).pathname;
 * const sim = await spawnSimRemote({
 *   command: [Deno.execPath(), "run", "--allow-all", main],
 *   profile,
 *   rscAddr: 0x9020_0100,
 * });
 * assert(mem.get(0x9010_0000).u32(0x9010_0000) === 1); // table published
 * assert((await sim.stop()) === 0);
 * mem.close();
 * for (const r of profile.regions) if (r.backing.kind === "shm") removeShm(r.backing.name);
 * ```
 */
export async function spawnSimRemote(options: SpawnSimOptions): Promise<SimProcess> {
  const [cmd, ...pre] = options.command;
  if (cmd === undefined) {
    throw new ConfigError("SIM_COMMAND", "Cannot start the simulated remote: its command is empty");
  }
  const args = [
    ...pre,
    "--profile-json",
    JSON.stringify(options.profile),
    "--rsc-addr",
    String(options.rscAddr),
    "--stdin-watch",
  ];
  if (options.rscSize !== undefined) args.push("--rsc-size", String(options.rscSize));
  if (options.chaos !== undefined) args.push("--chaos", options.chaos);
  if (options.consoleSocket !== undefined && options.consoleLog !== undefined) {
    args.push("--console", options.consoleSocket, "--console-log", options.consoleLog);
  }
  const log = options.log ?? (() => {});
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const status = child.status;
  let exited: Deno.CommandStatus | undefined;
  status.then((s) => (exited = s));
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const reader = (async () => {
    const dec = new TextDecoderStream();
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(dec)) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === SIM_READY_LINE) readyResolve();
        else log(line);
      }
    }
    if (buf) log(buf);
  })();
  const kill = async (graceMs: number): Promise<number> => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const t = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, graceMs);
      await status;
      clearTimeout(t);
    }
    try {
      await child.stdin.close();
    } catch { /* already closed */ }
    await reader.catch(() => {});
    return (await status).code;
  };
  const timeoutMs = options.readyTimeoutMs ?? 20_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    ready.then(() => "ready" as const),
    status.then(() => "exited" as const),
    new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome !== "ready") {
    const code = await kill(1000);
    if (outcome === "timeout") {
      throw new TimeoutError(
        `waiting for the simulated remote (pid ${child.pid}) to start`,
        timeoutMs,
      );
    }
    throw new AmpError(
      "SIM_EXITED",
      `The simulated remote (pid ${child.pid}) exited with code ${code} before it was ready`,
    );
  }
  return {
    pid: child.pid,
    exited: status.then((s) => s.code),
    get exitCode() {
      return exited?.code;
    },
    stop: (graceMs = 5000) => kill(graceMs),
  };
}

/**
 * The V8 flags amp runs with: those of cli.ts's shebang, the bundle's and the
 * `amp`, `demo` and `compile` tasks (`tests/bundle_test.ts` checks they
 * agree). Compiling on the main thread keeps V8's helper threads off the two
 * cores that both rpmsg sides spin on, and Maglev is the top tier.
 */
export const AMP_V8_FLAGS = "--single-threaded,--max-opt=2";

/**
 * The command that runs `amp __sim-remote` from this process: the compiled
 * `amp` binary itself (its flags are built in), or `deno run --allow-all`
 * with {@linkcode AMP_V8_FLAGS} and the main module (cli.ts or the bundle
 * dist/amp.js).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selfSimCommand } from "./process.ts";
 * assert(selfSimCommand().at(-1) === "__sim-remote");
 * ```
 */
export function selfSimCommand(): string[] {
  const exe = Deno.execPath();
  const base = exe.slice(exe.lastIndexOf("/") + 1);
  if (!/^deno(\.exe)?$/.test(base)) return [exe, "__sim-remote"];
  const main = Deno.mainModule.startsWith("file:")
    ? decodeURIComponent(new URL(Deno.mainModule).pathname)
    : Deno.mainModule;
  return [exe, "run", "--allow-all", `--v8-flags=${AMP_V8_FLAGS}`, main, "__sim-remote"];
}

/** The simulated core's console: one client at a time on a UNIX socket, everything logged. */
class SimConsole {
  readonly #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  readonly #log: Deno.FsFile;
  readonly #path: string;
  readonly #shell: SimShell;
  #client: Deno.UnixConn | undefined;
  readonly #loop: Promise<void>;
  #closed = false;

  private constructor(path: string, log: Deno.FsFile, actions: ShellActions) {
    this.#path = path;
    this.#log = log;
    try {
      Deno.removeSync(path);
    } catch { /* not there */ }
    this.#listener = Deno.listen({ transport: "unix", path });
    this.#shell = new SimShell((t) => this.#out(t), actions);
    this.#shell.boot();
    this.#loop = this.#accept();
  }

  static async start(path: string, logPath: string, actions: ShellActions): Promise<SimConsole> {
    const log = await Deno.open(logPath, { append: true, create: true, mode: 0o600 });
    return new SimConsole(path, log, actions);
  }

  #out(text: string): void {
    const bytes = new TextEncoder().encode(text);
    try {
      this.#log.writeSync(bytes);
    } catch { /* the log is best effort */ }
    const c = this.#client;
    if (c) c.write(bytes).catch(() => this.#drop(c));
  }

  #drop(c: Deno.UnixConn): void {
    if (this.#client === c) this.#client = undefined;
    try {
      c.close();
    } catch { /* closed */ }
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return;
      }
      // A new console connection replaces the old one (the owner reconnected).
      if (this.#client) this.#drop(this.#client);
      this.#client = conn;
      (async () => {
        const buf = new Uint8Array(1024);
        for (;;) {
          let n: number | null;
          try {
            n = await conn.read(buf);
          } catch {
            n = null;
          }
          if (n === null) break;
          this.#shell.input(buf.subarray(0, n));
        }
        this.#drop(conn);
      })();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch { /* closed */ }
    if (this.#client) this.#drop(this.#client);
    await this.#loop;
    this.#log.close();
    try {
      Deno.removeSync(this.#path);
    } catch { /* gone */ }
  }
}

/**
 * `SEED` or `SEED:MEAN_MS` of `--chaos`, or null when malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseChaos } from "./process.ts";
 * assert.deepEqual(parseChaos("7"), { seed: 7 });
 * assert.deepEqual(parseChaos("7:20"), { seed: 7, meanMs: 20 });
 * assert(parseChaos("x") === null && parseChaos("7:0") === null);
 * ```
 */
export function parseChaos(spec: string): { seed: number; meanMs?: number } | null {
  const m = /^([0-9]{1,10})(?::([0-9]{1,6}))?$/.exec(spec);
  if (!m) return null;
  const seed = Number(m[1]);
  if (m[2] === undefined) return { seed };
  const meanMs = Number(m[2]);
  return meanMs >= 1 ? { seed, meanMs } : null;
}
