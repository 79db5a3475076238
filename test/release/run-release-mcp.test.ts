import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { runRelease } from "../../src/release/run-release.js";
import type { ReleaseSpec } from "../../src/release/spec.js";
import { invokeTool } from "../../src/server/invoke.js";
import type { Runtime } from "../../src/server/runtime.js";
import { confirmationTokenArg, DESTRUCTIVE, envArg, summaryField } from "../../src/tools/common.js";
import { defineTool } from "../../src/tools/definition.js";
import { createBucket } from "../support/aws-fixtures.js";
import { createGitRepo, type GitFixture } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { markPreflightPassed, testRuntime } from "../support/runtime.js";
import { bodyText } from "../support/s3-body.js";

/**
 * The release flow seen the way an MCP client sees it: through invokeTool (argument
 * validation, redaction, isError results), with a small destructive tool built on runRelease.
 */
const moto = useMoto();
const BUCKET = "guard-mcp-artifacts";
const ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

interface ProbePlan {
  object: string;
}

/** The probe's own spec: one step writes the object; what is live is whether it exists. */
function probeSpec(
  s3: S3Client,
  plan: ProbePlan,
  args: { fail: boolean; confirmationToken?: string | undefined },
): ReleaseSpec<ProbePlan, { written: boolean }, { exists: boolean }> {
  return {
    component: "lambda",
    plan,
    approvalText: `Write ${plan.object}.`,
    requirePreflight: true,
    confirmationToken: args.confirmationToken,
    breakLock: false,
    state: { written: false },
    record: { artifacts: { object: plan.object } },
    recoveryPlan: () => "Check whether the probe object exists.",
    steps: [
      {
        name: "write",
        phase: "switching",
        touchesLive: true,
        async run(state, io) {
          if (args.fail) throw new Error(`upload failed with ${ACCESS_KEY} / ${SECRET_KEY} / ${JWT}`);
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: plan.object, Body: "x" }), {
            abortSignal: io.signal,
          });
          state.written = true;
        },
      },
    ],
    async readLive() {
      const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: plan.object }));
      return { exists: (out.Contents ?? []).some((o) => o.Key === plan.object) };
    },
    recordLive: (live) => ({ after: { exists: live.exists } }),
  };
}

const probeTool = defineTool({
  name: "guarded_probe",
  title: "Guarded probe",
  description: "Test tool: writes one object through the release flow.",
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
    error: z.string().optional(),
  },
  annotations: DESTRUCTIVE,
  isFailure: (out) => out.status === "failed",
  async handler(args, ctx) {
    const plan = { object: `probe/${args.version}.txt` };
    const s3 = await ctx.aws.s3();
    const outcome = await runRelease(ctx, probeSpec(s3, plan, args), {});
    if (outcome.kind === "confirmation_required") {
      return {
        summary: `Confirm writing ${plan.object} on ${ctx.envName}: call again with confirmationToken ${outcome.confirmationToken}`,
        status: "confirmation_required",
        confirmationToken: outcome.confirmationToken,
      };
    }
    if (outcome.status !== "succeeded") {
      return {
        summary: `Writing ${plan.object} failed at step ${outcome.failure?.step ?? "unknown"} (see error).`,
        status: "failed",
        releaseId: outcome.releaseId,
        ...(outcome.failure ? { error: outcome.failure.message } : {}),
      };
    }
    return { summary: `Wrote ${plan.object}.`, status: "deployed", releaseId: outcome.releaseId };
  },
});

let runtime: Runtime;
let repo: GitFixture;

async function keys(): Promise<string[]> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}

describe("release flow through invokeTool", () => {
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
    await markPreflightPassed(runtime, repo.head(), ["backend"]);
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
    // A finished run that failed is the tool's own output (it fits its schema), flagged isError.
    expect(failed.complete).toBe(true);
    expect(failed.structured).toMatchObject({ status: "failed", releaseId: expect.any(String) });
    expect(await keys()).not.toContain("probe/4.txt");
    expect((await keys()).filter((k) => k.startsWith("locks/"))).toEqual([]);
    const everything = `${failed.text}\n${JSON.stringify(failed.structured)}`;
    for (const secret of [ACCESS_KEY, SECRET_KEY, JWT]) expect(everything).not.toContain(secret);
    expect(failed.text).toMatch(/upload failed with \[REDACTED\]/);

    const s3 = await moto.current.clients().s3();
    const records = (await keys()).filter((k) => k.startsWith("releases/prod/lambda/"));
    const bodies = await Promise.all(
      records.map(async (Key) => bodyText(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key })))),
    );
    const failedRecord = bodies.map((b) => JSON.parse(b)).find((r) => r.status === "failed");
    expect(failedRecord?.error).toMatch(/upload failed with \[REDACTED\]/);
    for (const body of bodies)
      for (const secret of [ACCESS_KEY, SECRET_KEY, JWT]) expect(body).not.toContain(secret);
  });
});
