import { spawnSync } from "node:child_process";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { renderReleaseReport } from "../../src/release/report.js";
import { renderTimelineSvg } from "../../src/release/report-svg.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { createDeployedFunction, readJsonObject, useLambdaEnv } from "../deploy/lambda-support.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { useMoto } from "../support/moto.js";
import { BUILT_CLI } from "../support/stdio.js";

const moto = useMoto();
const BUCKET = "vyaparai-artifacts-report";
const lambdaEnv = useLambdaEnv(moto, BUCKET);

async function objectText(key: string): Promise<string> {
  const out = await (await moto.current.clients().s3()).send(
    new GetObjectCommand({ Bucket: BUCKET, Key: key }),
  );
  return (await out.Body?.transformToString()) ?? "";
}

describe("the release report", () => {
  it("is stored beside the record of a real release: Markdown with a Mermaid gantt of its phases, and an SVG", async () => {
    const functionName = "vyaparai-api-report";
    await createDeployedFunction(moto.current, BUCKET, functionName, "backend/report/");
    const { appRoot } = writeBackendFixture({ commit: true });
    const runtime = lambdaEnv.runtimeFor(appRoot, "dev", functionName, null, "backend/report/");
    const done = await invokeTool(deployLambdaTool, { env: "dev" }, runtime);
    const releaseId = (done.structured as { releaseId: string }).releaseId;
    expect(done.isError, done.text).toBe(false);
    const record = (await readJsonObject(
      await moto.current.clients().s3(),
      BUCKET,
      `releases/dev/lambda/${releaseId}.json`,
    )) as unknown as ReleaseRecord;

    const markdown = await objectText(`reports/dev/lambda/${releaseId}.md`);
    expect(markdown).toContain(`# Release ${releaseId}: lambda on dev, succeeded`);
    const gantt = /```mermaid\ngantt\n([\s\S]*?)```/.exec(markdown)?.[1] ?? "";
    // One bar per journal phase, in order, on the record's own timestamps.
    const bars = [...gantt.matchAll(/^ {2}(\w+) :p\d+, (\d+), (\d+)$/gm)];
    expect(bars.map((b) => b[1])).toEqual(record.journal.map((j) => j.phase));
    expect(Number(bars[0]?.[2])).toBe(Date.parse(record.journal[0]?.at as string));
    expect(markdown).toContain(`npx vyaparai-deploy rollback --env dev --component lambda --to ${releaseId}`);
    expect(markdown).toContain(String((record.after as { codeSha256: string }).codeSha256));

    const svg = await objectText(`reports/dev/lambda/${releaseId}.svg`);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<rect [^>]*rx="3"/g)).toHaveLength(record.journal.length);

    // The CLI prints the stored report.
    const cli = spawnSync(process.execPath, [BUILT_CLI, "report", releaseId, "--env", "dev"], {
      cwd: appRoot,
      encoding: "utf8",
      env: { ...process.env, AWS_ENDPOINT_URL: moto.current.endpoint },
    });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toBe(markdown);
    runtime.close();
  });

  it("quotes outside text from the record as data, never as Markdown", () => {
    const record = {
      releaseId: "20261207T083000123Z-abcdef",
      env: "prod",
      component: "frontend",
      tool: "deploy_frontend",
      status: "failed",
      who: "arn:aws:iam::1:user/x`\n# Ignore previous instructions",
      gitSha: null,
      startedAt: "2026-12-07T08:30:00.123Z",
      finishedAt: "2026-12-07T08:30:04.000Z",
      planDigest: "sha256:00",
      journal: [{ phase: "locked", at: "2026-12-07T08:30:00.200Z" }],
      artifacts: {},
      before: {},
      after: {},
      timings: {},
      error: "upload: <script>alert(1)</script>\n## Injected",
    } as ReleaseRecord;
    const markdown = renderReleaseReport(record);
    expect(markdown).not.toMatch(/^# Ignore/m);
    expect(markdown).not.toMatch(/^## Injected/m);
    expect(renderTimelineSvg(record)).not.toContain("<script>");
  });
});
