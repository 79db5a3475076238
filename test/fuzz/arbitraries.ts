import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { describeSent, fromJson, RawJson, type Sent, SentObject } from "./json-text.js";

/**
 * Tool-call cases for the fuzz. Each case knows exactly which fields it broke (and how), so
 * the test can demand an error naming them. Cases are built from the tool input schemas the
 * server publishes (test/__toolsnaps__), plus what the schemas cannot say: which envs exist
 * and which are protected, and which tools change AWS.
 */

export interface SchemaNode {
  type?: string;
  enum?: string[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: SchemaNode;
}

export interface ToolSpec {
  name: string;
  properties: Record<string, SchemaNode>;
  required: string[];
}

const SNAPSHOTS = resolve(import.meta.dirname, "../__toolsnaps__");

export function loadToolSpecs(): ToolSpec[] {
  return readdirSync(SNAPSHOTS)
    .filter((file) => file.endsWith(".snap.json"))
    .sort()
    .map((file) => {
      const snap = JSON.parse(readFileSync(join(SNAPSHOTS, file), "utf8")) as {
        name: string;
        inputSchema: { properties: Record<string, SchemaNode>; required?: string[] };
      };
      return {
        name: snap.name,
        properties: snap.inputSchema.properties,
        required: snap.inputSchema.required ?? [],
      };
    });
}

/**
 * Tools whose valid call can change AWS or record state: every case sent to them carries at
 * least one defect. preflight is annotated read-only but runs test commands and records a
 * preflight, so it is fuzzed with invalid calls only as well.
 */
export const MUTATING_TOOLS = new Set([
  "deploy_lambda",
  "deploy_frontend",
  "terraform_apply",
  "rollback",
  "preflight",
]);

/**
 * Envs of the fixture config: dev is unprotected (a slip there deploys), prod is protected and
 * is what an omitted env means; staging comes from the built-in defaults.
 */
export const CONFIGURED_ENVS = ["dev", "prod", "staging"] as const;

export type DefectKind =
  | "type"
  | "bounds"
  | "pattern"
  | "enum"
  | "items"
  | "unknownKey"
  | "missing"
  | "arguments"
  | "unknownEnv"
  | "badToken"
  | "unknownPlan";

export interface Defect {
  /** The argument name, or the unknown key as sent. */
  field: string;
  kind: DefectKind;
  /** Refused by the input schema (before any code runs); otherwise by the tool itself. */
  schema: boolean;
}

export interface ToolCase {
  tool: string;
  /** The `arguments` value as sent: an object, or anything else for an "arguments" defect. */
  args: Sent;
  defects: Defect[];
  describe(): string;
}

// ---------------------------------------------------------------------------------------------
// Values that are hostile in their own right, reused for several fields.

const PATH_LIKE = [
  "../../etc/passwd",
  "~/.aws/credentials",
  "C:\\x",
  "/dev/zero",
  "..\\..\\boot.ini",
  "file:///etc",
];
const PROTOTYPE_NAMES = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"];
const UNICODE_SAMPLES = [
  "😀", // astral
  "\u05e4\u05e8\u05d5\u05d3", // RTL Hebrew
  "\u202eprod", // RTL override
  "pr\u200bod", // zero-width space
  "\u0000", // NUL
  "prod\u0000",
  "\ud800", // lone high surrogate (JSON carries it as an escape)
  "\udfff", // lone low surrogate
  "ｐｒｏｄ", // fullwidth
  "prоd", // Cyrillic о
  "e\u0301", // combining accent
  "\n",
  "\t",
];

/**
 * A string longer than `max` (in UTF-16 units and in code points) of one unit: ASCII, astral,
 * RTL, NUL or a lone surrogate. Mostly just over the bound; rarely ~100 KB or ~1 MB of UTF-8,
 * the size of a file a careless client pastes.
 */
function tooLongString(max: number): fc.Arbitrary<string> {
  const size = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(1, 2, max + 1, 1000).map((extra) => ({ chars: max + extra })) },
    { weight: 2, arbitrary: fc.constant({ bytes: 100_000 }) },
    { weight: 1, arbitrary: fc.constant({ bytes: 1_000_000 }) },
  );
  return fc
    .tuple(size, fc.constantFrom("a", "7", "😀", "\u05d0", "\u0000", "-", "\ud800"))
    .map(([wanted, unit]) => {
      const unitBytes = Buffer.byteLength(unit, "utf8");
      const count = "chars" in wanted ? wanted.chars : Math.max(max + 1, Math.ceil(wanted.bytes / unitBytes));
      return unit.repeat(count);
    });
}

/** JSON values of every type but `type`, null included (no argument is nullable). */
function wrongTypeValue(type: string | undefined): fc.Arbitrary<Sent> {
  const pool: Array<{ type: string; value: Sent }> = [
    { type: "integer", value: 0 },
    { type: "integer", value: -1 },
    { type: "number", value: 1.5 },
    { type: "number", value: 1e308 },
    { type: "number", value: new RawJson("1e400") },
    { type: "number", value: new RawJson("-0") },
    { type: "boolean", value: true },
    { type: "boolean", value: false },
    { type: "null", value: null },
    { type: "array", value: [] },
    { type: "array", value: ["dev"] },
    { type: "array", value: [true] },
    { type: "object", value: new SentObject([]) },
    { type: "object", value: new SentObject([["$ne", null]]) },
    { type: "object", value: new SentObject([["__proto__", new SentObject([["admin", true]])]]) },
    { type: "string", value: "" },
    { type: "string", value: "true" },
    { type: "string", value: "5" },
    { type: "string", value: "NaN" },
    { type: "string", value: "Infinity" },
    { type: "string", value: "null" },
  ];
  const numeric = type === "integer" || type === "number";
  const others = pool.filter((p) =>
    numeric ? p.type !== "integer" && p.type !== "number" : p.type !== type && p.type !== "integer",
  );
  // Integers belong to "number" too; for a string field they are a wrong type like any other.
  const extra = type === "string" || type === "boolean" || type === "array" ? [0, -1] : [];
  return fc.constantFrom(...others.map((p) => p.value), ...extra);
}

// ---------------------------------------------------------------------------------------------
// Valid values per argument (safe ones: a valid read-only call must be quick).

const RELEASE_OR_VERSION = /^(?:\d{8}T\d{6}(?:\d{3})?Z-[0-9a-f]{6}|(?:[Vv](?:ersion ?)?)?\d{1,10})$/;
const HEX64 = /^[0-9a-f]{64}$/;
const ENV_PATTERN = /^[a-z][a-z0-9-]*$/;

/** Schema-valid confirmation tokens this server never issued: malformed, forged, hostile. */
export function malformedTokenArb(): fc.Arbitrary<string> {
  const forged = fc
    .record({
      tool: fc.constantFrom("deploy_lambda", "deploy_frontend", "rollback", "terraform_apply", "x"),
      env: fc.constantFrom("prod", "dev", "__proto__"),
      digest: fc.stringMatching(HEX64),
      nonce: fc.stringMatching(/^[0-9a-f]{32}$/),
      exp: fc.constantFrom(Date.UTC(2100, 0, 1), 0, 1e300),
      mac: fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    })
    .map(({ mac, ...payload }) => {
      const body = Buffer.from(
        JSON.stringify({ ...payload, account: "123456789012", region: "ap-south-1" }),
      ).toString("base64url");
      return `v1.${body}.${mac}`;
    });
  return fc.oneof(
    fc.constantFrom(
      "abc",
      "v1",
      "v1.",
      "v1..",
      "v1.e30.",
      "v2.e30.AAAA",
      "null",
      "Bearer abc",
      " v1.a.b ",
      "x".repeat(2000),
      "😀".repeat(1000),
      ...PATH_LIKE,
      ...UNICODE_SAMPLES,
    ),
    forged,
    fc.string({ unit: "binary", minLength: 1, maxLength: 64 }).filter((s) => s.length <= 2000),
  );
}

const SAFE_VALID: Record<string, (node: SchemaNode) => fc.Arbitrary<Sent>> = {
  env: () => fc.constantFrom(...CONFIGURED_ENVS),
  confirmationToken: () => malformedTokenArb(),
  component: () => fc.constantFrom("lambda", "frontend"),
  to: () => fc.stringMatching(RELEASE_OR_VERSION).filter((s) => s.length <= 64),
  planDigest: () => fc.stringMatching(HEX64),
  // A well-formed release id: valid in shape, recorded nowhere (the call answers "not recorded").
  compareTo: () => fc.stringMatching(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/),
  releaseId: () => fc.stringMatching(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/),
  since: () =>
    fc.oneof(
      fc.constantFrom("15m", "1h", "30s", "2d", "now", "2026-01-01T00:00:00Z", "1700000000000"),
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 16 }),
    ),
  until: () => fc.constantFrom("now", "5m", "2030-01-01T00:00:00Z"),
  filterPattern: () =>
    fc.oneof(
      fc.constantFrom("", "ERROR", "?ERROR ?WARN", '{ $.level = "ERROR" }', "\u05d0"),
      fc.string({ unit: "grapheme-ascii", maxLength: 24 }),
    ),
  requestId: () => fc.oneof(fc.uuid(), fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 })),
  // Non-canonical number texts of valid integers: 5.0 and 1e2 are integers once parsed.
  limit: () =>
    fc.oneof(
      fc.integer({ min: 1, max: 500 }),
      fc.constantFrom(new RawJson("5.0"), new RawJson("1e2"), new RawJson("5E1")),
    ),
  // followSeconds > 0 makes a valid call wait that long: only 0, in several spellings.
  followSeconds: () => fc.constantFrom(0, new RawJson("0.0"), new RawJson("-0"), new RawJson("0e5")),
  attempts: () => fc.integer({ min: 1, max: 5 }),
};

function validValue(tool: string, name: string, node: SchemaNode): fc.Arbitrary<Sent> {
  if (name === "targets" && tool === "health_check") {
    return fc.array(fc.constantFrom("api", "https://example.test/health", "web"), { maxLength: 3 });
  }
  if (name === "targets") {
    return fc.array(fc.constantFrom("aws_s3_bucket.site", "module.api.aws_lambda_function.this"), {
      maxLength: 3,
    });
  }
  if (name === "components" && node.items?.enum) {
    return fc.uniqueArray(fc.constantFrom(...node.items.enum), {
      minLength: 1,
      maxLength: node.items.enum.length,
    });
  }
  const special = SAFE_VALID[name];
  if (special) return special(node);
  if (node.type === "boolean") return fc.boolean();
  if (node.enum) return fc.constantFrom(...node.enum);
  if (node.type === "integer") return fc.integer({ min: node.minimum ?? 0, max: node.maximum ?? 10 });
  if (node.type === "number") {
    return fc.double({
      min: node.minimum ?? 0,
      max: node.maximum ?? 10,
      noNaN: true,
      noDefaultInfinity: true,
    });
  }
  if (node.type === "string") {
    return fc.string({ minLength: node.minLength ?? 0, maxLength: Math.min(node.maxLength ?? 16, 16) });
  }
  throw new Error(`no valid value generator for ${tool}.${name} (${JSON.stringify(node)})`);
}

// ---------------------------------------------------------------------------------------------
// Broken values per argument: each says how it is broken.

interface Broken {
  value: Sent;
  kind: DefectKind;
}

function brokenString(name: string, node: SchemaNode): fc.Arbitrary<Broken> {
  const max = node.maxLength ?? 64;
  const options: Array<fc.Arbitrary<Broken>> = [
    wrongTypeValue("string").map((value) => ({ value, kind: "type" as const })),
    tooLongString(max).map((value) => ({ value, kind: "bounds" as const })),
  ];
  if ((node.minLength ?? 0) >= 1 || node.pattern) {
    options.push(
      fc.constant({ value: "", kind: node.minLength ? ("bounds" as const) : ("pattern" as const) }),
    );
  }
  if (node.enum) {
    const values = node.enum;
    const near = values.flatMap((v) => [
      v.toUpperCase(),
      v[0]?.toUpperCase() + v.slice(1),
      `${v} `,
      ` ${v}`,
      `${v}\u0000`,
    ]);
    options.push(
      fc
        .oneof(
          fc.constantFrom(...near, ...PROTOTYPE_NAMES, ...PATH_LIKE),
          fc.string({ unit: "binary", maxLength: 12 }),
        )
        .filter((s) => !values.includes(s))
        .map((value) => ({ value, kind: "enum" as const })),
    );
  }
  if (node.pattern) {
    const pattern = new RegExp(node.pattern);
    const curated =
      name === "env"
        ? [
            "PROD",
            "Prod",
            "prod ",
            " prod",
            "prod\n",
            "dev\u0000",
            "dév",
            "-dev",
            "1dev",
            "de_v",
            "dev.",
            ...PROTOTYPE_NAMES,
          ]
        : name === "planDigest"
          ? ["A".repeat(64), "g".repeat(64), `${"a".repeat(63)}G`, ` ${"a".repeat(63)}`]
          : ["latest", "v", "HEAD~1", "12; rm -rf /", "20261125T130512345Z-3fa9c1\n", "-1", "0x10", "1e3"];
    // Random breakers: ASCII at the exact lengths allowed (a 64-char planDigest), any code point when short.
    const shortest = Math.max(node.minLength ?? 0, 1);
    const longest = Math.max(shortest, Math.min(max, 40));
    options.push(
      fc
        .oneof(
          fc.constantFrom(...curated, ...PATH_LIKE, ...UNICODE_SAMPLES),
          fc.string({ unit: "binary-ascii", minLength: shortest, maxLength: longest }),
          fc.string({ unit: "binary", minLength: 1, maxLength: Math.min(longest, 12) }),
        )
        .filter((s) => s.length <= max && s.length >= (node.minLength ?? 0) && !pattern.test(s))
        .map((value) => ({ value, kind: "pattern" as const })),
    );
  }
  return fc.oneof(...options);
}

function brokenInteger(node: SchemaNode): fc.Arbitrary<Broken> {
  const min = node.minimum ?? 0;
  const max = node.maximum ?? 100;
  const numbers: Sent[] = [
    min - 1,
    max + 1,
    max + 1000,
    -1,
    min + 0.5,
    max - 0.5,
    1e308,
    -1e308,
    2 ** 53 + 2,
  ];
  const texts = ["1e400", "-1e400", "1.5", `${max}.5`, "123456789012345678901234567890"];
  // 1e-400 and -0 parse to 0: broken only where 0 is out of range.
  if (min > 0) texts.push("1e-400", "-0", "0.0");
  const outOfRange = numbers.filter(
    (n) => typeof n === "number" && (n < min || n > max || !Number.isInteger(n)),
  );
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(...outOfRange).map((value) => ({ value, kind: "bounds" as const })),
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(...texts)
        .map((text) => ({ value: new RawJson(text), kind: "bounds" as const })),
    },
    { weight: 2, arbitrary: wrongTypeValue("integer").map((value) => ({ value, kind: "type" as const })) },
  );
}

/** A number below or above its bounds, not finite in JSON's sense, or of another type. */
function brokenNumber(node: SchemaNode): fc.Arbitrary<Broken> {
  const min = node.minimum ?? 0;
  const max = node.maximum ?? 10;
  return fc.oneof(
    fc
      .constantFrom(min - 1, min - 0.001, max + 0.001, max + 1, -1e308, 1e308)
      .map((value) => ({ value, kind: "bounds" as const })),
    wrongTypeValue("number").map((value) => ({ value, kind: "type" as const })),
  );
}

function brokenArray(tool: string, name: string, node: SchemaNode): fc.Arbitrary<Broken> {
  const item = node.items ?? {};
  const valid = validValue(tool, name, node) as fc.Arbitrary<Sent[]>;
  const validItem = item.enum ? fc.constantFrom(...item.enum) : fc.constantFrom("api", "aws_s3_bucket.site");
  const max = node.maxItems ?? 20;
  const options: Array<fc.Arbitrary<Broken>> = [
    wrongTypeValue("array").map((value) => ({ value, kind: "type" as const })),
    fc
      .tuple(fc.constantFrom(max + 1, max + 5, 1_000, 10_000), validItem)
      .map(([count, one]) => ({ value: Array(count).fill(one) as Sent[], kind: "bounds" as const })),
    // One bad item among valid ones.
    fc
      .tuple(valid, brokenItem(item), fc.nat())
      .filter(([items]) => items.length < max)
      .map(([items, bad, at]) => {
        const copy = [...items];
        copy.splice(at % (copy.length + 1), 0, bad);
        return { value: copy, kind: "items" as const };
      }),
  ];
  if ((node.minItems ?? 0) >= 1) options.push(fc.constant({ value: [], kind: "bounds" as const }));
  return fc.oneof(...options);
}

function brokenItem(item: SchemaNode): fc.Arbitrary<Sent> {
  const options: Array<fc.Arbitrary<Sent>> = [wrongTypeValue(item.type)];
  if (item.enum) {
    const values = item.enum;
    options.push(
      fc
        .constantFrom("Backend", "FRONTEND", "infra ", "all", "*", "", ...PATH_LIKE)
        .filter((s) => !values.includes(s)),
    );
  } else {
    if ((item.minLength ?? 0) >= 1) options.push(fc.constant(""));
    options.push(tooLongString(item.maxLength ?? 512));
  }
  return fc.oneof(...options);
}

function brokenValue(tool: string, name: string, node: SchemaNode): fc.Arbitrary<Broken> {
  if (node.type === "boolean") {
    return wrongTypeValue("boolean").map((value) => ({ value, kind: "type" as const }));
  }
  if (node.type === "integer") return brokenInteger(node);
  if (node.type === "number") return brokenNumber(node);
  if (node.type === "array") return brokenArray(tool, name, node);
  if (node.type === "string") return brokenString(name, node);
  throw new Error(`no broken value generator for ${tool}.${name}`);
}

/** Names that fit the env pattern but are not configured (nor inherited from Object.prototype). */
export function unknownEnvArb(): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.constantFrom(
        "constructor",
        "hasownproperty",
        "valueof",
        "tostring",
        "isprototypeof",
        "proto",
        "prod-",
        "dev-",
        "production",
        "development",
        "staging2",
        "prod2",
        "a",
        `a${"0".repeat(39)}`,
      ),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,39}$/),
    )
    .filter((name) => !(CONFIGURED_ENVS as readonly string[]).includes(name) && ENV_PATTERN.test(name));
}

// ---------------------------------------------------------------------------------------------
// Unknown and misspelt keys.

function misspellings(name: string): string[] {
  const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const pascal = name[0]?.toUpperCase() + name.slice(1);
  const dropped = name.length > 2 ? name.slice(0, 1) + name.slice(2) : `${name}x`;
  const doubled = name.slice(0, 2) + name.slice(1);
  const cyrillic = name.replace("a", "а").replace("e", "е").replace("o", "о");
  return [
    snake,
    snake.replace(/_/g, "-"),
    name.toLowerCase(),
    name.toUpperCase(),
    pascal,
    `${name} `,
    ` ${name}`,
    `${name}\u0000`,
    `${name}s`,
    `${name.slice(0, 1)}\u200b${name.slice(1)}`,
    dropped,
    doubled,
    cyrillic,
  ];
}

const COMMON_WRONG_KEYS = [
  "dry_run",
  "dryrun",
  "DryRun",
  "DRY_RUN",
  "Env",
  "ENV",
  "environment",
  "confirm",
  "token",
  "yes",
  "force",
  "",
  " ",
  "\u0000",
  "😀",
  "\ud800",
  "\u202edryRun",
  "arguments",
  "params",
  ...PROTOTYPE_NAMES,
  ...PATH_LIKE,
];

function unknownKeyArb(spec: ToolSpec): fc.Arbitrary<string> {
  const valid = Object.keys(spec.properties);
  return fc
    .oneof(
      { weight: 8, arbitrary: fc.constantFrom(...valid.flatMap(misspellings)) },
      { weight: 6, arbitrary: fc.constantFrom(...COMMON_WRONG_KEYS) },
      { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
      // A key is quoted back: a 1 MB key must come back short.
      { weight: 1, arbitrary: fc.constantFrom("k".repeat(1_000_000), "\u0000".repeat(5_000)) },
    )
    .filter((key) => !valid.includes(key));
}

const anyValue: fc.Arbitrary<Sent> = fc.oneof(
  fc.constantFrom<Sent>(true, false, null, "dev", "prod", 0, new RawJson("1e400")),
  fc.jsonValue({ maxDepth: 2 }).map(fromJson),
  fc
    .constantFrom(100, 10_000, 50_000)
    .map((depth) => new RawJson(`${"[".repeat(depth)}${"]".repeat(depth)}`, `[ nested ${depth} deep`)),
);

// ---------------------------------------------------------------------------------------------
// Mutations and case assembly.

type Mutation =
  | { kind: "break"; field: string; broken: Broken }
  | { kind: "unknownKey"; key: string; value: Sent }
  | { kind: "keyFlood"; count: number; prefix: string }
  | { kind: "missing"; field: string }
  | { kind: "unknownEnv"; env: string }
  | { kind: "decoy"; field: string; value: Sent }
  | { kind: "arguments"; value: Sent };

interface Entry {
  key: string;
  value: Sent;
  defect?: Defect;
  /** An earlier occurrence of a repeated key: JSON.parse keeps the last, so this one is inert. */
  decoy?: boolean;
}

function mutationArb(spec: ToolSpec, withDecoy: boolean): fc.Arbitrary<Mutation> {
  const names = Object.keys(spec.properties);
  const options: Array<fc.WeightedArbitrary<Mutation>> = [
    {
      weight: 16,
      arbitrary: fc
        .constantFrom(...names)
        .chain((field) =>
          brokenValue(spec.name, field, spec.properties[field] as SchemaNode).map(
            (broken): Mutation => ({ kind: "break", field, broken }),
          ),
        ),
    },
    {
      weight: 8,
      arbitrary: fc
        .tuple(unknownKeyArb(spec), anyValue)
        .map(([key, value]): Mutation => ({ kind: "unknownKey", key, value })),
    },
    {
      // Rare: a flood of unknown keys (a client serialising a whole object by mistake).
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.oneof(
            { weight: 4, arbitrary: fc.constant(30) },
            { weight: 1, arbitrary: fc.constantFrom(300, 3_000) },
          ),
          fc.constantFrom("k", "dry_run_", "x".repeat(100)),
        )
        .map(([count, prefix]): Mutation => ({ kind: "keyFlood", count, prefix })),
    },
    { weight: 4, arbitrary: unknownEnvArb().map((env): Mutation => ({ kind: "unknownEnv", env })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<Sent>(null, [], ["env", "dev"], "env=dev", 42, true, new RawJson("1e400"))
        .map((value): Mutation => ({ kind: "arguments", value })),
    },
  ];
  if (spec.required.length > 0) {
    options.push({
      weight: 3,
      arbitrary: fc.constantFrom(...spec.required).map((field): Mutation => ({ kind: "missing", field })),
    });
  }
  if (withDecoy) options.push({ weight: 3, arbitrary: decoyArb(spec) });
  return fc.oneof(...options);
}

/** An earlier occurrence of an argument with any value: inert, the last occurrence counts. */
function decoyArb(spec: ToolSpec): fc.Arbitrary<Mutation> {
  return fc
    .tuple(fc.constantFrom(...Object.keys(spec.properties)), anyValue)
    .map(([field, value]): Mutation => ({ kind: "decoy", field, value }));
}

function assemble(spec: ToolSpec, base: Record<string, Sent | undefined>, mutations: Mutation[]): ToolCase {
  const entries: Entry[] = Object.entries(base)
    .filter((entry): entry is [string, Sent] => entry[1] !== undefined)
    .map(([key, value]) => ({ key, value }));
  const missing = new Set<string>();
  let wholeArguments: Sent | undefined;
  const live = (key: string) => entries.find((e) => e.key === key && !e.decoy);
  const setField = (key: string, value: Sent, defect?: Defect) => {
    missing.delete(key);
    const current = live(key);
    if (current) {
      current.value = value;
      if (defect) current.defect = defect;
      else delete current.defect;
    } else entries.push({ key, value, ...(defect ? { defect } : {}) });
  };
  for (const mutation of mutations) {
    switch (mutation.kind) {
      case "break":
        setField(mutation.field, mutation.broken.value, {
          field: mutation.field,
          kind: mutation.broken.kind,
          schema: true,
        });
        break;
      case "unknownKey":
        if (!entries.some((e) => e.key === mutation.key)) {
          entries.push({
            key: mutation.key,
            value: mutation.value,
            defect: { field: mutation.key, kind: "unknownKey", schema: true },
          });
        }
        break;
      case "keyFlood":
        for (let i = 0; i < mutation.count; i++) {
          const key = `${mutation.prefix}${i}`;
          if (!entries.some((e) => e.key === key) && !Object.hasOwn(spec.properties, key)) {
            entries.push({
              key,
              value: i % 2 === 0,
              defect: { field: key, kind: "unknownKey", schema: true },
            });
          }
        }
        break;
      case "missing":
        for (let i = entries.length - 1; i >= 0; i--)
          if (entries[i]?.key === mutation.field) entries.splice(i, 1);
        missing.add(mutation.field);
        break;
      case "unknownEnv":
        setField("env", mutation.env, { field: "env", kind: "unknownEnv", schema: false });
        break;
      case "decoy": {
        const at = entries.findIndex((e) => e.key === mutation.field && !e.decoy);
        if (at !== -1) entries.splice(at, 0, { key: mutation.field, value: mutation.value, decoy: true });
        break;
      }
      case "arguments":
        wholeArguments ??= mutation.value;
        break;
    }
  }
  if (wholeArguments !== undefined) {
    const value = wholeArguments;
    const defects: Defect[] = [{ field: "arguments", kind: "arguments", schema: true }];
    return { tool: spec.name, args: value, defects, describe: () => describeSent(value) };
  }
  const defects: Defect[] = [
    ...entries.flatMap((e) => (e.defect && !e.decoy ? [e.defect] : [])),
    ...[...missing].map((field): Defect => ({ field, kind: "missing", schema: true })),
  ];
  const args = new SentObject(entries.map((e) => [e.key, e.value] as const));
  return { tool: spec.name, args, defects, describe: () => describeSent(args) };
}

/** Valid arguments: each optional one present or not, required ones always. */
function baseArb(spec: ToolSpec): fc.Arbitrary<Record<string, Sent | undefined>> {
  const fields: Record<string, fc.Arbitrary<Sent | undefined>> = {};
  for (const [name, node] of Object.entries(spec.properties)) {
    const value = validValue(spec.name, name, node);
    fields[name] = spec.required.includes(name) ? value : fc.option(value, { nil: undefined, freq: 2 });
  }
  return fc.record(fields);
}

/**
 * Cases that pass the input schema and are still refused by the tool: a confirmation token
 * this server never issued, on the protected env, on a call that would otherwise go ahead
 * (not a dry run; the frontend from the existing dist/); a planDigest no plan was saved under.
 * Null for tools where the schema-valid refusal depends on what the env holds.
 */
function semanticOnlyArb(spec: ToolSpec): fc.Arbitrary<ToolCase> | null {
  const optionalBool = fc.option(fc.boolean(), { nil: undefined });
  const prodOrDefault = fc.constantFrom<string | undefined>("prod", undefined);
  const build = (fields: Record<string, Sent | undefined>, defect: Defect): ToolCase => {
    const entries = Object.entries(fields).filter((e): e is [string, Sent] => e[1] !== undefined);
    const args = new SentObject(entries);
    return { tool: spec.name, args, defects: [defect], describe: () => describeSent(args) };
  };
  const badToken: Defect = { field: "confirmationToken", kind: "badToken", schema: false };
  switch (spec.name) {
    case "deploy_lambda":
      return fc
        .record({
          env: prodOrDefault,
          dryRun: fc.constantFrom<boolean | undefined>(false, undefined),
          force: optionalBool,
          breakLock: optionalBool,
          confirmationToken: malformedTokenArb(),
        })
        .map((fields) => build(fields, badToken));
    case "deploy_frontend":
      return fc
        .record({
          env: prodOrDefault,
          dryRun: fc.constantFrom<boolean | undefined>(false, undefined),
          skipBuild: fc.constant(true),
          prune: optionalBool,
          wait: optionalBool,
          breakLock: optionalBool,
          confirmationToken: malformedTokenArb(),
        })
        .map((fields) => build(fields, badToken));
    case "terraform_apply":
      return fc
        .record({
          env: fc.constantFrom<string | undefined>("prod", "dev", undefined),
          planDigest: fc.stringMatching(HEX64),
          allowDataLoss: optionalBool,
          breakLock: optionalBool,
          confirmationToken: fc.option(malformedTokenArb(), { nil: undefined }),
        })
        .map((fields) => build(fields, { field: "planDigest", kind: "unknownPlan", schema: false }));
    default:
      return null;
  }
}

/**
 * Valid calls per invalid one for read-only tools. A valid terraform_plan runs terraform
 * (~0.3 s), so it gets fewer to keep the suite inside its time budget.
 */
const VALID_SHARE: Record<string, number> = { terraform_plan: 0.1 };

/**
 * The cases for one tool. A mutating tool gets only invalid calls (at least one defect that is
 * refused before anything runs); a read-only tool also gets valid calls (a quarter by default).
 * `semanticShare` of a mutating tool's cases are schema-valid calls the tool itself refuses.
 */
export function toolCaseArb(spec: ToolSpec, semanticShare = 0.1): fc.Arbitrary<ToolCase> {
  const mutating = MUTATING_TOOLS.has(spec.name);
  const anyMutation = mutationArb(spec, true);
  const realMutation = mutationArb(spec, false);
  const invalid = fc
    .tuple(baseArb(spec), realMutation, fc.array(anyMutation, { maxLength: 2 }))
    .map(([base, first, rest]) => assemble(spec, base, [first, ...rest]));
  // Decoys alone leave a call valid: a repeated key whose last occurrence is the valid one.
  const valid = fc
    .tuple(baseArb(spec), fc.array(decoyArb(spec), { maxLength: 1 }))
    .map(([base, decoys]) => assemble(spec, base, decoys));
  const weighted = (share: number) => Math.max(1, Math.round(share * 100));
  const validShare = VALID_SHARE[spec.name] ?? 0.25;
  const mutated = mutating
    ? invalid
    : fc.oneof(
        { weight: weighted(1 - validShare), arbitrary: invalid },
        { weight: weighted(validShare), arbitrary: valid },
      );
  const semantic = semanticOnlyArb(spec);
  const cases = semantic
    ? fc.oneof(
        { weight: weighted(1 - semanticShare), arbitrary: mutated },
        { weight: weighted(semanticShare), arbitrary: semantic },
      )
    : mutated;
  return cases.map(withInherentDefects).filter((c) => !mutating || c.defects.length > 0);
}

/** A well-formed planDigest never names a saved plan here (terraform_plan never saves one): refused. */
function withInherentDefects(c: ToolCase): ToolCase {
  const digest = c.args instanceof SentObject ? lastValue(c.args, "planDigest") : undefined;
  if (c.tool === "terraform_apply" && typeof digest === "string" && HEX64.test(digest)) {
    if (!c.defects.some((d) => d.field === "planDigest")) {
      return { ...c, defects: [...c.defects, { field: "planDigest", kind: "unknownPlan", schema: false }] };
    }
  }
  return c;
}

/** The smallest valid dev call of each tool: one slipped key away from running for real. */
const DEV_CALLS: Record<string, Record<string, Sent>> = {
  deploy_lambda: { env: "dev" },
  deploy_frontend: { env: "dev", skipBuild: true },
  rollback: { env: "dev", component: "lambda" },
  terraform_apply: { env: "dev", planDigest: "0".repeat(64) },
  preflight: { env: "dev", skipTests: true },
};

/** The slips a model makes, and the keys JavaScript objects treat specially. */
const SLIPS: Array<[string, Sent]> = [
  ["dryrun", true],
  ["dry_run", true],
  ["DryRun", true],
  ["Env", "dev"],
  ["__proto__", new SentObject([["dryRun", true]])],
  ["__proto__", null],
  ["constructor", new SentObject([])],
];

/**
 * Fixed cases run before the random ones (fast-check examples): each valid dev call with one
 * slipped key. On the armed dev env, a slip the server dropped instead of refusing would
 * deploy, and the read-back would show it.
 */
export function slipCases(spec: ToolSpec): ToolCase[] {
  const base = DEV_CALLS[spec.name] ?? { env: "dev" };
  return SLIPS.filter(([key]) => !Object.hasOwn(spec.properties, key)).map(([key, value]) =>
    withInherentDefects(assemble(spec, base, [{ kind: "unknownKey", key, value }])),
  );
}

function lastValue(args: SentObject, key: string): Sent | undefined {
  return args.entries.filter(([k]) => k === key).at(-1)?.[1];
}
