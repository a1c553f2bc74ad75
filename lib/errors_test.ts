import assert from "node:assert/strict";
import {
  type AmpCode,
  ConfigError,
  ElfError,
  isAmpError,
  OsError,
  RpmsgError,
  TimeoutError,
  VirtioError,
  type VirtioErrorCode,
} from "./errors.ts";
import { ELF_CODES } from "./elf/types.ts";

Deno.test("each error class takes only its own codes: a misspelt or foreign code does not compile", () => {
  // @ts-expect-error: misspelt (VQ_USED_ID_RANGE)
  const typo = new VirtioError("VQ_USED_ID_RANG", "vring0: used id 300 >= num 256");
  // Nothing checks at run time: the type is the guard.
  assert.equal(typo.code, "VQ_USED_ID_RANG");
  // @ts-expect-error: a virtio code on an rpmsg error
  assert.ok(isAmpError(new RpmsgError("VQ_CLOSED", "x")));
  // @ts-expect-error: an rpmsg code on a configuration error
  assert.ok(isAmpError(new ConfigError("RPMSG_NO_BUFFER", "x")));
  const code: VirtioErrorCode = new VirtioError("VQ_USED_ID_RANGE", "used id 300").code;
  assert.equal(code, "VQ_USED_ID_RANGE");
});

Deno.test("every ELF_CODES value is an ElfError code; OsError keeps errno names; fixed codes", () => {
  for (const c of Object.values(ELF_CODES)) assert.equal(new ElfError(c, "x").code, c);
  const os = new OsError("open", 2, "/dev/uio9");
  const codes: AmpCode[] = [os.code, new TimeoutError("waiting", 1).code];
  assert.deepEqual(codes, ["ENOENT", "TIMEOUT"]);
  assert.equal(new OsError("open", 4242, "x").code, "OS_ERROR");
});
