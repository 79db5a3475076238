import { join } from "node:path";
import { type BenchContext, iterations, rowFor, type Scenario } from "../context.js";
import { writeAppRoot } from "../fixtures/app-root.js";
import { BARE_SERVER, OUR_SERVER, openSession, peakRssMb } from "../mcp-session.js";
import { timed } from "../timing.js";

/** Spawn → first tools/list answer, through the SDK's stdio client, as an MCP client sees it. */
async function timeToToolList(ctx: BenchContext, script: string, cwd: string) {
  const { ms, value } = await timed(async () => {
    const session = await openSession({ script, cwd, env: ctx.env, cleanup: ctx.cleanup });
    const { tools } = await session.client.listTools();
    return { session, tools: tools.length };
  });
  const rss = peakRssMb(value.session.pid);
  await value.session.close();
  return { ms, tools: value.tools, rss };
}

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
    }
    return [
      rowFor("startup", "loopback", runs, {
        notes: [
          `spawn → first tools/list answer; no AWS request; tools listed: ours ${tools.ours}, bare SDK server ${tools.bare}`,
        ],
        peakRssMb: rss.length ? Math.max(...rss) : null,
      }),
    ];
  },
};
