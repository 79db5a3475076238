import { DeployError } from "../core/errors.js";
import { findInterruptedReleases, type InterruptedRelease } from "../release/interrupted.js";
import { readDeployLock } from "../release/lock.js";
import { isReleaseId } from "../release/records.js";
import type { LockReadDeps, LockReading } from "./lock-check.js";
import type { PreflightCheck } from "./types.js";
import { asEvidence } from "./types.js";

/** Longest recovery plan shown; the server writes a sentence or two. */
const PLAN_CHARS = 600;
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what we remove.
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g;

/** What `interrupted` reads: the env's release records and lock (same needs as reading the lock). */
export type InterruptedCheckDeps = LockReadDeps;

/**
 * `interrupted`: releases whose record still says in_progress while no running deploy holds
 * them (their process died). Each is a warning, not a failure: the next guarded call on the
 * env recovers it before it starts its own release. `reading` is the lock as the `lock`
 * check saw it.
 *
 * Safety: records are read from S3. `detail` carries only the release id (when it has the
 * id shape), the component and the journal phase (both enums), and the record's recovery
 * plan, which the server itself wrote; never the record's caller ARN, errors or notes.
 */
export async function checkInterrupted(
  deps: InterruptedCheckDeps,
  reading: LockReading,
): Promise<PreflightCheck> {
  if (!reading.ok) {
    return {
      name: "interrupted",
      status: "warn",
      detail:
        "Not checked: the deploy lock could not be read, so a running release cannot be told from a dead one.",
      remedy: "Fix what the lock check reports, then rerun preflight.",
    };
  }
  const bucket = deps.env.lambda.artifactBucket;
  const where = `s3://${bucket}/releases/${deps.envName}/`;
  let found: InterruptedRelease[];
  try {
    const s3 = await deps.aws.s3();
    found = await findInterruptedReleases(s3, bucket, deps.envName, reading.lock);
    if (found.length > 0) found = await withoutStartedMeanwhile(deps, found);
  } catch (error) {
    const mapped = error instanceof DeployError ? error : null;
    // A missing artifact bucket is reported by `resources`; here it only means "unknown".
    const bucketMissing = mapped?.code === "AWS_NOT_FOUND";
    return {
      name: "interrupted",
      status: bucketMissing ? "warn" : "fail",
      detail: mapped
        ? `The release records under ${where} could not be read: ${mapped.message}`
        : `The release records under ${where} could not be read (the error is in evidence).`,
      ...(mapped ? {} : { evidence: asEvidence([(error as Error)?.message ?? String(error)]) }),
      remedy: bucketMissing
        ? "Create the artifact bucket (see the resources check); the release records live there."
        : `Grant s3:ListBucket on ${bucket} and s3:GetObject on ${where}* to the deploy role (a guarded call needs both to recover an interrupted release), then rerun preflight.`,
    };
  }
  if (found.length === 0) {
    return {
      name: "interrupted",
      status: "pass",
      detail: `No release of "${deps.envName}" was left in progress by a deploy that died.`,
    };
  }
  const items = found.map(({ record }) => {
    const id = isReleaseId(record.releaseId) ? record.releaseId : "(a release with an unreadable id)";
    const phase = record.phase
      ? `stopped in phase ${record.phase}`
      : "stopped before its journal recorded a phase";
    return `Release ${id} (${record.component}) ${phase}.`;
  });
  // Safety: the recovery plan is read back from S3, so it is evidence, not detail.
  const plans = found.map(({ record }) => `${record.releaseId}: ${shownPlan(record.recoveryPlan)}`);
  return {
    name: "interrupted",
    status: "warn",
    detail: `${found.length} interrupted release(s) on "${deps.envName}" (record still in_progress, no running deploy holds it); what the next guarded call will do for each is in evidence. ${items.join(" ")}`,
    evidence: asEvidence(plans),
    remedy:
      "Nothing to do by hand: the next guarded call on this env (deploy_lambda, deploy_frontend, terraform_apply or rollback) recovers it first, as its plan says; deploy_status shows the record.",
  };
}

/**
 * Drops releases that a lock read now names as live: a deploy that took the lock between our
 * first lock read and the record listing is running, not interrupted. A failed re-read keeps
 * the list as it was (the warning errs on the side of showing).
 */
async function withoutStartedMeanwhile(
  deps: InterruptedCheckDeps,
  found: InterruptedRelease[],
): Promise<InterruptedRelease[]> {
  try {
    const lock = await readDeployLock({
      s3: await deps.aws.s3(),
      bucket: deps.env.lambda.artifactBucket,
      envName: deps.envName,
      now: deps.now,
    });
    if (lock?.state !== "live") return found;
    return found.filter(({ record }) => record.releaseId !== lock.releaseId);
  } catch {
    return found;
  }
}

function shownPlan(plan: string | undefined): string {
  const text = (plan ?? "").replace(CONTROL_CHARS, " ").replace(/\s+/g, " ").trim();
  if (!text) return "read what is live and settle the release (no recovery plan was recorded).";
  return text.length > PLAN_CHARS ? `${text.slice(0, PLAN_CHARS - 1)}…` : text;
}
