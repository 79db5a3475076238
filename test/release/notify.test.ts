import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import type { LogLevel } from "../../src/core/context.js";
import { buildReleaseMessage, formatDuration, notifyRelease } from "../../src/release/notify.js";
import type { ReleaseRecord } from "../../src/release/types.js";

interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  body: { text: string; blocks: Array<Record<string, unknown>> };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A real webhook receiver on loopback; `respond` decides the answer. */
async function webhook(
  respond: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end("ok"),
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk: Buffer) => {
      raw += chunk.toString();
    });
    req.on("end", () => {
      received.push({
        method: req.method ?? "",
        path: req.url ?? "",
        contentType: req.headers["content-type"],
        body: JSON.parse(raw),
      });
      respond(req, res);
    });
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  // The path is the secret part of a real webhook URL.
  return { url: `http://127.0.0.1:${port}/services/T0AAA/B0BBB/s3cr3tW3bh00kPath`, received };
}

function context(webhookEnv: string | null) {
  const config = parseConfig({ environments: { prod: { notifyWebhookEnv: webhookEnv } } });
  const logs: Array<{ level: LogLevel; message: string }> = [];
  const env = config.environments.prod;
  if (!env) throw new Error("prod env missing");
  return { ctx: { env, log: (level: LogLevel, message: string) => logs.push({ level, message }) }, logs };
}

function record(patch: Partial<ReleaseRecord> = {}): ReleaseRecord {
  return {
    releaseId: "20261125T131500Z-lambda-a1b2c3",
    env: "prod",
    component: "lambda",
    tool: "deploy_lambda",
    status: "succeeded",
    who: "arn:aws:sts::123456789012:assumed-role/deployer/alice",
    gitSha: "0123456789abcdef0123456789abcdef01234567",
    startedAt: "2026-11-25T13:15:00.000Z",
    finishedAt: "2026-11-25T13:15:48.400Z",
    planDigest: "d".repeat(64),
    journal: [],
    artifacts: {},
    before: { version: "41" },
    after: { version: "42" },
    timings: { upload: 1200 },
    ...patch,
  };
}

describe("release notifications", () => {
  it("posts a Slack-compatible payload with env, component, status, release, who, sha and duration", async () => {
    const hook = await webhook();
    const { ctx, logs } = context("VYAPARAI_SLACK_WEBHOOK");
    await notifyRelease(ctx, record(), { environment: { VYAPARAI_SLACK_WEBHOOK: hook.url } });

    expect(hook.received).toHaveLength(1);
    const [request] = hook.received;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/services/T0AAA/B0BBB/s3cr3tW3bh00kPath");
    expect(request?.contentType).toBe("application/json");
    const text = request?.body.text ?? "";
    for (const expected of [
      "*prod*: lambda release succeeded",
      "Component: lambda",
      "Status: succeeded",
      "Release: 20261125T131500Z-lambda-a1b2c3",
      "Who: arn:aws:sts::123456789012:assumed-role/deployer/alice",
      "Git sha: 0123456789abcdef0123456789abcdef01234567",
      "Duration: 48 s",
    ]) {
      expect(text).toContain(expected);
    }
    const fields = ((request?.body.blocks[1]?.fields ?? []) as Array<{ text: string }>).map((f) => f.text);
    expect(fields).toContain("*Env*\nprod");
    expect(fields).toContain("*Status*\nsucceeded");
    expect(logs.filter((l) => l.level === "warning")).toEqual([]);
  });

  it("reads the variable from the process environment by default", async () => {
    const hook = await webhook();
    const { ctx } = context("NOTIFY_TEST_WEBHOOK_URL");
    process.env.NOTIFY_TEST_WEBHOOK_URL = hook.url;
    try {
      await notifyRelease(ctx, record({ status: "rolled_back", error: "health gate: api answered 502" }));
    } finally {
      delete process.env.NOTIFY_TEST_WEBHOOK_URL;
    }
    const body = hook.received[0]?.body;
    expect(body?.text).toContain("lambda release failed and was rolled back");
    expect(body?.text).toContain("Status: rolled_back");
    expect(body?.text).toContain("Error: health gate: api answered 502");
  });

  it("describes a rollback and escapes Slack control characters in outside text", () => {
    const message = buildReleaseMessage(
      record({
        tool: "rollback",
        component: "frontend",
        status: "failed",
        restoredFrom: "r-41",
        error: "<!channel> see <https://evil.example|here> & token=abc123secret",
        finishedAt: null,
      }),
    );
    expect(message.text).toContain("frontend rollback failed");
    expect(message.text).toContain("Restored: r-41");
    expect(message.text).toContain("Duration: unknown");
    expect(message.text).toContain("&lt;!channel&gt; see &lt;https://evil.example|here&gt; &amp;");
    expect(message.text).not.toContain("abc123secret");
    expect(message.blocks.at(-1)).toEqual({
      type: "context",
      elements: [{ type: "plain_text", text: expect.stringContaining("<!channel>"), emoji: false }],
    });
  });

  it("swallows an HTTP 500 with a warning that does not contain the URL", async () => {
    const hook = await webhook((_req, res) => {
      res.statusCode = 500;
      res.end("internal error at /services/T0AAA/B0BBB/s3cr3tW3bh00kPath");
    });
    const { ctx, logs } = context("VYAPARAI_SLACK_WEBHOOK");
    await expect(
      notifyRelease(ctx, record({ status: "failed" }), { environment: { VYAPARAI_SLACK_WEBHOOK: hook.url } }),
    ).resolves.toBeUndefined();
    expect(hook.received).toHaveLength(1);
    const warnings = logs.filter((l) => l.level === "warning").map((l) => l.message);
    expect(warnings).toEqual([
      "Release notification to the webhook in VYAPARAI_SLACK_WEBHOOK failed: the webhook answered HTTP 500. The release itself is not affected.",
    ]);
    expectNoUrlIn(logs, hook.url);
  });

  it("swallows a closed port with a warning that does not contain the URL", async () => {
    const hook = await webhook();
    const closed = servers.pop() as Server;
    closed.close();
    await once(closed, "close");
    const { ctx, logs } = context("VYAPARAI_SLACK_WEBHOOK");
    await notifyRelease(ctx, record(), { environment: { VYAPARAI_SLACK_WEBHOOK: hook.url } });
    const warnings = logs.filter((l) => l.level === "warning").map((l) => l.message);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("could not reach the webhook (ECONNREFUSED)");
    expectNoUrlIn(logs, hook.url);
  });

  it("gives up on a webhook that never answers within the bound", async () => {
    const hook = await webhook(() => {
      // Never answers: the notification must not hold the deploy up past its timeout.
    });
    const { ctx, logs } = context("VYAPARAI_SLACK_WEBHOOK");
    await notifyRelease(ctx, record(), {
      environment: { VYAPARAI_SLACK_WEBHOOK: hook.url },
      timeoutMs: 300,
    });
    expect(hook.received).toHaveLength(1);
    expect(logs.map((l) => l.message)).toEqual([
      "Release notification to the webhook in VYAPARAI_SLACK_WEBHOOK failed: no answer within 0.3 s. The release itself is not affected.",
    ]);
  });

  it("warns about an unset or malformed variable without echoing its value", async () => {
    const unset = context("VYAPARAI_SLACK_WEBHOOK");
    await notifyRelease(unset.ctx, record(), { environment: {} });
    expect(unset.logs).toEqual([
      {
        level: "warning",
        message: "Release notification skipped: VYAPARAI_SLACK_WEBHOOK (notifyWebhookEnv) is not set.",
      },
    ]);
    const malformed = context("VYAPARAI_SLACK_WEBHOOK");
    await notifyRelease(malformed.ctx, record(), {
      environment: { VYAPARAI_SLACK_WEBHOOK: "ftp://hooks.example/s3cr3tW3bh00kPath" },
    });
    expect(malformed.logs.map((l) => l.message)).toEqual([
      "Release notification skipped: VYAPARAI_SLACK_WEBHOOK does not hold an http(s) URL.",
    ]);
  });

  it("sends nothing when notifications are not configured or the release is still running", async () => {
    const hook = await webhook();
    const off = context(null);
    await notifyRelease(off.ctx, record(), { environment: { VYAPARAI_SLACK_WEBHOOK: hook.url } });
    const on = context("VYAPARAI_SLACK_WEBHOOK");
    await notifyRelease(on.ctx, record({ status: "in_progress", finishedAt: null }), {
      environment: { VYAPARAI_SLACK_WEBHOOK: hook.url },
    });
    expect(hook.received).toEqual([]);
    expect([...off.logs, ...on.logs]).toEqual([]);
  });

  it("formats durations for people", () => {
    expect(formatDuration("2026-11-25T13:00:00.000Z", "2026-11-25T13:00:00.250Z")).toBe("250 ms");
    expect(formatDuration("2026-11-25T13:00:00.000Z", "2026-11-25T13:02:05.000Z")).toBe("2 min 5 s");
    expect(formatDuration("2026-11-25T13:00:00.000Z", "not a time")).toBe("unknown");
  });
});

function expectNoUrlIn(logs: Array<{ message: string }>, url: string): void {
  for (const { message } of logs) {
    expect(message).not.toContain(url);
    expect(message).not.toContain("s3cr3tW3bh00kPath");
    expect(message).not.toContain(new URL(url).host);
  }
}
