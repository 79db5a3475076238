import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson, digestPlan } from "../../src/release/plan-digest.js";

describe("canonicalJson and digestPlan", () => {
  it("sorts keys at every level and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("the same plan in another key order has the same digest; any change gives another", () => {
    const plan = { function: "vyaparai-api-prod", codeSha256: "abc=", files: ["a.py", "b.py"] };
    const reordered = { files: ["a.py", "b.py"], codeSha256: "abc=", function: "vyaparai-api-prod" };
    expect(digestPlan(plan)).toBe(digestPlan(reordered));
    expect(digestPlan(plan)).not.toBe(digestPlan({ ...plan, files: ["b.py", "a.py"] }));
    expect(digestPlan(plan)).not.toBe(digestPlan({ ...plan, codeSha256: "abd=" }));
  });

  it("is the hex SHA-256 of the canonical JSON", () => {
    const plan = { z: true, a: null };
    expect(digestPlan(plan)).toBe(createHash("sha256").update('{"a":null,"z":true}').digest("hex"));
    expect(digestPlan(plan)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("follows JSON for undefined, non-finite numbers and dates", () => {
    expect(canonicalJson({ a: undefined, b: [undefined, Number.NaN], c: new Date(0) })).toBe(
      '{"b":[null,null],"c":"1970-01-01T00:00:00.000Z"}',
    );
    expect(canonicalJson(undefined)).toBe("null");
    expect(canonicalJson("x")).toBe('"x"');
  });
});
