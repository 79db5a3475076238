import { retryWithin } from "../../core/budget.js";
import { DeployError } from "../../core/errors.js";
import type { RecordPatch } from "../../release/journal.js";
import type { ReleaseSpec, ReleaseStep, StepIo } from "../../release/spec.js";
import type { FrontendDeps } from "./deps.js";
import type { BucketDiff, FrontendManifest, RemoteObject } from "./diff.js";
import {
  type EntryPointSnapshot,
  type EntryPointState,
  hashedContent,
  keepSnapshot,
  type ReadSnapshot,
  readEntryPointState,
  readSnapshot,
  restoreEntryPointCommand,
  restoreEntryPoints,
} from "./entry-points.js";
import { type FrontendRecoveryFacts, recoveryPlanText } from "./facts.js";
import { isEntryPoint } from "./headers.js";
import { checkLiveIntegrity, type IntegrityReport, missingKeys, referencedKeys } from "./integrity.js";
import {
  createInvalidation,
  type InvalidationResult,
  invalidationPaths,
  waitForInvalidation,
} from "./invalidation.js";
import { keepPreReleaseState } from "./pre-release.js";
import {
  type ContentSource,
  deleteStale,
  publishEntryPoints,
  readEntryPoints,
  type SyncContext,
  uploadAssets,
} from "./sync.js";

/** What the steps of a frontend release learn as they go. */
export interface FrontendReleaseState {
  /** Null until the entry points the release replaces were kept; then what an undo restores. */
  snapshot: EntryPointSnapshot[] | null;
  uploadedFiles: number;
  uploadedBytes: number;
  deleted: number;
  invalidation: InvalidationResult | null;
  integrity: IntegrityReport | null;
}

/** What serves now, read back: index.html per bucket (hashed bytes) and whose entry points these are. */
export interface LiveFrontend {
  entryPoints: EntryPointState;
  indexHtml: Array<{ bucket: string; sha256: string | null }>;
}

export interface FrontendSpecInput {
  /** What a token confirms (planBuckets' digestable form). */
  plan: Record<string, unknown>;
  desired: FrontendManifest;
  diffs: BucketDiff[];
  /** Per bucket, the stale objects to delete once the release passed its check. */
  deletions: Map<string, RemoteObject[]>;
  knownSha256: (object: RemoteObject) => string | null;
  sourceOf: (key: string) => ContentSource;
  /** The index.html about to go live, to check its references before the switch. */
  newIndexHtml: () => Promise<string>;
  wait: boolean;
  approvalText: string;
  requirePreflight: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
  /** Facts for the record from the start (artifacts, before, restoredFrom). */
  record: RecordPatch;
  /**
   * A first release (no earlier one was live): describe and keep the site it replaces, so a
   * rollback can put it back (pre-release.ts).
   */
  keepPreRelease?: boolean;
  /** Plans again from live state after a recovery changed it (null: nothing left to do). */
  replan?: () => Promise<ReleaseSpec<Record<string, unknown>, FrontendReleaseState, LiveFrontend> | null>;
}

/**
 * A frontend release (deploy or rollback) as the one flow runs it, in the order that keeps
 * the site whole: keep the entry points it replaces → assets → the other entry points →
 * check every file the new index.html references is in place → index.html (the switch) →
 * the integrity gate; undo puts the previous entry points back. Stale files and the CloudFront
 * invalidation come after the gate and only warn when they fail.
 */
export function frontendReleaseSpec(
  deps: FrontendDeps,
  input: FrontendSpecInput,
): ReleaseSpec<Record<string, unknown>, FrontendReleaseState, LiveFrontend> {
  const artifactBucket = deps.env.lambda.artifactBucket;
  const buckets = input.diffs.map((d) => d.bucket);
  const newIndexSha256 = input.desired["index.html"]?.sha256 ?? null;
  const state: FrontendReleaseState = {
    snapshot: null,
    uploadedFiles: 0,
    uploadedBytes: 0,
    deleted: 0,
    invalidation: null,
    integrity: null,
  };
  const writes = input.diffs.flatMap((diff) =>
    diff.upload
      .filter((u) => u.reason !== "headers" && isEntryPoint(u.key, deps.frontend))
      .map((u) => ({
        bucket: diff.bucket,
        key: u.key,
        nextSha256: input.desired[u.key]?.sha256 as string,
      })),
  );
  /**
   * Safety: never publish an index.html that points at files the bucket lacks. Checked before
   * anything is written: a key this release uploads to a bucket is there once its upload
   * succeeded (before the switch); every other referenced key must be there now.
   */
  const checkReferences = async (references: string[]) => {
    await Promise.all(
      input.diffs.map(async (diff) => {
        const uploads = new Set(diff.upload.map((u) => u.key));
        const missing = await missingKeys(
          deps.s3,
          diff.bucket,
          references.filter((key) => !uploads.has(key)),
        );
        if (missing.length) {
          throw new DeployError(
            "PRECONDITION",
            `The new index.html references ${missing.length} file(s) not in s3://${diff.bucket}; nothing was uploaded and index.html was not switched.`,
            { detail: { missing: missing.slice(0, 20) } },
          );
        }
      }),
    );
  };
  const factsOf = (snapshot: EntryPointSnapshot[]): FrontendRecoveryFacts => ({
    artifactBucket,
    buckets,
    newIndexSha256,
    snapshot,
  });
  // Entry points as read and checked before the switch; what the publish steps send.
  let verified: ReadonlyMap<string, Buffer> = new Map();
  // Contents this release made sure the store holds: each is kept (read, copied) once per
  // release, so the publish steps do not ask again what the snapshot just stored.
  const kept = new Set<string>();
  const syncFor = (io: StepIo): SyncContext => ({
    s3: deps.s3,
    artifactBucket,
    isEntryPoint: (key) => isEntryPoint(key, deps.frontend),
    namedInConfig: (key) => deps.frontend.entryPoints.includes(key),
    sourceOf: input.sourceOf,
    desired: input.desired,
    signal: io.signal,
    progress: io.progress,
    kept,
    verified,
  });
  const count = (s: FrontendReleaseState, stats: { files: number; bytes: number }) => {
    s.uploadedFiles += stats.files;
    s.uploadedBytes += stats.bytes;
  };
  // Replaced contents not kept yet: found by check-release, copied by upload-assets.
  let toKeep: ReadSnapshot["toKeep"] = [];
  const steps: Array<ReleaseStep<FrontendReleaseState>> = [
    {
      // Reads only, while the record is first written: the entry points the release replaces
      // (the snapshot an undo restores), the approved entry points from the build, and every
      // file the new index.html references that this release does not upload itself.
      name: "check-release",
      phase: "preparing",
      startsWhileRecording: true,
      async run(s, io) {
        const snapshot = readSnapshot(deps.s3, writes, kept);
        try {
          verified = await readEntryPoints(
            input.sourceOf,
            input.desired,
            writes.map((w) => w.key),
            io.signal,
          );
          const index = verified.get("index.html");
          await checkReferences(referencedKeys(index ? index.toString("utf8") : await input.newIndexHtml()));
        } finally {
          // Nothing of the step runs on after it: the snapshot's reads end first.
          await snapshot.catch(() => {});
        }
        const read = await snapshot;
        toKeep = read.toKeep;
        s.snapshot = read.snapshot;
        const primaryIndex = read.snapshot.find((e) => e.key === "index.html" && e.bucket === buckets[0]);
        // Goes out with upload-assets' record write, before any entry point is written.
        io.note({
          recoveryFacts: factsOf(read.snapshot),
          ...(primaryIndex ? { before: { indexHtmlSha256: primaryIndex.previousSha256 } } : {}),
        });
      },
    },
    ...(input.keepPreRelease ? [preReleaseStep(deps, input)] : []),
    {
      // Nothing a visitor loads by a fixed name changes here. The record with the snapshot is
      // written meanwhile; the previous entry points are in the store before the step ends.
      name: "upload-assets",
      phase: "uploading",
      startsWhileRecording: true,
      async run(s, io) {
        // Both settle before the step does: nothing of it runs on after a failure.
        const [stored, uploaded] = await Promise.allSettled([
          keepSnapshot(deps.s3, artifactBucket, toKeep, kept),
          uploadAssets(syncFor(io), input.diffs),
        ]);
        if (uploaded.status === "fulfilled") count(s, uploaded.value);
        if (stored.status === "rejected") throw stored.reason;
        if (uploaded.status === "rejected") throw uploaded.reason;
      },
    },
    {
      name: "publish-other-entry-points",
      phase: "switching",
      // Safety: from here a failure puts the previous entry points back (no mixed release).
      touchesLive: true,
      run: async (s, io) => count(s, await publishEntryPoints(syncFor(io), input.diffs, "others")),
    },
    {
      name: "publish-index-html",
      phase: "switching",
      touchesLive: true,
      run: async (s, io) => count(s, await publishEntryPoints(syncFor(io), input.diffs, "index")),
    },
  ];
  const cleanup: Array<ReleaseStep<FrontendReleaseState>> = [
    {
      name: "delete-stale-files",
      phase: "finishing",
      async run(s, io) {
        for (const [bucket, objects] of input.deletions) {
          if (objects.length) s.deleted += await deleteStale(syncFor(io), bucket, objects, input.knownSha256);
        }
      },
    },
    {
      name: "invalidate-cdn",
      phase: "finishing",
      async run(s, io) {
        s.invalidation = await invalidate(deps, input, io);
      },
    },
  ];
  return {
    component: "frontend",
    plan: input.plan,
    approvalText: input.approvalText,
    requirePreflight: input.requirePreflight,
    confirmationToken: input.confirmationToken,
    breakLock: input.breakLock,
    state,
    record: { ...input.record, recoveryFacts: factsOf([]) },
    recoveryPlan: (phase) => recoveryPlanText(phase),
    // Recovery reads the live entry points whatever the phase: these need no write of their own.
    phasesRecordedLate: ["verifying", "finishing"],
    // Stale deletions never touch an entry point, nor does the invalidation.
    readLiveDuringCleanup: true,
    ...(input.replan ? { replan: input.replan } : {}),
    steps,
    cleanup,
    verify: {
      name: "integrity-check",
      async run(s, io) {
        const expected = verified.get("index.html");
        s.integrity = await checkLiveIntegrity(deps.s3, buckets, {
          url: deps.env.frontend.url,
          ...(expected ? { expectedIndexHtml: expected.toString("utf8") } : {}),
        });
        for (const warning of s.integrity.warnings) io.warn(warning);
        return s.integrity.ok
          ? { ok: true, report: s.integrity }
          : {
              ok: false,
              reason: `the live index.html references ${s.integrity.missing.length} missing file(s)`,
              report: s.integrity,
            };
      },
    },
    undo: {
      name: "put the previous entry points back",
      run: (s, io) => restoreEntryPoints(deps.s3, artifactBucket, s.snapshot ?? [], io.progress),
      fixCommand: (s) =>
        (s.snapshot ?? []).map((entry) => restoreEntryPointCommand(artifactBucket, entry)).join(" && ") ||
        "nothing to restore",
    },
    readLive: () => readLiveFrontend(deps, buckets, state.snapshot),
    recordLive: (live, _s, status) => {
      const switched = live.entryPoints === "next";
      return {
        after: {
          indexHtmlSha256: live.indexHtml[0]?.sha256 ?? null,
          switched,
          entryPoints: live.entryPoints,
        },
        ...(switched || status === "succeeded" ? { manifest: input.desired } : {}),
      };
    },
  };
}

function preReleaseStep(deps: FrontendDeps, input: FrontendSpecInput): ReleaseStep<FrontendReleaseState> {
  return {
    name: "keep-pre-release-site",
    phase: "preparing",
    async run(_s, io) {
      const primary = input.diffs[0];
      if (!primary) return;
      const state = await keepPreReleaseState({
        s3: deps.s3,
        artifactBucket: deps.env.lambda.artifactBucket,
        diff: primary,
        desired: input.desired,
        deleted: new Set((input.deletions.get(primary.bucket) ?? []).map((o) => o.key)),
        signal: io.signal,
        progress: io.progress,
      });
      if (state.manifest) io.note({ before: { manifest: state.manifest } });
      else if (state.reason)
        io.warn(
          `The site before this first release is not kept as a rollback target: ${state.reason}. A rollback without "to" will have no earlier state to go back to.`,
        );
    },
  };
}

export async function readLiveFrontend(
  deps: Pick<FrontendDeps, "s3">,
  buckets: string[],
  snapshot: EntryPointSnapshot[] | null,
): Promise<LiveFrontend> {
  // Each bucket's index.html is read once, for both answers, and both are read at once.
  const reads = new Map(buckets.map((bucket) => [bucket, hashedContent(deps.s3, bucket, "index.html")]));
  for (const read of reads.values()) read.catch(() => {});
  const indexSha256Of = (bucket: string) => reads.get(bucket) ?? hashedContent(deps.s3, bucket, "index.html");
  // Before the snapshot step finished no entry point was written: the previous release serves.
  // A release that writes no entry point (same content) serves its own as soon as it starts.
  const [entryPoints, indexHtml] = await Promise.all([
    snapshot === null
      ? ("previous" as const)
      : snapshot.length
        ? readEntryPointState(deps.s3, snapshot, indexSha256Of).then((read) => read.state)
        : ("next" as const),
    Promise.all(buckets.map(async (bucket) => ({ bucket, sha256: await indexSha256Of(bucket) }))),
  ]);
  return { entryPoints: entryPoints as EntryPointState, indexHtml };
}

async function invalidate(
  deps: FrontendDeps,
  input: FrontendSpecInput,
  io: StepIo,
): Promise<InvalidationResult | null> {
  const distributionId = deps.env.frontend.distributionId;
  if (!distributionId) return null;
  const changed = new Map<string, string>();
  for (const diff of input.diffs)
    for (const upload of diff.upload) changed.set(upload.key, input.desired[upload.key]?.cacheControl ?? "");
  const paths = invalidationPaths(
    [...changed].map(([key, cacheControl]) => ({ key, cacheControl })),
    deps.frontend.invalidateAllThreshold,
  );
  if (!paths.length) return null;
  const cloudFront = await deps.cloudFront();
  // CallerReference is the release id, so a retried create never invalidates twice.
  const created = await retryWithin(
    () => createInvalidation(cloudFront, distributionId, paths, io.releaseId),
    {
      budgetMs: 20_000,
    },
  );
  if (!created.ok || !created.value) {
    throw new DeployError(
      "AWS_ERROR",
      `the CloudFront invalidation failed (${created.error?.message ?? "unknown error"}); invalidate ${paths.join(" ")} by hand.`,
    );
  }
  const result = created.value;
  if (input.wait && result.id) {
    io.progress(`Waiting for CloudFront invalidation ${result.id}`);
    result.status = await waitForInvalidation(cloudFront, distributionId, result.id, {
      signal: io.signal,
      onPoll: (status) => io.progress(`Invalidation ${result.id}: ${status}`),
    });
  }
  return result;
}
