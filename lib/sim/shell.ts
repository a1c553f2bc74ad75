/**
 * The simulated core's serial console: a small shell that answers like the
 * seed's RT-Thread firmware (prompt `msh />`, its four demo commands), so
 * scripts written for the seed run unchanged against the `sim` machine.
 *
 * The simulated core serves every demo service all the time; a demo command
 * restarts the device-role runtime the way a firmware application start does
 * (the resource table is copied again and the remote waits for a host),
 * which is what a host waiting "by protocol" sees.
 *
 * Input is a byte stream (echoed, with backspace and Ctrl+C); output goes to
 * the `write` callback (the console log and the attached client).
 *
 * @module
 */

/** The prompt, as RT-Thread's shell prints it. */
export const SIM_PROMPT = "msh />";

/** What the commands act on. */
export interface ShellActions {
  /** An rpmsg application starts: copy the table again, wait for a host. */
  startRpmsg(): void;
  /** The shared-memory demo starts: clear its control word. */
  startShmem(): void;
}

/** Shell commands of the simulated core and what each starts. */
export const SIM_COMMANDS: Readonly<Record<string, { help: string; app: "rpmsg" | "shmem" }>> = {
  rpmsg_echo: { help: "rpmsg-client-sample echo (rpmsg-client-sample)", app: "rpmsg" },
  rpmsg_update: { help: "msg-test echo (rpmsg-openamp-demo-channel)", app: "rpmsg" },
  matrix_multiplyd: { help: "matrix multiply (rpmsg-openamp-matrix)", app: "rpmsg" },
  shmem_demod: { help: "libmetal shared memory demo", app: "shmem" },
};

/** Longest input line kept; longer input is cut (the rest is ignored until Enter). */
const MAX_LINE = 256;

/**
 * A line-editing shell over a byte stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SimShell } from "./shell.ts";
 * let out = "";
 * let started = 0;
 * const sh = new SimShell((s) => (out += s), { startRpmsg: () => started++, startShmem: () => {} });
 * sh.boot();
 * sh.input(new TextEncoder().encode("rpmsg_update\r"));
 * assert(started === 1 && out.endsWith("msh />"));
 * ```
 */
export class SimShell {
  readonly #write: (text: string) => void;
  readonly #actions: ShellActions;
  #line = "";
  #lastCr = false;

  /** A shell printing through `write`, starting applications through `actions`. */
  constructor(write: (text: string) => void, actions: ShellActions) {
    this.#write = write;
    this.#actions = actions;
  }

  /** Print the banner and the first prompt. */
  boot(): void {
    this.#write(
      "\r\n \\ | /\r\n- amp -     simulated remote core (the firmware's code is not executed)\r\n" +
        " / | \\     serves: rpmsg-openamp-demo-channel, rpmsg-client-sample, rpmsg-openamp-matrix\r\n" +
        SIM_PROMPT,
    );
  }

  /** Handle typed bytes. */
  input(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (b === 0x0a && this.#lastCr) {
        this.#lastCr = false; // "\r\n" is one Enter
        continue;
      }
      this.#lastCr = b === 0x0d;
      if (b === 0x0d || b === 0x0a) {
        const line = this.#line.trim();
        this.#line = "";
        this.#write("\r\n");
        if (line) this.#run(line);
        this.#write(SIM_PROMPT);
      } else if (b === 0x08 || b === 0x7f) {
        if (this.#line.length > 0) {
          this.#line = this.#line.slice(0, -1);
          this.#write("\b \b");
        }
      } else if (b === 0x03) {
        this.#line = "";
        this.#write("^C\r\n" + SIM_PROMPT);
      } else if (b >= 0x20 && b < 0x7f && this.#line.length < MAX_LINE) {
        const c = String.fromCharCode(b);
        this.#line += c;
        this.#write(c);
      }
    }
  }

  #run(line: string): void {
    const [cmd] = line.split(/\s+/);
    if (cmd === "help") {
      this.#write("shell commands:\r\n");
      for (const [name, c] of Object.entries(SIM_COMMANDS)) {
        this.#write(`${name.padEnd(17)}- ${c.help}\r\n`);
      }
      this.#write(`${"help".padEnd(17)}- this list\r\n`);
      return;
    }
    const c = cmd === undefined ? undefined : SIM_COMMANDS[cmd];
    if (!c) {
      this.#write(`${cmd}: command not found.\r\n`);
      return;
    }
    this.#write("Starting application...\r\n");
    if (c.app === "rpmsg") {
      this.#actions.startRpmsg();
      this.#write("creating remoteproc virtio\r\nwaiting for the host (DRIVER_OK)\r\n");
    } else {
      this.#actions.startShmem();
      this.#write("Wait for shared memory demo to start.\r\n");
    }
    this.#write("simulated: the demo keeps being served in the background\r\n");
  }
}
