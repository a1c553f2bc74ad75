/**
 * `deno task kernel`: build (or reuse) the User-Mode Linux kernel the UML
 * end-to-end tests boot.
 *
 * Steps: install Debian's `linux-source-6.1` and the build tools when missing
 * (as root), unpack the tarball into `<cache>/<key>.build/`,
 * `make ARCH=um defconfig`, merge `tests/uml/uml.config` over it,
 * `make ARCH=um olddefconfig`, verify that every option of the fragment came
 * out as asked (Kconfig drops what it cannot satisfy without a word), build
 * `linux` and the modules, and copy the kernel, the rpmsg sample module and the
 * config into `<cache>/<key>/` (see `kernel.ts` for the key). The source tree
 * is removed after a successful build unless `--keep-tree` is given.
 *
 * Prints progress on stderr and the path of the `linux` binary as the last
 * line of stdout. `--config-only` stops after the verification.
 *
 * ```sh
 * npx deno task kernel            # build or reuse; last line: .../linux
 * AMP_UML_CACHE=/tmp/uml npx deno task kernel --config-only
 * ```
 *
 * @module
 */

import {
  buildPaths,
  cacheBase,
  cacheKey,
  FRAGMENT_PATH,
  SOURCE_PACKAGE,
  SOURCE_TARBALL,
  sourceVersion,
} from "./kernel.ts";

const TOOLS = ["make", "gcc", "bc", "bison", "flex", "tar", "xz", "perl"];
const PACKAGES = [
  SOURCE_PACKAGE,
  "build-essential",
  "bc",
  "bison",
  "flex",
  "libelf-dev",
  "xz-utils",
  "perl",
];

function log(msg: string): void {
  console.error(`[kernel] ${msg}`);
}

function fail(msg: string): never {
  console.error(`[kernel] FAILED: ${msg}`);
  Deno.exit(1);
}

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; logFile?: string } = {},
): Promise<void> {
  // With a log file the command's output goes there (through sh, which appends both streams).
  const [file, argv] = opts.logFile
    ? ["sh", ["-c", 'exec "$@" >>"$AMP_BUILD_LOG" 2>&1', "sh", cmd, ...args]]
    : [cmd, args];
  const status = await new Deno.Command(file, {
    args: argv,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
    env: { LC_ALL: "C", ...(opts.logFile ? { AMP_BUILD_LOG: opts.logFile } : {}) },
  }).spawn().status;
  if (!status.success) {
    let tail = "";
    if (opts.logFile) {
      const text = await Deno.readTextFile(opts.logFile);
      tail = "\n" + text.split("\n").slice(-40).join("\n");
    }
    fail(`${cmd} ${args.join(" ")} exited with ${status.code}${tail}`);
  }
}

async function which(tool: string): Promise<boolean> {
  const o = await new Deno.Command("sh", {
    args: ["-c", `command -v ${tool}`],
    stdout: "null",
    stderr: "null",
  }).output();
  return o.success;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function ensureDependencies(): Promise<void> {
  const missingTools: string[] = [];
  for (const t of TOOLS) if (!(await which(t))) missingTools.push(t);
  const haveSource = exists(SOURCE_TARBALL) && (await sourceVersion()) !== undefined;
  if (missingTools.length === 0 && haveSource && exists("/usr/include/libelf.h")) return;
  const what = [...missingTools, ...(haveSource ? [] : [SOURCE_PACKAGE])].join(", ") ||
    "libelf-dev";
  if (Deno.uid() !== 0) {
    fail(`missing ${what}; as root run: apt-get install -y ${PACKAGES.join(" ")}`);
  }
  log(`installing ${PACKAGES.join(" ")} (missing: ${what})`);
  await run("apt-get", ["update"]);
  await run("apt-get", ["install", "-y", "--no-install-recommends", ...PACKAGES]);
  if (!exists(SOURCE_TARBALL)) fail(`${SOURCE_PACKAGE} installed but ${SOURCE_TARBALL} is missing`);
}

/** One wanted setting from the fragment: a value, or `undefined` for "is not set". */
interface Want {
  name: string;
  value: string | undefined;
}

/** Parse a fragment: `CONFIG_X=v` lines and `# CONFIG_X is not set` lines; other comments skipped. */
export function parseFragment(text: string): Want[] {
  const wants: Want[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) {
      wants.push({ name: unset[1]!, value: undefined });
      continue;
    }
    if (line.startsWith("#")) continue;
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.+)$/.exec(line);
    if (!set) throw new Error(`uml.config line ${i + 1} is not a Kconfig setting: ${raw}`);
    wants.push({ name: set[1]!, value: set[2]! });
  }
  return wants;
}

/** The settings of a `.config` file: name to value; "is not set" lines map to undefined. */
export function parseConfig(text: string): Map<string, string | undefined> {
  const m = new Map<string, string | undefined>();
  for (const line of text.split("\n")) {
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) m.set(unset[1]!, undefined);
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (set) m.set(set[1]!, set[2]!);
  }
  return m;
}

/** The fragment's settings that `config` does not have as wanted, one sentence each. */
export function unmetSettings(wants: Want[], config: Map<string, string | undefined>): string[] {
  const bad: string[] = [];
  for (const w of wants) {
    const got = config.get(w.name);
    if (w.value === undefined) {
      if (got !== undefined && got !== "n") bad.push(`${w.name} should be unset but is ${got}`);
    } else if (got !== w.value) {
      bad.push(`${w.name} should be ${w.value} but is ${got === undefined ? "unset" : got}`);
    }
  }
  return bad;
}

/** Replace every fragment symbol in `base` and append the fragment's settings. */
export function mergeConfig(base: string, wants: Want[]): string {
  const names = new Set(wants.map((w) => w.name));
  const kept = base.split("\n").filter((line) => {
    const m = /^(?:# )?(CONFIG_[A-Za-z0-9_]+)[= ]/.exec(line);
    return !(m && names.has(m[1]!));
  });
  const added = wants.map((w) =>
    w.value === undefined ? `# ${w.name} is not set` : `${w.name}=${w.value}`
  );
  return [...kept, "# tests/uml/uml.config", ...added, ""].join("\n");
}

async function main(): Promise<void> {
  const args = new Set(Deno.args);
  for (const a of args) {
    if (!["--config-only", "--keep-tree", "--force"].includes(a)) {
      fail(`unknown option ${a} (options: --config-only, --keep-tree, --force)`);
    }
  }
  const t0 = performance.now();
  const fragmentText = await Deno.readTextFile(FRAGMENT_PATH);
  const wants = parseFragment(fragmentText);

  let version = await sourceVersion();
  const base = cacheBase();
  if (version) {
    const cached = buildPaths(await cacheKey(fragmentText, version), base);
    if (!args.has("--force") && !args.has("--config-only") && exists(cached.stamp)) {
      log(`reusing ${cached.dir} (${SOURCE_PACKAGE} ${version})`);
      console.log(cached.linux);
      return;
    }
  }
  await ensureDependencies();
  version = await sourceVersion();
  if (!version) fail(`${SOURCE_PACKAGE} is still not installed`);
  const paths = buildPaths(await cacheKey(fragmentText, version), base);
  const tree = `${paths.dir}.build`;
  const src = `${tree}/${SOURCE_PACKAGE}`;
  const logFile = `${tree}/build.log`;
  await Deno.mkdir(tree, { recursive: true });
  log(`building ${SOURCE_PACKAGE} ${version} for ARCH=um in ${tree} (log: ${logFile})`);

  if (!exists(`${src}/Makefile`)) {
    log(`unpacking ${SOURCE_TARBALL}`);
    await run("tar", ["-xf", SOURCE_TARBALL, "-C", tree]);
  }
  const make = (targets: string[]) =>
    run("make", ["ARCH=um", `-j${navigator.hardwareConcurrency || 2}`, ...targets], {
      cwd: src,
      logFile,
    });
  await make(["defconfig"]);
  const merged = mergeConfig(await Deno.readTextFile(`${src}/.config`), wants);
  await Deno.writeTextFile(`${src}/.config`, merged);
  await make(["olddefconfig"]);
  const bad = unmetSettings(wants, parseConfig(await Deno.readTextFile(`${src}/.config`)));
  if (bad.length > 0) {
    fail(
      `Kconfig did not keep ${bad.length} wanted setting(s) of ${FRAGMENT_PATH}:\n  ` +
        bad.join("\n  "),
    );
  }
  log(`config verified: all ${wants.length} settings of uml.config hold`);
  if (args.has("--config-only")) {
    console.log(`${src}/.config`);
    return;
  }
  const tBuild = performance.now();
  log("make ARCH=um linux modules (about 10 minutes on 2 cores from scratch)");
  await make(["linux", "modules"]);
  const buildSeconds = (performance.now() - tBuild) / 1000;
  const ko = `${src}/samples/rpmsg/rpmsg_client_sample.ko`;
  for (const p of [`${src}/linux`, ko]) if (!exists(p)) fail(`the build made no ${p}`);

  await Deno.mkdir(paths.dir, { recursive: true });
  await Deno.copyFile(`${src}/linux`, paths.linux);
  await Deno.chmod(paths.linux, 0o755);
  await Deno.copyFile(ko, paths.sampleModule);
  await Deno.copyFile(`${src}/.config`, paths.config);
  await Deno.writeTextFile(
    paths.stamp,
    JSON.stringify(
      {
        key: paths.key,
        package: SOURCE_PACKAGE,
        version,
        buildSeconds: Math.round(buildSeconds),
        totalSeconds: Math.round((performance.now() - t0) / 1000),
        builtAt: new Date().toISOString(),
      },
      null,
      2,
    ) + "\n",
  );
  if (!args.has("--keep-tree")) await Deno.remove(tree, { recursive: true });
  log(
    `built in ${Math.round((performance.now() - t0) / 1000)} s (compile ${
      Math.round(buildSeconds)
    } s): ${paths.dir}`,
  );
  console.log(paths.linux);
}

if (import.meta.main) await main();
