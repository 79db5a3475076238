import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, describe, expect, it } from "vitest";
import { nearestName } from "../../src/tools/strict-input.js";
import { createDeployedFunction, liveCodeSha256 } from "../deploy/lambda-support.js";
import { createBucket } from "../support/aws-fixtures.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { writeViteDist } from "../support/dist-fixture.js";
import { useMoto } from "../support/moto.js";
import { connectStdio, type StdioSession } from "../support/stdio.js";

/**
 * Language models misspell arguments. Over real stdio with the SDK client, a misspelt
 * `dryRun` must be refused by name — never stripped, which would turn a dry run into a deploy.
 */
const moto = useMoto();
const bucket = "vyaparai-artifacts-strict";
const site = "site-strict";
const functionName = "vyaparai-api-strict";
let session: StdioSession | undefined;
afterAll(async () => session?.close());

async function keys(name: string): Promise<string[]> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListObjectsV2Command({ Bucket: name }));
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}

describe("strict arguments over stdio", () => {
  it("refuses misspelt and unknown keys by name, with the nearest valid one, and changes nothing", async () => {
    const s3 = await moto.current.clients().s3();
    await createBucket(s3, bucket);
    await createBucket(s3, site);
    const initial = await createDeployedFunction(moto.current, bucket, functionName, "backend/");
    const { appRoot } = writeBackendFixture({ variant: "v2", commit: true });
    writeViteDist(join(appRoot, "frontend-pwa", "dist"), { files: 20 });
    writeFileSync(
      join(appRoot, "deploy.config.json"),
      JSON.stringify({
        environments: {
          dev: {
            lambda: { functionName, alias: null, artifactBucket: bucket, artifactPrefix: "backend/" },
            frontend: { buckets: [site], distributionId: null, url: null },
            health: [],
          },
        },
      }),
    );
    const artifactsBefore = await keys(bucket);
    session = await connectStdio({ cwd: appRoot, env: { AWS_ENDPOINT_URL: moto.current.endpoint } });

    const { tools } = await session.client.listTools();
    for (const tool of tools) expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);

    const attempts: Array<[string, Record<string, unknown>, string]> = [
      ["deploy_lambda", { env: "dev", dryrun: true }, "dryRun"],
      ["deploy_lambda", { env: "dev", DryRun: true }, "dryRun"],
      ["deploy_frontend", { env: "dev", skipBuild: true, dry_run: true }, "dryRun"],
      ["rollback", { env: "dev", component: "lambda", dry_run: true }, "dryRun"],
      ["tail_logs", { env: "dev", filter_pattern: "x" }, "filterPattern"],
    ];
    for (const [name, args, meant] of attempts) {
      const result = await session.client.callTool({ name, arguments: args });
      const text = (result.content as Array<{ text: string }>)[0]?.text ?? "";
      expect(result.isError, `${name} ${JSON.stringify(args)}`).toBe(true);
      expect(result.structuredContent).toBeUndefined();
      const unknown = Object.keys(args).find((k) => k !== "env" && k !== "skipBuild" && k !== "component");
      expect(text).toContain(`"${unknown}" is not an argument of ${name}`);
      expect(text).toContain(`Did you mean "${meant}"?`);
    }
    // A 1 MB key is quoted, not echoed.
    const huge = "k".repeat(1_000_000);
    const big = await session.client.callTool({ name: "list_tables", arguments: { env: "dev", [huge]: 1 } });
    const bigText = (big.content as Array<{ text: string }>)[0]?.text ?? "";
    expect(big.isError).toBe(true);
    expect(bigText.length).toBeLessThan(2_000);

    // An own "__proto__" key (what JSON.parse makes) is dropped by the SDK's record schema
    // before any tool sees it; the server refuses the call by name instead of running it.
    for (const [name, raw] of [
      ["deploy_lambda", '{"env":"dev","__proto__":{"dryRun":true}}'],
      ["deploy_frontend", '{"env":"dev","skipBuild":true,"__proto__":null}'],
    ] as const) {
      const result = await session.client.callTool({ name, arguments: JSON.parse(raw) });
      const text = (result.content as Array<{ text: string }>)[0]?.text ?? "";
      expect(result.isError, raw).toBe(true);
      expect(text).toContain(`"__proto__" is not an argument of ${name}`);
    }
    // A flood of unknown keys is counted, not echoed key by key.
    const flood = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, true]));
    const flooded = await session.client.callTool({
      name: "list_tables",
      arguments: { env: "dev", ...flood },
    });
    const floodText = (flooded.content as Array<{ text: string }>)[0]?.text ?? "";
    expect(flooded.isError).toBe(true);
    expect(floodText).toContain("And 2995 more unknown argument(s).");
    expect(floodText.length).toBeLessThan(2_000);

    // Read back: nothing ran.
    const lambda = await moto.current.clients().lambda();
    expect(await liveCodeSha256(lambda, functionName)).toBe(initial.codeSha256);
    expect(await keys(site)).toEqual([]);
    expect(await keys(bucket)).toEqual(artifactsBefore);
  }, 60_000);

  it("finds the name a misspelling meant", () => {
    const valid = ["env", "dryRun", "skipBuild", "confirmationToken", "breakLock"];
    expect(nearestName("dry_run", valid)).toBe("dryRun");
    expect(nearestName("DRYRUN", valid)).toBe("dryRun");
    expect(nearestName("confirmation_tokn", valid)).toBe("confirmationToken");
    expect(nearestName("skipbuidl", valid)).toBe("skipBuild");
    expect(nearestName("force", valid)).toBeNull();
  });
});
