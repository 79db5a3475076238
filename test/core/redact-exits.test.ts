import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { formatHuman } from "../../src/cli/format.js";
import { CONFIG_FILE_NAME, loadConfig } from "../../src/config/load.js";
import { DeployError } from "../../src/core/errors.js";
import { redactDeep } from "../../src/core/redact.js";
import { newReleaseId, writeReleaseRecord } from "../../src/release/records.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { invokeTool } from "../../src/server/invoke.js";
import { createMcpServer } from "../../src/server/mcp-server.js";
import { createRuntime } from "../../src/server/runtime.js";
import { envArg, summaryField } from "../../src/tools/common.js";
import { defineTool } from "../../src/tools/definition.js";
import { CONTROLS, PLANTED, type PlantedSecret, windowsOf } from "./redaction-corpus.js";

/**
 * The one exit: whatever a tool returns, logs, reports as progress or throws, and whatever a
 * release record carries to S3, leaves through redaction. A probe tool plants the corpus's
 * secrets in every field and channel; every byte that leaves is searched for them.
 */

const planted = (id: string) => PLANTED.find((p) => p.id === id) as PlantedSecret;
const SAMPLE = [
  "github-ghp",
  "github-fine-grained-pat",
  "slack-webhook",
  "slack-bot-token",
  "google-api-key",
  "sendgrid",
  "azure-storage-account-key",
  "aws-secret-neutral-name",
  "aws-secret-next-to-key-id",
  "jwt",
  "authorization-unknown-scheme",
  "postgres-url",
  "generic-json-escaped-password",
  "generic-yaml-password",
  "pem-rsa",
  "pem-without-end",
  "anthropic",
].map(planted);
const ALL_TEXT = SAMPLE.map((p) => p.text).join("\n");

function leaksIn(text: string, secrets: readonly PlantedSecret[] = SAMPLE): string[] {
  return secrets.flatMap((p) =>
    p.secrets
      .filter((s) => text.includes(s) || windowsOf(s).some((w) => text.includes(w)))
      .map((s) => `${p.id}: ${s}`),
  );
}

const probe = defineTool({
  name: "leaky_probe",
  title: "Leaky probe",
  description: "Test tool: returns, logs and throws outside text full of credentials.",
  inputSchema: { env: envArg, mode: z.enum(["result", "deploy_error", "crash"]).default("result") },
  outputSchema: {
    summary: summaryField,
    status: z.string(),
    codeSha256: z.string(),
    lines: z.array(z.string()),
    nested: z.object({
      body: z.string(),
      headers: z.record(z.string(), z.string()),
      events: z.array(z.object({ message: z.string() })),
    }),
    outputTail: z.string(),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, ctx) {
    for (const p of SAMPLE) {
      ctx.log("warning", `upstream said: ${p.text}`);
      ctx.progress(`reading output: ${p.text}`);
    }
    if (args.mode === "deploy_error")
      throw new DeployError("AWS_ERROR", `terraform failed: ${ALL_TEXT}`, {
        detail: { errors: ALL_TEXT.split("\n"), outputTail: ALL_TEXT, who: planted("github-ghs").text },
      });
    if (args.mode === "crash") throw new Error(`boom: ${ALL_TEXT}`);
    return {
      summary: `done ${planted("stripe-secret").text}`,
      status: "ok",
      codeSha256: CONTROLS.codeSha256[0] as string,
      // A PEM block and a header split over items of a list: each piece must come back redacted.
      lines: ALL_TEXT.split("\n"),
      nested: {
        body: ALL_TEXT,
        headers: {
          authorization: "Bearer abc.def.ghi",
          "x-request-id": CONTROLS.uuid[0] as string,
          cookie: "sid=1",
        },
        events: SAMPLE.map((p) => ({ message: p.text })),
      },
      outputTail: ALL_TEXT,
    };
  },
});

function appRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), "vyaparai-redact-"));
  writeFileSync(join(dir, CONFIG_FILE_NAME), JSON.stringify({ environments: { dev: {} } }));
  return dir;
}
const runtime = createRuntime({ loaded: loadConfig({ cwd: appRoot(), env: {} }), env: {} });
afterAll(() => runtime.close());

describe("every channel out of invokeTool is redacted", () => {
  it.each(["result", "deploy_error", "crash"] as const)(
    "mode %s: result text, structured result, logs and progress",
    async (mode) => {
      const logs: string[] = [];
      const progress: string[] = [];
      const result = await invokeTool(probe, { env: "dev", mode }, runtime, {
        log: (_level, message) => logs.push(message),
        progress: (message) => progress.push(message),
      });
      expect(result.isError).toBe(mode !== "result");
      expect(logs).toHaveLength(SAMPLE.length);
      expect(progress).toHaveLength(SAMPLE.length);
      expect(leaksIn(result.text)).toEqual([]);
      expect(leaksIn(JSON.stringify(result.structured))).toEqual([]);
      expect(leaksIn(logs.join("\n"))).toEqual([]);
      expect(leaksIn(progress.join("\n"))).toEqual([]);
      // What the CLI prints (human and --json) is built from the same redacted result.
      expect(leaksIn(formatHuman(probe.name, result))).toEqual([]);
      if (mode === "result") {
        expect(result.structured.codeSha256).toBe(CONTROLS.codeSha256[0]);
        expect(
          (result.structured.nested as { headers: Record<string, string> }).headers["x-request-id"],
        ).toBe(CONTROLS.uuid[0]);
        // Every piece of the PEM block split over list items says so.
        const lines = result.structured.lines as string[];
        expect(lines).toHaveLength(ALL_TEXT.split("\n").length);
        expect(lines.filter((l) => /^[A-Za-z0-9+/=]{8,}$/.test(l))).toEqual([]);
      }
    },
  );

  it("over MCP: tool result, log notifications and progress notifications", async () => {
    const server = createMcpServer({ runtime, tools: [probe] });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "redaction-test", version: "1.0.0" });
    const notes: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      notes.push(JSON.stringify(n.params));
    });
    await client.connect(clientSide);
    const progress: string[] = [];
    for (const mode of ["result", "deploy_error", "crash"]) {
      const result = await client.callTool(
        { name: "leaky_probe", arguments: { env: "dev", mode } },
        undefined,
        {
          onprogress: (p) => progress.push(JSON.stringify(p)),
        },
      );
      expect(leaksIn(JSON.stringify(result))).toEqual([]);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(notes.length).toBeGreaterThanOrEqual(SAMPLE.length);
    expect(progress.length).toBeGreaterThan(0);
    expect(leaksIn(notes.join("\n"))).toEqual([]);
    expect(leaksIn(progress.join("\n"))).toEqual([]);
    await client.close();
    await server.close();
  });

  it("the person's approval text is redacted before it is shown", async () => {
    const asked: string[] = [];
    const approving = defineTool({
      name: "approving_probe",
      title: "Approving probe",
      description: "Test tool: asks a person with outside text in the question.",
      inputSchema: { env: envArg },
      outputSchema: { summary: summaryField },
      annotations: probe.annotations,
      async handler(_args, ctx) {
        await ctx.askPerson?.({ message: `Break the lock held by ${ALL_TEXT}?` });
        return { summary: "asked" };
      },
    });
    await invokeTool(approving, { env: "dev" }, runtime, {
      askPerson: async (request) => {
        asked.push(request.message);
        return "decline";
      },
    });
    expect(asked).toHaveLength(1);
    expect(leaksIn(asked.join("\n"))).toEqual([]);
  });
});

describe("release records written to S3", () => {
  it("the body put to S3 carries no secret from any outside-text field", async () => {
    const puts: string[] = [];
    const s3 = {
      send: async (command: PutObjectCommand) => {
        puts.push(String(command.input.Body));
        return {};
      },
    } as unknown as S3Client;
    const record: ReleaseRecord = {
      releaseId: newReleaseId(new Date("2026-11-25T13:05:12.345Z")),
      env: "prod",
      component: "infra",
      tool: "terraform_apply",
      status: "failed",
      who: `arn:aws:sts::123456789012:assumed-role/deployer/${planted("github-ghp").text}`,
      gitSha: CONTROLS.gitSha[0] as string,
      startedAt: "2026-11-25T13:05:12.345Z",
      finishedAt: "2026-11-25T13:06:12.345Z",
      planDigest: "a".repeat(64),
      journal: [],
      artifacts: { codeSha256: CONTROLS.codeSha256[0] },
      before: {},
      after: {},
      timings: {},
      error: `terraform apply failed: ${ALL_TEXT}`,
      warnings: ALL_TEXT.split("\n"),
      health: { targets: [{ name: "api", error: `body excerpt: ${ALL_TEXT}` }] },
      recovery: { outcome: "unresolved", by: "deploy_status", at: "2026-11-25T13:07:00Z", note: ALL_TEXT },
    };
    await writeReleaseRecord(s3, "bucket", record);
    expect(puts).toHaveLength(1);
    const body = puts[0] as string;
    expect(leaksIn(body)).toEqual([]);
    expect(body).toContain(CONTROLS.codeSha256[0]);
    expect(body).toContain(CONTROLS.gitSha[0]);
    expect(body).toContain(record.releaseId);
  });

  it("redactDeep keeps S3 keys, CodeSha256, release ids and UUIDs under any field name", () => {
    const facts = {
      key: CONTROLS.artifactKey[0],
      artifactKey: CONTROLS.artifactKey[1],
      objectKey: CONTROLS.artifactKey[2],
      codeSha256: CONTROLS.codeSha256[1],
      releaseId: CONTROLS.releaseId[0],
      idempotencyKey: CONTROLS.uuid[0],
      revisionId: CONTROLS.uuid[1],
      manifest: { "assets/secret-logo.png": { sha256: "b".repeat(64) } },
      missing: [{ bucket: "www.vyapaarai.com", key: "assets/index-4f3c2a1b.js" }],
    };
    expect(redactDeep(facts)).toEqual(facts);
  });
});
