import { z } from "zod";
import { defineTool } from "../server/tool-definition.js";
import { envArg, notBuiltYet, READ_ONLY, summaryField } from "./common.js";

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
  async handler() {
    return notBuiltYet("deploy_status");
  },
});
