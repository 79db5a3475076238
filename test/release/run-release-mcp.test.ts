import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { runGuardedMutation } from "../../src/release/run-release.js";
import { invokeTool } from "../../src/server/invoke.js";
import type { Runtime } from "../../src/server/runtime.js";
import { confirmationTokenArg, DESTRUCTIVE, envArg, summaryField } from "../../src/tools/common.js";
import { defineTool } from "../../src/tools/definition.js";
import { createBucket } from "../support/aws-fixtures.js";
import { createGitRepo, type GitFixture } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { markPreflightPassed, testRuntime } from "../support/runtime.js";

/**
 * The guard seen the way an MCP client sees it: through invokeTool (argument validation,
 * redaction, isError results), with a small destructive tool built on runGuardedMutation.
 */
const moto = useMoto();
const BUCKET = "guard-mcp-artifacts";
const ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

const probeTool = defineTool({
  name: "guarded_probe",
  title: "Guarded probe",
  description: "Test tool: writes one object under the guard.",
  inputSchema: {
    env: envArg,
    version: z.string().default("1"),
    fail: z.boolean().default(false),
    confirmationToken: confirmationTokenArg,
  },
  outputSchema: {
    summary: summaryField,
    status: z.string(),
    confirmationToken: z.string().optional(),
    releaseId: z.string().optional(),
  },
  annotations: DESTRUCTIVE,
  async handler(args, ctx) {
    const plan = { object: `probe/${args.version}.txt` };
    const outcome = await runGuardedMutation(
      {
        ctx,
        component: "lambda",
        plan,
        planSummary: `Write ${plan.object}`,
        confirmationToken: args.confirmationToken,
        requirePreflight: true,
      },
      async () => {
        if (args.fail) throw new Error(`upload failed with ${ACCESS_KEY} / ${SECRET_KEY} / ${JWT}`);
        await (await ctx.aws.s3()).send(
          new PutObjectCommand({ Bucket: BUCKET, Key: plan.object, Body: "x" }),
        );
        return { status: "succeeded", result: plan.object };
      },
    );
    if (outcome.kind === "confirmation_required") {
      return {
        summary: `Confirm writing ${plan.object} on ${ctx.envName}: call again with confirmationToken ${outcome.confirmationToken}`,
        status: "confirmation_required",
        confirmationToken: outcome.confirmationToken,
      };
    }
    return { summary: `Wrote ${outcome.result}.`, status: "deployed", releaseId: outcome.releaseId };
  },
});

let runtime: Runtime;
let repo: GitFixture;

async function keys(): Promise<string[]> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}

describe("guard through invokeTool", () => {
  beforeAll(async () => {
    await createBucket(await moto.current.clients().s3(), BUCKET);
    repo = createGitRepo();
    runtime = testRuntime({
      moto: moto.current,
      appRoot: repo.dir,
      config: { environments: { prod: { lambda: { artifactBucket: BUCKET } } } },
    });
    repo.commitAll("config");
    // What preflight leaves behind for this HEAD (the store itself is tested on its own).
    markPreflightPassed(runtime, repo.head(), ["backend"]);
  });

  it("the token survives redaction in structured output and in the summary, and works once", async () => {
    const asked = await invokeTool(probeTool, { env: "prod" }, runtime);
    expect(asked.isError).toBe(false);
    const token = asked.structured.confirmationToken as string;
    expect(token).toMatch(/^v1\./);
    expect(asked.structured.summary).toContain(token);
    expect(asked.text).toContain(token);
    expect(await keys()).toEqual([]);

    const done = await invokeTool(probeTool, { env: "prod", confirmationToken: token }, runtime);
    expect(done.isError, done.text).toBe(false);
    expect(await keys()).toContain("probe/1.txt");

    const again = await invokeTool(probeTool, { env: "prod", confirmationToken: token }, runtime);
    expect(again.isError).toBe(true);
    expect(again.structured).toMatchObject({ error: { code: "REFUSED" }, reason: "already_used" });
  });

  it("a changed plan is an isError result carrying the new plan and a usable new token", async () => {
    const asked = await invokeTool(probeTool, { env: "prod", version: "2" }, runtime);
    const changed = await invokeTool(
      probeTool,
      { env: "prod", version: "3", confirmationToken: asked.structured.confirmationToken },
      runtime,
    );
    expect(changed.isError).toBe(true);
    expect(changed.structured).toMatchObject({
      status: "confirmation_required",
      reason: "plan_changed",
      plan: { object: "probe/3.txt" },
    });
    const fresh = changed.structured.confirmationToken as string;
    expect(changed.text).toContain(fresh);
    expect(await keys()).not.toContain("probe/3.txt");
    const done = await invokeTool(
      probeTool,
      { env: "prod", version: "3", confirmationToken: fresh },
      runtime,
    );
    expect(done.isError, done.text).toBe(false);
    expect(await keys()).toContain("probe/3.txt");
  });

  it("planted secrets in a failure reach neither the tool output nor the release record", async () => {
    const asked = await invokeTool(probeTool, { env: "prod", version: "4", fail: true }, runtime);
    const failed = await invokeTool(
      probeTool,
      { env: "prod", version: "4", fail: true, confirmationToken: asked.structured.confirmationToken },
      runtime,
    );
    expect(failed.isError).toBe(true);
    const everything = `${failed.text}\n${JSON.stringify(failed.structured)}`;
    for (const secret of [ACCESS_KEY, SECRET_KEY, JWT]) expect(everything).not.toContain(secret);
    expect(failed.text).toMatch(/upload failed with \[REDACTED\]/);

    const s3 = await moto.current.clients().s3();
    const records = (await keys()).filter((k) => k.startsWith("releases/prod/lambda/"));
    const bodies = await Promise.all(
      records.map(async (Key) =>
        (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }))).Body!.transformToString(),
      ),
    );
    const failedRecord = bodies.map((b) => JSON.parse(b)).find((r) => r.status === "failed");
    expect(failedRecord?.error).toMatch(/upload failed with \[REDACTED\]/);
    for (const body of bodies)
      for (const secret of [ACCESS_KEY, SECRET_KEY, JWT]) expect(body).not.toContain(secret);
  });
});
