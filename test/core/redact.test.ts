import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { redactDeep, redactLines, redactText } from "../../src/core/redact.js";
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

describe("redactText: wider rule set, controls kept", () => {
  it.each([
    [
      "a Secrets Manager ARN",
      "arn:aws:secretsmanager:ap-south-1:123456789012:secret:vyaparai/prod/db-AbCdEf",
    ],
    ["a terraform resource address", "aws_secretsmanager_secret.db: Refreshing state... [id=db]"],
    ["a terraform sensitive value", "  ~ password = (sensitive value)"],
    ["an env reference", `DB_PASSWORD="$\{DB_PASSWORD:-}"`],
    ["a GitHub Actions secret reference", `token: $\{{ secrets.GITHUB_TOKEN }}`],
    ["an S3 Key field", `{"Key":"backend/${createHash("sha256").update("z").digest("hex")}.zip"}`],
    ["test counts", "Tests: 118 passed, 2 skipped; pass: 3"],
    ["a file name with secret in it", "M src/secret.ts: modified"],
    ["prose with 'Basic' and 'Bearer'", "Basic authentication and Bearer authentication are supported"],
    ["a URL with a port and an @ in its path", "https://host:8443/users/@me"],
  ])("%s", (_name, input) => {
    expect(redactText(input)).toBe(input);
  });

  it.each([
    [
      "Authorization of an unknown scheme",
      "Authorization: Vyapaar-Key abcDEF123ghiJKL456",
      "abcDEF123ghiJKL456",
    ],
    [
      "a Token scheme keeps its name",
      "Authorization: token 0123456789abcdef0123456789abcdef01234567",
      "0123456789abcdef",
    ],
    ["JSON-escaped password", '{\\"password\\":\\"hun\\\\\\"ter2x\\",\\"a\\":1}', "ter2x"],
    ["YAML value with spaces", "database:\n  password: correct horse battery", "horse"],
    [
      "ADO connection string with a space",
      "Server=x;User ID=u;Password=my pass word;Encrypt=True",
      "pass word",
    ],
    ["redis URL without a user", "redis://:s3cretpw@cache:6379/0", "s3cretpw"],
    ["a password holding # and @", "https://u:p#ss@w0rd@host/x", "ss@w0rd"],
    ["an XML element", "<Password>abcdef12</Password>", "abcdef12"],
    ["a CLI flag", "mysqldump --password hunter22 --host db", "hunter22"],
    ["Set-Cookie", "Set-Cookie: sid=AbC123xyz; HttpOnly", "AbC123xyz"],
  ])("%s", (_name, input, secret) => {
    const out = redactText(input);
    expect(out).not.toContain(secret);
    expect(out).toContain("[REDACTED]");
  });

  it("keeps the header's scheme readable", () => {
    expect(redactText("Authorization: Bearer abc123.def456-ghi789")).toBe("Authorization: Bearer [REDACTED]");
    expect(redactText('{"authorization":"Basic dXNlcjpwYXNz"}')).toBe('{"authorization":"Basic [REDACTED]"}');
  });

  it("adversarial inputs finish in bounded time (no catastrophic backtracking)", () => {
    const b64 = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2".slice(0, 64);
    const inputs = [
      "a=".repeat(50_000),
      "key=".repeat(50_000),
      '"password":"'.repeat(20_000),
      '\\"token\\":\\"'.repeat(20_000),
      "https://a:b@".repeat(20_000),
      `${`${b64}\n`.repeat(3000)}-----END CERTIFICATE-----`,
      "-----END PRIVATE KEY-----\n".repeat(3000),
      "Password=".repeat(30_000),
      `x://${"a:".repeat(50_000)}`,
      "eyJhbGciOiJIUzI1NiJ9.".repeat(20_000),
    ];
    for (const input of inputs) {
      const started = performance.now();
      redactText(input);
      expect(performance.now() - started, input.slice(0, 30)).toBeLessThan(3000);
    }
  });

  it("redactLines returns one string per input line for any mix of fragments", () => {
    const fragments = [
      "-----BEGIN RSA PRIVATE KEY-----",
      "-----END RSA PRIVATE KEY-----",
      "MIIEowIBAAKCAQEAx8f9q2Lk3mNp4Rs5Tu6Vw7Xy8Za9Bc0De1Fg2Hi3Jk4Lm5No6Pq7",
      "\n",
      "\\n",
      '"password":"',
      "\\",
      "token=",
      "Authorization: ",
      "Bearer ",
      "\r\n",
      "ok",
      " ",
    ];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 500; i++) {
      const lines = Array.from({ length: 1 + (next() % 6) }, () =>
        Array.from({ length: next() % 5 }, () => fragments[next() % fragments.length]).join(""),
      );
      const out = redactLines(lines);
      expect(out).toHaveLength(lines.length);
      for (const [j, line] of out.entries()) {
        expect(line.split("\n").length, JSON.stringify(lines)).toBe((lines[j] as string).split("\n").length);
      }
    }
  });
});
