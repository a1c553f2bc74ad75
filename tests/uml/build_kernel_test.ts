import assert from "node:assert/strict";
import { mergeConfig, parseConfig, parseFragment, unmetSettings } from "./build_kernel.ts";
import { buildPaths, cacheKey, FRAGMENT_PATH } from "./kernel.ts";

Deno.test("the config fragment parses and names every option the UML tests need", () => {
  const wants = parseFragment(Deno.readTextFileSync(FRAGMENT_PATH));
  const set = new Map(wants.map((w) => [w.name, w.value]));
  for (
    const [k, v] of [
      ["CONFIG_VIRTIO_UML", "y"],
      ["CONFIG_UML_PCI_OVER_VIRTIO", "y"],
      ["CONFIG_HAS_DMA", "y"],
      ["CONFIG_RPMSG_VIRTIO", "y"],
      ["CONFIG_RPMSG_NS", "y"],
      ["CONFIG_RPMSG_CTRL", "y"],
      ["CONFIG_RPMSG_CHAR", "y"],
      ["CONFIG_SAMPLE_RPMSG_CLIENT", "m"],
      ["CONFIG_HOSTFS", "y"],
      ["CONFIG_TMPFS", "y"],
      ["CONFIG_DEVTMPFS", "y"],
      ["CONFIG_MAGIC_SYSRQ", "y"],
    ]
  ) assert.equal(set.get(k!), v, k);
  assert.throws(() => parseFragment("CONFIG_X y\n"), /not a Kconfig setting/);
});

Deno.test("merge replaces the fragment's symbols; verification catches what Kconfig dropped", () => {
  const wants = parseFragment("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n# comment\n");
  const merged = mergeConfig("CONFIG_A=n\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=y\n", wants);
  const m = parseConfig(merged);
  assert.deepEqual([m.get("CONFIG_A"), m.get("CONFIG_B"), m.get("CONFIG_C"), m.get("CONFIG_D")], [
    "y",
    undefined,
    "m",
    "y",
  ]);
  assert.deepEqual(unmetSettings(wants, m), []);
  // What olddefconfig does to RPMSG_VIRTIO without HAS_DMA: the line vanishes.
  const dropped = parseConfig("CONFIG_A=y\nCONFIG_B=y\n");
  assert.deepEqual(unmetSettings(wants, dropped), [
    "CONFIG_B should be unset but is y",
    "CONFIG_C should be m but is unset",
  ]);
});

Deno.test("the cache key changes with the fragment and the source version", async () => {
  const a = await cacheKey("CONFIG_A=y\n", "6.1.1-1");
  assert.match(a, /^[0-9a-f]{16}$/);
  assert.notEqual(a, await cacheKey("CONFIG_A=m\n", "6.1.1-1"));
  assert.notEqual(a, await cacheKey("CONFIG_A=y\n", "6.1.2-1"));
  assert.equal(buildPaths(a, "/c").linux, `/c/${a}/linux`);
});
