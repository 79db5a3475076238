import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { CreatePolicyCommand, CreateRoleCommand, IAMClient } from "@aws-sdk/client-iam";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { AWS_COMMANDS } from "../../src/iam/actions.js";
import { type PolicyDocument, policiesFor } from "../../src/iam/policy.js";
import { useMoto } from "../support/moto.js";
import { BUILT_CLI } from "../support/stdio.js";

const SRC = resolve(import.meta.dirname, "../../src");
/** Beside the product (they seed emulators, measure, write docs): not what users' IAM must allow. */
const APPS = ["emulator", "demo", "bench", "docs"];

function productFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return APPS.includes(relative(SRC, path)) ? [] : productFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** Every SDK command, paginator, waiter and helper the product's code imports, as "client:Name". */
function sentCommands(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const add = (pkg: string, names: string, file: string) => {
    const service = pkg.replace(/^client-/, "");
    for (const raw of names.split(",")) {
      const name = raw.trim().replace(/\s+as\s+\w+$/, "");
      if (!name || name.startsWith("type ")) continue;
      if (!/Command$|^paginate|^waitUntil|^Upload$/.test(name)) continue;
      const key = `${service}:${name}`;
      found.set(key, [...(found.get(key) ?? []), relative(SRC, file)]);
    }
  };
  for (const file of productFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    const patterns = [
      /import\s*\{([^}]*)\}\s*from\s*"@aws-sdk\/(client-[a-z0-9-]+|lib-storage)"/g,
      /const\s*\{([^}]*)\}\s*=\s*await\s+import\(\s*"@aws-sdk\/(client-[a-z0-9-]+|lib-storage)"\s*\)/g,
    ];
    for (const pattern of patterns) {
      for (const match of text.matchAll(pattern)) add(match[2] as string, match[1] as string, file);
    }
    for (const match of text.matchAll(
      /\(await import\(\s*"@aws-sdk\/(client-[a-z0-9-]+|lib-storage)"\s*\)\)\.(\w+)/g,
    )) {
      add(match[1] as string, match[2] as string, file);
    }
  }
  return found;
}

const CONFIG = parseConfig({
  environments: {
    prod: {
      accountId: "123456789012",
      deployRole: {
        roleArn: "arn:aws:iam::123456789012:role/vyaparai-deploy-prod",
        mfaSerial: "arn:aws:iam::123456789012:mfa/priya",
      },
    },
  },
});
const PROD = CONFIG.environments.prod as NonNullable<(typeof CONFIG.environments)["prod"]>;

function actionsOf(document: PolicyDocument): Set<string> {
  return new Set(document.Statement.flatMap((s) => s.Action));
}

describe("the generated IAM policies", () => {
  it("know every AWS command the code can send, and nothing it does not", () => {
    const sent = sentCommands();
    // The scan itself works: the commands every deploy sends are found.
    expect([...sent.keys()]).toEqual(
      expect.arrayContaining([
        "lambda:UpdateFunctionCodeCommand",
        "s3:PutObjectCommand",
        "lib-storage:Upload",
      ]),
    );
    const unknown = [...sent.keys()].filter((key) => !Object.hasOwn(AWS_COMMANDS, key));
    expect(
      unknown,
      `add these to src/iam/actions.ts: ${unknown.map((k) => `${k} (${sent.get(k)})`).join(", ")}`,
    ).toEqual([]);
    const stale = Object.keys(AWS_COMMANDS).filter((key) => !sent.has(key));
    expect(stale, "no longer sent: remove from src/iam/actions.ts").toEqual([]);
  });

  it("grant each sent command's actions: reads to the caller, everything to the deploy role", () => {
    const policies = policiesFor(PROD, "prod");
    const read = actionsOf(policies.read);
    const deploy = actionsOf(policies.deploy);
    for (const [key, access] of Object.entries(AWS_COMMANDS)) {
      for (const action of access.actions) {
        if (access.kind === "read") expect(read.has(action) && deploy.has(action), key).toBe(true);
        if (access.kind === "deploy") expect(deploy.has(action), key).toBe(true);
        if (access.kind === "assume") expect(read.has(action), key).toBe(true);
      }
    }
    // The caller's set changes nothing.
    for (const action of read)
      expect(action).toMatch(/:(Get|List|Describe|Filter|StartLiveTail|AssumeRole|SetSourceIdentity)/);
  });

  it("are scoped to the env's resources", () => {
    const { read, deploy, trust } = policiesFor(PROD, "prod");
    const resources = [...read.Statement, ...deploy.Statement].flatMap((s) => s.Resource ?? []);
    // Only dynamodb:ListTables cannot be scoped.
    const unscoped = [...read.Statement, ...deploy.Statement].filter((s) => s.Resource?.includes("*"));
    expect([...new Set(unscoped.flatMap((s) => s.Action))]).toEqual(["dynamodb:ListTables"]);
    expect(resources).toEqual(
      expect.arrayContaining([
        "arn:aws:lambda:ap-south-1:123456789012:function:vyaparai-api-prod",
        "arn:aws:s3:::vyaparai-lambda-deployments/backend/*",
        "arn:aws:s3:::vyaparai-lambda-deployments/locks/prod.json",
        "arn:aws:s3:::vyaparai-lambda-deployments/releases/prod/*",
        "arn:aws:s3:::www.vyapaarai.com/*",
        "arn:aws:cloudfront::123456789012:distribution/E1UY93SVXV8QOF",
        "arn:aws:dynamodb:ap-south-1:123456789012:table/vyaparai-*-prod",
        "arn:aws:logs:ap-south-1:123456789012:log-group:/aws/lambda/vyaparai-api-prod:*",
      ]),
    );
    // No other env's keys in the artifact bucket.
    expect(resources.some((r) => /releases\/(dev|staging)|locks\/(dev|staging)/.test(r))).toBe(false);
    expect(trust?.Statement[0]?.Condition?.Bool).toEqual({ "aws:MultiFactorAuthPresent": "true" });
    expect(trust?.Statement[0]?.Action).toEqual(["sts:AssumeRole", "sts:SetSourceIdentity"]);
  });
});

describe("the policies against IAM (moto validates policy documents)", () => {
  const moto = useMoto();
  it("are accepted as identity and trust policies", async () => {
    const iam = new IAMClient({ region: "us-east-1", endpoint: moto.current.endpoint });
    const { read, deploy, trust } = policiesFor(PROD, "prod");
    for (const [name, document] of Object.entries({ read, deploy })) {
      const out = await iam.send(
        new CreatePolicyCommand({
          PolicyName: `vyaparai-deploy-${name}`,
          PolicyDocument: JSON.stringify(document),
        }),
      );
      expect(out.Policy?.Arn).toContain(`policy/vyaparai-deploy-${name}`);
    }
    const role = await iam.send(
      new CreateRoleCommand({
        RoleName: "vyaparai-deploy-prod",
        AssumeRolePolicyDocument: JSON.stringify(trust),
      }),
    );
    expect(role.Role?.Arn).toContain("role/vyaparai-deploy-prod");
    iam.destroy();
  });
});

describe("vyaparai-deploy iam-policy", () => {
  it("prints one document per --role, valid JSON, for the app's config", () => {
    const app = mkdtempSync(join(tmpdir(), "vyaparai-iam-"));
    writeFileSync(
      join(app, "deploy.config.json"),
      JSON.stringify({
        environments: {
          staging: { deployRole: { roleArn: "arn:aws:iam::123456789012:role/deployer", mfaSerial: null } },
        },
      }),
    );
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BUILT_CLI, "iam-policy", ...args], { cwd: app, encoding: "utf8" });
    const deploy = run("--env", "staging", "--role", "deploy");
    expect(deploy.status, deploy.stderr).toBe(0);
    const document = JSON.parse(deploy.stdout) as PolicyDocument;
    expect(document.Version).toBe("2012-10-17");
    expect(JSON.stringify(document)).toContain("function:vyaparai-api-staging");
    expect(deploy.stderr).toMatch(/note: .*terraform/);
    expect(deploy.stderr).toMatch(/no mfaSerial/);
    const all = JSON.parse(run("--env", "staging").stdout) as Record<string, unknown>;
    expect(Object.keys(all)).toEqual(["read", "deploy", "trust"]);
    expect(run("--env", "dev", "--role", "trust").status).toBe(1);
    expect(run("--role", "admin").status).toBe(2);
    expect(run("--envv", "prod").status).toBe(2);
  });
});
