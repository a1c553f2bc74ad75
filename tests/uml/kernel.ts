/**
 * Where the User-Mode Linux kernel that `deno task kernel` builds lives.
 *
 * The build is cached outside the repository in `<base>/<key>/`, where `base`
 * is `$AMP_UML_CACHE` or `~/.cache/amp-uml`, and `key` hashes the config
 * fragment (`tests/uml/uml.config`), the installed `linux-source-6.1` package
 * version and {@linkcode RECIPE} (bumped when the build steps change). A
 * finished build holds `linux`, `rpmsg_client_sample.ko`, `config` and
 * `build.json`; `build.json` is written last, so its presence means complete.
 *
 * @module
 */

/** The Debian package whose tarball is built. */
export const SOURCE_PACKAGE = "linux-source-6.1";
/** The tarball it installs. */
export const SOURCE_TARBALL = "/usr/src/linux-source-6.1.tar.xz";
/** Version of the build steps; part of the cache key. */
export const RECIPE = 1;
/** The config fragment merged onto the UML defconfig. */
export const FRAGMENT_PATH = new URL("./uml.config", import.meta.url).pathname;

/** Paths of one cached build. */
export interface KernelBuild {
  /** Cache key (hex). */
  key: string;
  /** The build's directory. */
  dir: string;
  /** The UML kernel binary. */
  linux: string;
  /** The kernel's rpmsg sample client module. */
  sampleModule: string;
  /** The final `.config`. */
  config: string;
  /** Written last: present only for a complete build. */
  stamp: string;
}

/** The cache base directory: `$AMP_UML_CACHE` or `~/.cache/amp-uml`. */
export function cacheBase(): string {
  const env = Deno.env.get("AMP_UML_CACHE");
  if (env) return env;
  const home = Deno.env.get("HOME") ?? "/root";
  return `${home}/.cache/amp-uml`;
}

/** The installed version of {@linkcode SOURCE_PACKAGE}, or undefined when it is not installed. */
export async function sourceVersion(): Promise<string | undefined> {
  try {
    const o = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f=${Status}|${Version}", SOURCE_PACKAGE],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!o.success) return undefined;
    const [status, version] = new TextDecoder().decode(o.stdout).split("|");
    return status?.endsWith(" installed") && version ? version : undefined;
  } catch {
    return undefined;
  }
}

/** The cache key for a fragment text and source version. */
export async function cacheKey(fragment: string, version: string): Promise<string> {
  const data = new TextEncoder().encode(`${fragment}\0${version}\0recipe ${RECIPE}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The paths of the build for `key` (which may not exist yet). */
export function buildPaths(key: string, base = cacheBase()): KernelBuild {
  const dir = `${base}/${key}`;
  return {
    key,
    dir,
    linux: `${dir}/linux`,
    sampleModule: `${dir}/rpmsg_client_sample.ko`,
    config: `${dir}/config`,
    stamp: `${dir}/build.json`,
  };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The complete cached build for the current fragment and installed source,
 * or a sentence saying why there is none. `$AMP_UML_KERNEL` (a `linux`
 * binary whose directory also holds `rpmsg_client_sample.ko`) overrides the
 * lookup.
 */
export async function findKernel(): Promise<KernelBuild | string> {
  const override = Deno.env.get("AMP_UML_KERNEL");
  if (override) {
    const dir = override.slice(0, override.lastIndexOf("/")) || ".";
    const b: KernelBuild = {
      key: "override",
      dir,
      linux: override,
      sampleModule: `${dir}/rpmsg_client_sample.ko`,
      config: `${dir}/config`,
      stamp: `${dir}/build.json`,
    };
    if (!exists(b.linux)) return `AMP_UML_KERNEL=${override} does not exist`;
    if (!exists(b.sampleModule)) return `${b.sampleModule} does not exist`;
    return b;
  }
  const version = await sourceVersion();
  if (!version) return `${SOURCE_PACKAGE} is not installed (run: deno task kernel)`;
  const key = await cacheKey(await Deno.readTextFile(FRAGMENT_PATH), version);
  const b = buildPaths(key);
  if (!exists(b.stamp) || !exists(b.linux) || !exists(b.sampleModule)) {
    return `no UML kernel built for this config in ${b.dir} (run: deno task kernel)`;
  }
  return b;
}
