import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connectStdio } from "../support/stdio.js";

/** What a person reads in the client's MCP log when the server starts. */
describe("the built server's start-up line on stderr", () => {
  it("states the mode, the config file and the envs", async () => {
    const app = mkdtempSync(join(tmpdir(), "vyaparai-startup-"));
    writeFileSync(join(app, "deploy.config.json"), '{ "environments": { "qa": {} } }\n');
    const session = await connectStdio({ cwd: app, env: { VYAPARAI_DEPLOY_READ_ONLY: "1" } });
    try {
      expect((await session.client.listTools()).tools).toHaveLength(6);
      expect(session.stderr()).toContain(
        `vyaparai-deploy-mcp: read-only (VYAPARAI_DEPLOY_READ_ONLY), 6 tools; config ${join(app, "deploy.config.json")}; envs`,
      );
      expect(session.stderr()).toMatch(/envs .*prod \(protected\).*qa/);
    } finally {
      await session.close();
    }
  });

  it("with a broken config still lists every tool, says CONFIG ERROR, and each call answers with it", async () => {
    const app = mkdtempSync(join(tmpdir(), "vyaparai-startup-"));
    writeFileSync(join(app, "deploy.config.json"), '{ "environments": { "prod": { "lamda": {} } } }\n');
    const session = await connectStdio({ cwd: app });
    try {
      expect((await session.client.listTools()).tools).toHaveLength(10);
      expect(session.stderr()).toContain("CONFIG ERROR");
      const result = await session.client.callTool({ name: "deploy_status", arguments: { env: "prod" } });
      expect(result.isError).toBe(true);
      const text = (result.content as Array<{ text: string }>)[0]?.text ?? "";
      expect(text).toContain("environments.prod");
      expect(text).toContain('unknown key "lamda"');
    } finally {
      await session.close();
    }
  });
});
