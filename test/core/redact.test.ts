import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { redactDeep, redactText } from "../../src/core/redact.js";
import { newReleaseId } from "../../src/release/records.js";

const ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE";
const TEMP_KEY = "ASIAY34FZKBOKMUTVV7A";
const SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN =
  "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDtqstfDEaRfZKFK5Z2n2CnP3example+more/Z9==";
const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

/** A token of the exact shape safety/tokens.ts issues (payload JSON, 32-byte mac). */
function confirmationTokenShape(): string {
  const payload = {
    tool: "deploy_lambda",
    env: "prod",
    account: "123456789012",
    region: "ap-south-1",
    digest: createHash("sha256").update(randomBytes(8)).digest("hex"),
    nonce: randomBytes(16).toString("hex"),
    exp: 1_795_000_000_000,
  };
  return `v1.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${randomBytes(32).toString("base64url")}`;
}

describe("redactText hides credentials", () => {
  it.each([
    ["AKIA access key", `aws key ${ACCESS_KEY} in a log line`, ACCESS_KEY],
    ["ASIA temporary key", `creds=${TEMP_KEY}`, TEMP_KEY],
    ["secret key standing alone", `found ${SECRET_KEY} in config`, SECRET_KEY],
    ["secret key as env assignment", `AWS_SECRET_ACCESS_KEY=${SECRET_KEY}`, SECRET_KEY],
    ["session token standing alone", `session ${SESSION_TOKEN} end`, SESSION_TOKEN.slice(0, 30)],
    [
      "session token as header",
      "x-amz-security-token: FQoGZXIvYXdzEDMaDFooBarBaz123",
      "FQoGZXIvYXdzEDMaDFoo",
    ],
    ["bearer token", "Authorization: Bearer abc123.def456-ghi789", "abc123.def456-ghi789"],
    ["JWT", `id_token ${JWT} received`, JWT],
    ["JWT inside a sentence", `cookie was ${JWT}; path=/`, "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"],
    ["password field in JSON", '{"user":"bob","password":"hunter2"}', "hunter2"],
    ["secret field in JSON with spaces", '{ "db_secret" : "s3cr3t-value" }', "s3cr3t-value"],
    ["token field in JSON", '{"accessToken":"tok-123456"}', "tok-123456"],
    ["password key=value", "connecting with password=hunter2 user=bob", "hunter2"],
    ["quoted secret key=value", "CLIENT_SECRET='p@ss word'", "p@ss word"],
    ["api key: value", "api_key: sk_live_abcdef", "sk_live_abcdef"],
    ["URL with credentials", "postgres://admin:hunter2@db.example.com:5432/app", "hunter2"],
    ["https URL with credentials", "fetching https://user:pa55@example.com/x", "pa55"],
    [
      "private key block",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
      "MIIEowIBAAKCAQEA",
    ],
  ])("%s", (_name, input, secret) => {
    const out = redactText(input);
    expect(out).not.toContain(secret);
    expect(out).toContain("[REDACTED]");
  });

  it("keeps the surrounding text readable", () => {
    expect(redactText("connecting with password=hunter2 user=bob")).toBe(
      "connecting with password=[REDACTED] user=bob",
    );
    expect(redactText("postgres://admin:hunter2@db.example.com:5432/app")).toBe(
      "postgres://[REDACTED]@db.example.com:5432/app",
    );
  });

  it("a NUL or placeholder-like character in the input cannot shield a secret", () => {
    for (const trick of ["\u0000", "\uE000", "\uE000CT0\uE000"]) {
      const out = redactText(`password=${trick}hunter2 ${SECRET_KEY}`);
      expect(out).not.toContain("hunter2");
      expect(out).not.toContain(SECRET_KEY);
    }
  });
});

describe("redactText keeps what is not a credential", () => {
  it.each([
    ["git sha (40 hex)", "HEAD is 3f786850e387550fdab836ed7e6dc881de23001b now"],
    ["sha-256 hex", `digest ${createHash("sha256").update("x").digest("hex")}`],
    ["base64 CodeSha256 with =", "CodeSha256: q6t5xHbe2yXjOI8lJBbsyxDBVk0HRu6mT5lB/sxGUrk="],
    ["base64 CodeSha256 in JSON", '{"codeSha256":"Ab+cD/eF0123456789abcdefghijklmnopqrstuvwxy="}'],
    ["release id", `release ${newReleaseId(new Date("2026-11-25T13:05:12Z"))} recorded`],
    [
      "S3 key of a release",
      "s3://vyaparai-lambda-deployments/releases/prod/lambda/20261125T130512Z-3fa9c1.json",
    ],
    ["ARN", "arn:aws:sts::123456789012:assumed-role/deployer/session"],
    ["plain path", "frontend-pwa/dist/assets/index-4f3c2a1b.js"],
  ])("%s", (_name, input) => {
    expect(redactText(input)).toBe(input);
  });

  it("confirmation tokens survive in text, in key=value text and in JSON, over many random tokens", () => {
    for (let i = 0; i < 500; i++) {
      const token = confirmationTokenShape();
      expect(redactText(`Call again with ${token}`)).toBe(`Call again with ${token}`);
      expect(redactText(`confirmationToken: ${token}`)).toBe(`confirmationToken: ${token}`);
      const json = JSON.stringify({ confirmationToken: token, expiresAt: "2026-11-25T13:15:00Z" });
      expect(redactText(json)).toBe(json);
    }
  });

  it("a token-shaped string whose payload is not ours is treated like any other text", () => {
    const fake = `v1.${Buffer.from('{"x":1}').toString("base64url")}aaaaaaaaaaaaaaaa.${randomBytes(32).toString("base64url")}`;
    expect(redactText(`token=${fake}`)).toBe("token=[REDACTED]");
  });
});

describe("redactDeep", () => {
  it("hides secret-named fields and secrets inside strings, keeps confirmationToken", () => {
    const token = confirmationTokenShape();
    const out = redactDeep({
      summary: `Deployed with key ${ACCESS_KEY}`,
      confirmationToken: token,
      env: { DB_PASSWORD: "hunter2", HOME: "/root" },
      nested: [{ authorization: "Basic dXNlcjpwYXNz" }, `jwt ${JWT}`],
      codeSha256: "q6t5xHbe2yXjOI8lJBbsyxDBVk0HRu6mT5lB/sxGUrk=",
      count: 3,
    });
    expect(out).toEqual({
      summary: "Deployed with key [REDACTED]",
      confirmationToken: token,
      env: { DB_PASSWORD: "[REDACTED]", HOME: "/root" },
      nested: [{ authorization: "[REDACTED]" }, "jwt [REDACTED]"],
      codeSha256: "q6t5xHbe2yXjOI8lJBbsyxDBVk0HRu6mT5lB/sxGUrk=",
      count: 3,
    });
  });
});
