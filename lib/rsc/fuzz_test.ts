import assert from "node:assert/strict";
import { isAmpError, ResourceTableError } from "../errors.ts";
import { mutateTable, seededRng } from "./_fuzz.ts";
import {
  buildResourceTable,
  checkResourceTable,
  parseResourceTable,
  rpmsgVdev,
  serializeResourceTable,
} from "./table.ts";
import type { ResourceTable } from "./types.ts";

const vr = { da: 0xffff_ffff, align: 0x1000, num: 256 };
const CORPUS: Uint8Array[] = [
  // seed (machines.md section 1)
  buildResourceTable([rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }, { ...vr, notifyid: 2 }] })], {
    offsetSlots: 8,
  }),
  // openamp-linux (machines.md section 2)
  buildResourceTable([rpmsgVdev({
    vrings: [{ ...vr, da: 0x4000, notifyid: 1 }, { ...vr, da: 0x8000, notifyid: 2 }],
  })]),
  // every entry kind
  buildResourceTable([
    { kind: "carveout", da: 0x9020_0000, pa: 0x9020_0000, len: 0x80_0000, flags: 0, name: "img" },
    { kind: "devmem", da: 0x1000_0000, pa: 0x1000_0000, len: 0x1000, flags: 0, name: "uart" },
    { kind: "trace", da: 0x9030_0000, len: 0x2000, name: "trace0" },
    { ...rpmsgVdev({ vrings: [{ ...vr, notifyid: 1 }], configLen: 5 }) },
    { kind: "vendor", type: 128, raw: new Uint8Array(12) },
  ]),
  buildResourceTable([]),
].map((t: ResourceTable) => serializeResourceTable(t));

function assertAmp(e: unknown, what: string): void {
  assert.ok(isAmpError(e), `${what}: non-amp error escaped: ${e}`);
}

Deno.test("fuzz: parse/check only ever raise ResourceTableError, and agree", () => {
  const CASES = 2000;
  let parsed = 0, rejected = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const rng = seededRng(seed);
    const input = mutateTable(CORPUS[seed % CORPUS.length]!, rng);
    const what = `seed ${seed}`;
    let parseCode: string | undefined;
    let table: ResourceTable | undefined;
    try {
      table = parseResourceTable(input);
      parsed++;
    } catch (e) {
      assertAmp(e, what);
      assert.ok(e instanceof ResourceTableError, `${what}: ${e}`);
      parseCode = e.code;
      rejected++;
    }
    let check;
    try {
      check = checkResourceTable(input);
    } catch (e) {
      assertAmp(e, what);
      assert.fail(`${what}: checkResourceTable threw ${e}`);
    }
    // The linter's first error is exactly what the parser throws.
    const firstError = check.problems.find((p) => p.severity === "error");
    assert.equal(firstError?.code, parseCode, what);
    assert.equal(check.ok, parseCode === undefined, what);
    if (table) {
      assert.ok(check.table, what);
      // A parsed table either serializes and parses back the same, or is refused cleanly.
      try {
        const again = parseResourceTable(serializeResourceTable(table));
        assert.deepEqual(again.entries, table.entries, what);
      } catch (e) {
        assertAmp(e, what);
        assert.ok(e instanceof ResourceTableError, `${what}: ${e}`);
      }
    }
  }
  // The mutator must exercise both outcomes, or the test proves little.
  assert.ok(parsed > 100 && rejected > 500, `parsed ${parsed}, rejected ${rejected}`);
  console.log(`fuzz: ${CASES} cases, ${parsed} parsed, ${rejected} rejected`);
});
