import { join } from "node:path";
import { ListToolsResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { type BenchContext, iterations, rowFor, type Scenario } from "../context.js";
import { writeAppRoot } from "../fixtures/app-root.js";
import { BARE_SERVER, OUR_SERVER, openSession, peakRssMb } from "../mcp-session.js";
import { median } from "../results.js";
import { timed } from "../timing.js";

/**
 * Spawn → first tools/list answer, through the SDK's stdio client: initialize, then tools/list
 * as a plain request, so the figure ends when the server's answer has arrived and been parsed.
 * `Client.listTools()` would also compile every tool's outputSchema with ajv before returning —
 * client work that grows with the schemas and that the bare server's one schema-less tool
 * never causes — so that is timed on its own afterwards (`clientSchemaMs`) and reported beside.
 */
async function timeToToolList(ctx: BenchContext, script: string, cwd: string) {
  const { ms, value } = await timed(async () => {
    const session = await openSession({ script, cwd, env: ctx.env, cleanup: ctx.cleanup });
    const { tools } = await session.client.request({ method: "tools/list" }, ListToolsResultSchema);
    return { session, tools: tools.length };
  });
  const rss = peakRssMb(value.session.pid);
  // A second tools/list through listTools(): its answer is warm, so what it adds over one
  // round trip is the client compiling the output schemas.
  const listed = await timed(() => value.session.client.listTools());
  await value.session.close();
  return { ms, tools: value.tools, rss, clientSchemaMs: listed.ms };
}

const msOf = (values: number[]) => median(values)?.toFixed(0) ?? "?";

export const startupScenario: Scenario = {
  ids: ["startup"],
  loopbackOnly: true,
  async run(ctx) {
    const appRoot = join(ctx.workDir, "startup-app");
    writeAppRoot(appRoot, {
      frontendBuckets: ["bench-startup-site"],
      distributionId: null,
      artifactBucket: "bench-startup-artifacts",
      functionName: "bench-startup-api",
      logGroup: null,
    });
    const runs = { ours: [] as number[], baseline: [] as number[] };
    const clientSchemaMs = { ours: [] as number[], bare: [] as number[] };
    let tools = { ours: 0, bare: 0 };
    const rss: number[] = [];
    for (let i = 0; i < iterations(ctx); i++) {
      // Alternate who goes first so neither side always meets a warmer page cache.
      const oursFirst = i % 2 === 0;
      const first = await timeToToolList(ctx, oursFirst ? OUR_SERVER : BARE_SERVER, appRoot);
      const second = await timeToToolList(ctx, oursFirst ? BARE_SERVER : OUR_SERVER, appRoot);
      const ours = oursFirst ? first : second;
      const bare = oursFirst ? second : first;
      tools = { ours: ours.tools, bare: bare.tools };
      ctx.log(
        `startup ${i === 0 ? "warm-up" : `run ${i}`}: ours ${ours.ms.toFixed(0)} ms, bare ${bare.ms.toFixed(0)} ms`,
      );
      if (i === 0) continue;
      if (ours.rss !== null) rss.push(ours.rss);
      runs.ours.push(ours.ms);
      runs.baseline.push(bare.ms);
      clientSchemaMs.ours.push(ours.clientSchemaMs);
      clientSchemaMs.bare.push(bare.clientSchemaMs);
    }
    return [
      rowFor("startup", "loopback", runs, {
        notes: [
          `spawn → first tools/list answer; no AWS request; tools listed: ours ${tools.ours}, bare SDK server ${tools.bare}`,
          `an SDK client's listTools() then compiles the output schemas (ajv): ours ${msOf(clientSchemaMs.ours)} ms, bare ${msOf(clientSchemaMs.bare)} ms (client work, not in the figure)`,
        ],
        peakRssMb: rss.length ? Math.max(...rss) : null,
      }),
    ];
  },
};
