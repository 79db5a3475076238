import { join } from "node:path";
import {
  type BenchContext,
  columnsOf,
  eachRun,
  errorRow,
  measured,
  rowFor,
  type Scenario,
  SeriesByColumn,
} from "../context.js";
import { writeAppRoot } from "../fixtures/app-root.js";
import { createBucket, createDistribution, emptyBucket } from "../fixtures/aws-world.js";
import { type DistSummary, writeDist } from "../fixtures/frontend-dist.js";
import { type McpSession, NOT_BUILT, OUR_SERVER, openSession, peakRssMb } from "../mcp-session.js";
import { LOOPBACK } from "../network-proxy.js";
import type { Row } from "../results.js";
import { awsCli } from "../timing.js";

interface FrontendWorld {
  dist: string;
  oursBucket: string;
  syncBucket: string;
  artifactBucket: string;
  session: McpSession;
}

class NotBuilt extends Error {}

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
  status: string;
  uploaded: number;
}

/** Our side: deploy_frontend through the stdio server, as a user's client calls it. */
async function deployOurs(world: FrontendWorld): Promise<DeployOutcome> {
  const answer = await world.session.call("deploy_frontend", { env: "dev", skipBuild: true });
  if (answer.isError) {
    if (NOT_BUILT.test(answer.text)) throw new NotBuilt();
    throw new Error(`deploy_frontend failed: ${answer.text.slice(0, 1500)}`);
  }
  const plan = answer.structured.plan as { upload?: number } | undefined;
  return { status: String(answer.structured.status), uploaded: plan?.upload ?? -1 };
}

/** The baseline: today's script, `aws s3 sync dist/ s3://bucket --delete`, through the same proxy. */
async function syncBaseline(ctx: BenchContext, world: FrontendWorld): Promise<DeployOutcome> {
  const { stdout } = await awsCli(ctx, [
    "s3",
    "sync",
    world.dist,
    `s3://${world.syncBucket}/`,
    "--delete",
    "--no-progress",
  ]);
  const uploaded = stdout.split("\n").filter((line) => line.startsWith("upload:")).length;
  return { status: "synced", uploaded };
}

function notBuiltRows(ctx: BenchContext, scenario: Scenario): Row[] {
  return columnsOf(ctx, scenario).flatMap((column) =>
    scenario.ids.map((id) => errorRow(id, column.id, "not available: deploy_frontend not built")),
  );
}

function describeDist(ctx: BenchContext, summary: DistSummary): void {
  const line = `frontend dist: ${summary.files} files, ${(summary.bytes / 1e6).toFixed(1)} MB (hashed assets + entry points)`;
  if (!ctx.fixtures.includes(line)) ctx.fixtures.push(line);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** fe-first (and rss): a full deploy to an empty bucket, each run from empty, in every column. */
export const feFirstScenario: Scenario = {
  ids: ["fe-first", "rss"],
  freshEmulator: true,
  async run(ctx) {
    const world = await frontendWorld(ctx, "bench-fe-first");
    const summary = writeDist(world.dist, {
      files: ctx.sizes.frontendFiles,
      bytes: ctx.sizes.frontendBytes,
      variant: 0,
    });
    describeDist(ctx, summary);
    const s3 = await ctx.clients.s3();
    const series = new SeriesByColumn();
    const uploads = { ours: 0, baseline: 0, bytesOurs: 0, bytesBaseline: 0 };
    const deploys = new Map<string, number>();
    let deployed = 0;
    let peakAfterFirst: number | null = null;
    let failed: Map<string, string>;
    try {
      failed = await eachRun(ctx, "fe-first", async (run) => {
        // Safety of the measurement: the artifact bucket too, so no release record can tell
        // our side what is already there. Each run is a true first deploy.
        for (const bucket of [world.oursBucket, world.syncBucket, world.artifactBucket])
          await emptyBucket(s3, bucket);
        const ours = await measured(ctx, () => deployOurs(world));
        deployed++;
        if (ours.value.uploaded !== summary.files)
          throw new Error(
            `deploy_frontend uploaded ${ours.value.uploaded} of ${summary.files} files to an empty bucket`,
          );
        const baseline = await measured(ctx, () => syncBaseline(ctx, world));
        uploads.ours = ours.value.uploaded;
        uploads.baseline = baseline.value.uploaded;
        uploads.bytesOurs = ours.traffic.bytesUp;
        uploads.bytesBaseline = baseline.traffic.bytesUp;
        ctx.log(
          `fe-first ${run.label}: ours ${ours.ms.toFixed(0)} ms (${ours.traffic.requests} requests), aws s3 sync ${baseline.ms.toFixed(0)} ms (${baseline.traffic.requests} requests)`,
        );
        if (run.warmUp) {
          peakAfterFirst = peakRssMb(world.session.pid);
          return;
        }
        const s = series.of(run.column.id);
        s.add("ours", ours.ms, ours.traffic);
        s.add("baseline", baseline.ms, baseline.traffic);
        // VmHWM is the server's peak over its whole life: start-up, warm-up and every deploy so far.
        if (run.last) {
          s.rss(peakRssMb(world.session.pid));
          deploys.set(run.column.id, deployed);
        }
      });
    } catch (error) {
      if (error instanceof NotBuilt) return notBuiltRows(ctx, this);
      throw error;
    } finally {
      await world.session.close();
    }
    return ctx.args.shapes.flatMap((column) => {
      const why = failed.get(column.id);
      if (why) return this.ids.map((id) => errorRow(id, column.id, why));
      const s = series.of(column.id);
      return [
        rowFor(
          "fe-first",
          column.id,
          s.runs,
          s.extra({
            notes: [
              `files uploaded: ours ${uploads.ours}, aws s3 sync ${uploads.baseline}; bytes up ${mb(uploads.bytesOurs)} / ${mb(uploads.bytesBaseline)}`,
            ],
          }),
        ),
        rowFor(
          "rss",
          column.id,
          { ours: s.peakRssMb === null ? [] : [s.peakRssMb], baseline: [] },
          {
            peakRssMb: s.peakRssMb,
            notes: [
              `server VmHWM over its start-up and ${deploys.get(column.id) ?? "?"} first deploys of ${summary.files} files (the warm-up and every column so far); after the first ${peakAfterFirst === null ? "?" : (peakAfterFirst as number).toFixed(1)} MB`,
            ],
          },
        ),
      ];
    });
  },
};

/** fe-rebuild-3 and fe-noop: redeploys after a rebuild (every mtime new), from a deployed site. */
export const feRebuildScenario: Scenario = {
  ids: ["fe-rebuild-3", "fe-noop"],
  freshEmulator: true,
  async run(ctx) {
    const world = await frontendWorld(ctx, "bench-fe-rebuild");
    const size = { files: ctx.sizes.frontendFiles, bytes: ctx.sizes.frontendBytes };
    let variant = 0;
    const rows: Row[] = [];
    try {
      describeDist(ctx, writeDist(world.dist, { ...size, variant }));
      // Both buckets start from the same deployed site (not measured).
      ctx.proxy.setShape(LOOPBACK);
      await deployOurs(world);
      await syncBaseline(ctx, world);
      for (const id of ["fe-rebuild-3", "fe-noop"] as const) {
        const series = new SeriesByColumn();
        const uploads = new Map<string, { ours: number[]; baseline: number[] }>();
        const failed = await eachRun(ctx, id, async (run) => {
          // A rebuild rewrites every file (new mtimes); fe-rebuild-3 also changes one chunk,
          // so index.html and sw.js change with it: 3 files.
          if (id === "fe-rebuild-3") variant++;
          writeDist(world.dist, { ...size, variant });
          const ours = await measured(ctx, () => deployOurs(world));
          const baseline = await measured(ctx, () => syncBaseline(ctx, world));
          ctx.log(
            `${id} ${run.label}: ours ${ours.ms.toFixed(0)} ms (${ours.value.uploaded} uploaded, ${ours.value.status}, ${ours.traffic.requests} requests), aws s3 sync ${baseline.ms.toFixed(0)} ms (${baseline.value.uploaded} uploaded, ${baseline.traffic.requests} requests)`,
          );
          if (run.warmUp) return;
          const s = series.of(run.column.id);
          s.add("ours", ours.ms, ours.traffic);
          s.add("baseline", baseline.ms, baseline.traffic);
          const u = uploads.get(run.column.id) ?? { ours: [], baseline: [] };
          u.ours.push(ours.value.uploaded);
          u.baseline.push(baseline.value.uploaded);
          uploads.set(run.column.id, u);
          if (run.last) s.rss(peakRssMb(world.session.pid));
        });
        const range = (values: number[]) =>
          values.length === 0
            ? "?"
            : Math.min(...values) === Math.max(...values)
              ? String(values[0])
              : `${Math.min(...values)}–${Math.max(...values)}`;
        for (const column of ctx.args.shapes) {
          const why = failed.get(column.id);
          if (why) {
            rows.push(errorRow(id, column.id, why));
            continue;
          }
          const s = series.of(column.id);
          const u = uploads.get(column.id) ?? { ours: [], baseline: [] };
          rows.push(
            rowFor(
              id,
              column.id,
              s.runs,
              s.extra({
                notes: [
                  `files uploaded per run: ours ${range(u.ours)}, aws s3 sync ${range(u.baseline)} of ${size.files}`,
                ],
              }),
            ),
          );
        }
      }
    } catch (error) {
      if (error instanceof NotBuilt) return notBuiltRows(ctx, this);
      throw error;
    } finally {
      await world.session.close();
    }
    return rows;
  },
};
