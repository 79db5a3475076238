import { z } from "zod";
import { envArg, READ_ONLY, summaryField } from "./common.js";
import { defineTool } from "./definition.js";

export const deployStatusTool = defineTool({
  name: "deploy_status",
  title: "Deploy status",
  description:
    "Shows what is live per component (Lambda version, alias and CodeSha256; the frontend release serving index.html), the last releases with who and when, and drift: live state that matches no release record. Read-only.",
  inputSchema: { env: envArg },
  outputSchema: {
    summary: summaryField,
    lambda: z.record(z.string(), z.unknown()),
    frontend: z.record(z.string(), z.unknown()),
    releases: z.array(z.record(z.string(), z.unknown())),
    drift: z.array(z.string()),
  },
  annotations: READ_ONLY,
  async handler(_args, ctx) {
    // Lazy: these modules pull in AWS SDK clients, which tools/list must not pay for.
    const { readDeployStatus } = await import("../observe/status.js");
    const { LOCK_TTL_MINUTES } = await import("../release/lock.js");
    const report = await readDeployStatus({
      lambda: await ctx.aws.lambda(),
      s3: await ctx.aws.s3(),
      env: ctx.env,
      envName: ctx.envName,
      now: ctx.now(),
      staleAfterMinutes: LOCK_TTL_MINUTES,
    });
    return {
      ...report,
      lambda: { ...report.lambda },
      frontend: { ...report.frontend },
      releases: report.releases.map((r) => ({ ...r })),
    };
  },
});
