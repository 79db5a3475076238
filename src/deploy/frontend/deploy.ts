import type { FrontendConfig } from "../../config/schema.js";
import { DeployError } from "../../core/errors.js";
import type { ReleaseSpec } from "../../release/spec.js";
import { readApproved } from "./approved-bytes.js";
import { type BuildResult, buildFrontend } from "./build.js";
import type { FrontendDeps } from "./deps.js";
import { type FrontendManifest, listBucket, type ManifestEntry, type RemoteObject } from "./diff.js";
import { checkDistDir, checkFrontendDir } from "./dist-dir.js";
import { type LocalFile, listDistKeys, walkDist } from "./files.js";
import { headersFor } from "./headers.js";
import { knownSha256From, loadLiveHistory } from "./history.js";
import {
  assertSeparateArtifactBucket,
  deletionsOf,
  type FrontendPlan,
  manifestDigest,
  planBuckets,
} from "./plan.js";
import { type FrontendReleaseState, frontendReleaseSpec, type LiveFrontend } from "./release.js";
import { formatBytes } from "./sync.js";

export interface DeployFrontendRequest {
  skipBuild: boolean;
  prune: boolean;
  wait: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
}

export type FrontendSpec = ReleaseSpec<Record<string, unknown>, FrontendReleaseState, LiveFrontend>;

export interface PreparedFrontendDeploy {
  plan: FrontendPlan;
  build: BuildResult | null;
  /** Nothing to upload or delete. */
  unchanged: boolean;
  planText: string;
  spec: FrontendSpec;
}

export function manifestOf(files: LocalFile[], frontend: FrontendConfig): FrontendManifest {
  const manifest: FrontendManifest = {};
  for (const file of files) {
    manifest[file.key] = {
      sha256: file.sha256,
      md5: file.md5,
      size: file.size,
      ...headersFor(file.key, frontend),
    };
  }
  return manifest;
}

/**
 * deploy_frontend up to the release: build → hash dist/ → diff every bucket → the plan and
 * the release spec (frontendReleaseSpec). The release record keeps the manifest for rollback.
 */
export async function prepareFrontendDeploy(
  deps: FrontendDeps,
  request: DeployFrontendRequest,
  /** The reads readFrontendEarly started, for a call without a build. */
  prefetched?: EarlyFrontendReads | null,
): Promise<PreparedFrontendDeploy> {
  assertSeparateArtifactBucket(deps.env);
  const frontend = deps.frontend;
  // Safety: the build runs in frontend.dir and its output is published: both stay in the app root.
  await checkFrontendDir(deps.appRoot, frontend);
  const build = request.skipBuild ? null : await buildFrontend(deps);
  const distDir = await checkDistDir(deps.appRoot, frontend);
  const s3 = deps.s3;
  // What S3 holds does not depend on the build output: its round trips (the release history,
  // one listing per bucket) run while the files are hashed, not after — or, without a build,
  // from the start of the call (readFrontendEarly, as the tool's prefetch).
  let listed: (keys: string[]) => void = () => {};
  const early =
    request.skipBuild && prefetched
      ? prefetched
      : readRemoteEarly(
          s3,
          deps,
          new Promise<string[]>((resolve) => {
            listed = resolve;
          }),
        );
  deps.progress("Hashing the build output");
  const walked = walkDist(distDir, {
    uploadDotfiles: frontend.uploadDotfiles,
    signal: deps.signal,
    // The listings are split at the keys about to be published, known before any file is hashed.
    onListed: listed,
  });
  // A walk that fails before it lists still lets the listings start (and settle).
  walked.catch(() => listed([]));
  const { files, skippedDotfiles } = await walked;
  const index = files.find((file) => file.key === "index.html");
  if (!index) {
    throw new DeployError(
      "PRECONDITION",
      `${distDir} has no index.html; nothing was uploaded. Check that the build succeeded and frontend.distDir is right.`,
    );
  }
  const desired = manifestOf(files, frontend);
  const pathOf = new Map(files.map((file) => [file.key, file.path]));
  const { live: history } = await early.history;
  deps.progress(`Comparing ${files.length} files with ${deps.env.frontend.buckets.join(", ")}`);
  // The early listings serve the first plan only; a plan made again (after a recovery) lists afresh.
  const planAgainst = (listings?: ReadonlyMap<string, Promise<RemoteObject[]>>) =>
    planBuckets(s3, deps.env, desired, {
      history,
      now: deps.now(),
      graceHours: frontend.staleGraceHours,
      prune: request.prune,
      skippedDotfiles,
      signal: deps.signal,
      extraDigest: {
        env: deps.envName,
        prune: request.prune,
        distributionId: deps.env.frontend.distributionId,
      },
      ...(listings ? { listings } : {}),
    });
  const planned = await planAgainst(early.listings);
  const { plan } = planned;
  const planText = describePlan(plan);
  const specFor = (p: typeof planned): FrontendSpec =>
    frontendReleaseSpec(deps, {
      plan: p.digestable,
      desired,
      diffs: p.diffs,
      deletions: deletionsOf(p.stale),
      knownSha256: knownSha256From(history),
      sourceOf: (key) => ({ kind: "file", path: pathOf.get(key) as string }),
      // The references checked are those of the approved index.html, not of a later rewrite.
      newIndexHtml: async () =>
        (await readApproved("index.html", index.path, desired["index.html"] as ManifestEntry)).toString(
          "utf8",
        ),
      wait: request.wait,
      approvalText: `Deploy the frontend to ${deps.envName} (${p.plan.buckets.join(", ")}): ${describePlan(p.plan)}.`,
      requirePreflight: true,
      // No release of this tool was live yet: what it replaces is kept as the way back.
      keepPreRelease: history.length === 0,
      confirmationToken: request.confirmationToken,
      breakLock: request.breakLock,
      record: {
        artifacts: {
          manifestSha256: manifestDigest(desired),
          files: p.plan.files,
          buckets: p.plan.buckets,
          buildMs: build?.durationMs ?? null,
        },
      },
      // After a recovery put entry points back, the same build is diffed against the buckets again.
      replan: async () => {
        const again = await planAgainst();
        return again.plan.upload === 0 && again.plan.delete === 0 ? null : specFor(again);
      },
    });
  const spec = specFor(planned);
  return { plan, build, unchanged: plan.upload === 0 && plan.delete === 0, planText, spec };
}

/** The reads of S3 a plan needs, started early: the live release history, one listing per bucket. */
export interface EarlyFrontendReads {
  history: ReturnType<typeof loadLiveHistory>;
  listings: ReadonlyMap<string, Promise<RemoteObject[]>>;
}

/**
 * For a call that deploys the build output as it is (skipBuild): starts the reads a plan needs
 * before anything else of the call, the listings split at the keys dist/ holds now. Checks
 * the folders first, as the deploy does; on any failure returns null and the deploy reads
 * (and reports) everything itself.
 */
export async function readFrontendEarly(deps: FrontendDeps): Promise<EarlyFrontendReads | null> {
  try {
    await checkFrontendDir(deps.appRoot, deps.frontend);
    const distDir = await checkDistDir(deps.appRoot, deps.frontend);
    const keys = listDistKeys(distDir, { uploadDotfiles: deps.frontend.uploadDotfiles, signal: deps.signal });
    keys.catch(() => {});
    return readRemoteEarly(deps.s3, deps, keys);
  } catch {
    return null;
  }
}

/**
 * Starts the reads of S3 a plan needs (the live release history, one listing per bucket).
 * Each promise has a handler attached at once, so a read that fails while the files are still
 * being hashed is not an unhandled rejection; awaiting it later still throws its error.
 */
function readRemoteEarly(
  s3: FrontendDeps["s3"],
  deps: FrontendDeps,
  published: Promise<string[]>,
): EarlyFrontendReads {
  const history = loadLiveHistory(s3, deps.env.lambda.artifactBucket, deps.envName);
  const listings = new Map(
    deps.env.frontend.buckets.map(
      (bucket) =>
        [
          bucket,
          published.then(
            (keys) => listBucket(s3, bucket, deps.signal, keys),
            () => listBucket(s3, bucket, deps.signal),
          ),
        ] as const,
    ),
  );
  for (const pending of [history, ...listings.values()]) pending.catch(() => {});
  return { history, listings };
}

export function describePlan(plan: FrontendPlan): string {
  const parts = [`upload ${plan.upload} of ${plan.files} file(s) (${formatBytes(plan.bytes)})`];
  parts.push(`keep ${plan.unchanged} unchanged`);
  parts.push(plan.delete ? `delete ${plan.delete} stale file(s)` : "delete nothing");
  if (plan.keptStale) parts.push(`keep ${plan.keptStale} stale file(s) for the grace period`);
  if (plan.skippedDotfiles)
    parts.push(`skip ${plan.skippedDotfiles} dotfile(s) no frontend.uploadDotfiles rule allows`);
  return parts.join(", ");
}
