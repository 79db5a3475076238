import { join } from "node:path";
import { type BenchContext, iterations, type Scenario, TARGETS } from "../context.js";
import { writeAppRoot } from "../fixtures/app-root.js";
import { createBucket, createDistribution, emptyBucket } from "../fixtures/aws-world.js";
import { type DistSummary, writeDist } from "../fixtures/frontend-dist.js";
import { type McpSession, NOT_BUILT, OUR_SERVER, openSession, peakRssMb } from "../mcp-session.js";
import { measuredRow, type Row, unavailableRow } from "../results.js";
import { timed, timedProgram } from "../timing.js";

interface FrontendWorld {
  dist: string;
  oursBucket: string;
  syncBucket: string;
  artifactBucket: string;
  session: McpSession;
}

/** An app root whose dev env deploys to `<name>-ours`; `aws s3 sync` gets `<name>-sync`. */
async function frontendWorld(ctx: BenchContext, name: string): Promise<FrontendWorld> {
  const appRoot = join(ctx.workDir, name);
  const world = {
    dist: join(appRoot, "frontend-pwa", "dist"),
    oursBucket: `${name}-ours`,
    syncBucket: `${name}-sync`,
    artifactBucket: `${name}-artifacts`,
  };
  const s3 = await ctx.clients.s3();
  for (const bucket of [world.oursBucket, world.syncBucket, world.artifactBucket])
    await createBucket(s3, bucket);
  const distributionId = await createDistribution(ctx.clients, world.oursBucket);
  writeAppRoot(appRoot, {
    frontendBuckets: [world.oursBucket],
    distributionId,
    artifactBucket: world.artifactBucket,
    functionName: `${name}-api`,
    logGroup: null,
  });
  const session = await openSession({ script: OUR_SERVER, cwd: appRoot, env: ctx.env, cleanup: ctx.cleanup });
  return { ...world, session };
}

interface DeployOutcome {
  ms: number;
  status: string;
  uploaded: number;
}

/** Our side: deploy_frontend through the stdio server, as a user's client calls it. */
async function deployOurs(world: FrontendWorld): Promise<DeployOutcome | { notBuilt: true }> {
  const { ms, value } = await timed(() =>
    world.session.call("deploy_frontend", { env: "dev", skipBuild: true }),
  );
  if (value.isError) {
    if (NOT_BUILT.test(value.text)) return { notBuilt: true };
    throw new Error(`deploy_frontend failed: ${value.text.slice(0, 1500)}`);
  }
  const plan = value.structured.plan as { upload?: number } | undefined;
  return { ms, status: String(value.structured.status), uploaded: plan?.upload ?? -1 };
}

/** The baseline: today's script, `aws s3 sync dist/ s3://bucket --delete`. */
async function syncBaseline(ctx: BenchContext, world: FrontendWorld): Promise<DeployOutcome> {
  const { ms, stdout } = await timedProgram(
    ctx.programs.aws,
    ["s3", "sync", world.dist, `s3://${world.syncBucket}/`, "--delete", "--no-progress"],
    { env: ctx.env },
  );
  const uploaded = stdout.split("\n").filter((line) => line.startsWith("upload:")).length;
  return { ms, status: "synced", uploaded };
}

function notBuiltRows(ids: Row["id"][]): Row[] {
  return ids.map((id) =>
    unavailableRow(id, TARGETS[id].unit, TARGETS[id].target, "not available: deploy_frontend not built"),
  );
}

function describeDist(ctx: BenchContext, summary: DistSummary): void {
  const line = `frontend dist: ${summary.files} files, ${(summary.bytes / 1e6).toFixed(1)} MB (hashed assets + entry points)`;
  if (!ctx.fixtures.includes(line)) ctx.fixtures.push(line);
}

/** fe-first (and rss): a full deploy to an empty bucket, each run from empty. */
export const feFirstScenario: Scenario = {
  ids: ["fe-first", "rss"],
  async run(ctx) {
    const world = await frontendWorld(ctx, "bench-fe-first");
    const summary = writeDist(world.dist, {
      files: ctx.sizes.frontendFiles,
      bytes: ctx.sizes.frontendBytes,
      variant: 0,
    });
    describeDist(ctx, summary);
    const s3 = await ctx.clients.s3();
    const runs = { ours: [] as number[], baseline: [] as number[] };
    const uploads = { ours: 0, baseline: 0 };
    let peakAfterFirst: number | null = null;
    for (let i = 0; i < iterations(ctx); i++) {
      // Safety of the measurement: the artifact bucket too, so no release record can tell
      // our side what is already there. Each run is a true first deploy.
      for (const bucket of [world.oursBucket, world.syncBucket, world.artifactBucket])
        await emptyBucket(s3, bucket);
      const ours = await deployOurs(world);
      if ("notBuilt" in ours) return notBuiltRows(this.ids);
      if (ours.uploaded !== summary.files)
        throw new Error(
          `deploy_frontend uploaded ${ours.uploaded} of ${summary.files} files to an empty bucket`,
        );
      const baseline = await syncBaseline(ctx, world);
      uploads.ours = ours.uploaded;
      uploads.baseline = baseline.uploaded;
      ctx.log(
        `fe-first ${i === 0 ? "warm-up" : `run ${i}`}: ours ${ours.ms.toFixed(0)} ms, aws s3 sync ${baseline.ms.toFixed(0)} ms`,
      );
      if (i === 0) {
        peakAfterFirst = peakRssMb(world.session.pid);
        continue;
      }
      runs.ours.push(ours.ms);
      runs.baseline.push(baseline.ms);
    }
    // VmHWM is the server's peak over its whole life: start-up, warm-up and every run above.
    const peak = peakRssMb(world.session.pid);
    await world.session.close();
    return [
      measuredRow("fe-first", TARGETS["fe-first"].unit, TARGETS["fe-first"].target, runs, {
        notes: [`files uploaded: ours ${uploads.ours}, aws s3 sync ${uploads.baseline}`],
      }),
      measuredRow(
        "rss",
        TARGETS.rss.unit,
        TARGETS.rss.target,
        { ours: peak === null ? [] : [peak], baseline: [] },
        {
          notes: [
            `server VmHWM over its start-up and ${iterations(ctx)} fe-first deploys of ${summary.files} files; after the first deploy ${peakAfterFirst?.toFixed(1) ?? "?"} MB`,
          ],
        },
      ),
    ];
  },
};

/** fe-rebuild-1 and fe-noop: redeploys after a rebuild (every mtime new), from a deployed site. */
export const feRebuildScenario: Scenario = {
  ids: ["fe-rebuild-1", "fe-noop"],
  async run(ctx) {
    const world = await frontendWorld(ctx, "bench-fe-rebuild");
    const size = { files: ctx.sizes.frontendFiles, bytes: ctx.sizes.frontendBytes };
    let variant = 0;
    describeDist(ctx, writeDist(world.dist, { ...size, variant }));
    // Both buckets start from the same deployed site (not measured).
    const seeded = await deployOurs(world);
    if ("notBuilt" in seeded) return notBuiltRows(this.ids);
    await syncBaseline(ctx, world);

    const rows: Row[] = [];
    for (const id of ["fe-rebuild-1", "fe-noop"] as const) {
      const runs = { ours: [] as number[], baseline: [] as number[] };
      const uploads = { ours: [] as number[], baseline: [] as number[] };
      for (let i = 0; i < iterations(ctx); i++) {
        // A rebuild rewrites every file (new mtimes); fe-rebuild-1 also changes one chunk.
        if (id === "fe-rebuild-1") variant++;
        writeDist(world.dist, { ...size, variant });
        const ours = await deployOurs(world);
        if ("notBuilt" in ours) return notBuiltRows(this.ids);
        const baseline = await syncBaseline(ctx, world);
        ctx.log(
          `${id} ${i === 0 ? "warm-up" : `run ${i}`}: ours ${ours.ms.toFixed(0)} ms (${ours.uploaded} uploaded, ${ours.status}), aws s3 sync ${baseline.ms.toFixed(0)} ms (${baseline.uploaded} uploaded)`,
        );
        if (i === 0) continue;
        runs.ours.push(ours.ms);
        runs.baseline.push(baseline.ms);
        uploads.ours.push(ours.uploaded);
        uploads.baseline.push(baseline.uploaded);
      }
      const range = (values: number[]) =>
        Math.min(...values) === Math.max(...values)
          ? String(values[0])
          : `${Math.min(...values)}–${Math.max(...values)}`;
      rows.push(
        measuredRow(id, TARGETS[id].unit, TARGETS[id].target, runs, {
          notes: [
            `files uploaded per run: ours ${range(uploads.ours)}, aws s3 sync ${range(uploads.baseline)} of ${size.files}`,
          ],
        }),
      );
    }
    await world.session.close();
    return rows;
  },
};
