import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfig, resolveEnv } from "../../src/config/load.js";
import { protectionReasonsFor } from "../../src/config/protection.js";

/** Protection is raised by any source and lowered by none. */
describe("protection lives with the resources", () => {
  it("a config cannot lower the built-in protection of prod", () => {
    const config = parseConfig({ environments: { prod: { protected: false } } }, "deploy.config.json");
    expect(resolveEnv(config, "prod").protected).toBe(true);
    expect(protectionReasonsFor(config, "prod")).toContain("protected in the built-in defaults");
  });

  it("a new env pointing at prod's function, bucket or distribution is protected, saying which", () => {
    const config = parseConfig({
      environments: {
        hotfix: { lambda: { functionName: "vyaparai-api-prod" } },
        preview: { frontend: { buckets: ["www.vyapaarai.com"], distributionId: null, url: null } },
        cdn: { frontend: { buckets: ["cdn-only"], distributionId: "E1UY93SVXV8QOF", url: null } },
        fresh: {},
      },
    });
    expect(resolveEnv(config, "hotfix").protected).toBe(true);
    expect(protectionReasonsFor(config, "hotfix")).toEqual([
      'its function vyaparai-api-prod is a target of protected env "prod" (the built-in defaults)',
    ]);
    expect(resolveEnv(config, "preview").protected).toBe(true);
    expect(resolveEnv(config, "cdn").protected).toBe(true);
    expect(resolveEnv(config, "fresh").protected).toBe(false);
    expect(resolveEnv(config, "dev").protected).toBe(false);
  });

  it("an ARN names the same function as its bare name; another region does not", () => {
    const config = parseConfig({
      environments: {
        arn: {
          lambda: { functionName: "arn:aws:lambda:ap-south-1:123456789012:function:vyaparai-api-prod" },
        },
        elsewhere: { region: "us-east-1", lambda: { functionName: "vyaparai-api-prod" } },
      },
    });
    expect(resolveEnv(config, "arn").protected).toBe(true);
    expect(resolveEnv(config, "elsewhere").protected).toBe(false);
  });

  it("protection spreads through shared targets to a fixed point, and through the terraform state", () => {
    const state = { bucket: "tf-state", key: "vyaparai/prod.tfstate" };
    const config = parseConfig({
      environments: {
        prod: { terraform: { dir: "infra", backendConfig: state, vars: {} } },
        a: {
          frontend: { buckets: ["vyaparai-frontend-b"], distributionId: null, url: null },
          terraform: { dir: "infra", backendConfig: state, vars: {} },
        },
        b: { frontend: { buckets: ["vyaparai-frontend-b"], distributionId: null, url: null } },
        c: {
          lambda: { functionName: "vyaparai-api-b" },
          frontend: { buckets: ["c-site"], distributionId: null, url: null },
        },
      },
    });
    expect(resolveEnv(config, "a").protected).toBe(true);
    expect(protectionReasonsFor(config, "a")[0]).toMatch(
      /terraform state s3:\/\/tf-state\/vyaparai\/prod\.tfstate/,
    );
    expect(resolveEnv(config, "b").protected).toBe(true);
    // c's function is b's conventional function vyaparai-api-b.
    expect(resolveEnv(config, "c").protected).toBe(true);
  });

  it("a config file outside the app repo cannot unprotect what the repo's config protects", () => {
    const repo = mkdtempSync(join(tmpdir(), "vyaparai-protect-repo-"));
    writeFileSync(
      join(repo, "deploy.config.json"),
      JSON.stringify({ environments: { staging: { protected: true } } }),
    );
    const outside = mkdtempSync(join(tmpdir(), "vyaparai-protect-outside-"));
    const file = join(outside, "lenient.json");
    writeFileSync(
      file,
      JSON.stringify({ environments: { staging: { protected: false }, prod: { protected: false } } }),
    );
    const nested = join(repo, "backend");
    mkdirSync(nested);
    for (const loaded of [
      loadConfig({ cwd: nested, configPath: file, env: {} }),
      loadConfig({ cwd: nested, env: { VYAPARAI_DEPLOY_CONFIG: file } }),
    ]) {
      expect(resolveEnv(loaded.config, "staging").protected).toBe(true);
      expect(protectionReasonsFor(loaded.config, "staging")).toContain(
        `protected in ${join(repo, "deploy.config.json")}`,
      );
      expect(resolveEnv(loaded.config, "prod").protected).toBe(true);
    }
  });
});
