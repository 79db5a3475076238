import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { RefusalError } from "../core/errors.js";

/**
 * Saved plan files, named by their SHA-256 (the planDigest a person reviewed). They live in
 * the env's terraform data dir, which `.terraform/` ignore rules already keep out of git.
 */

/** Plans older than this are removed when a new one is saved: nobody reviews a day-old plan. */
const MAX_PLAN_AGE_MS = 24 * 60 * 60 * 1000;

export function plansDir(dataDir: string): string {
  return join(dataDir, "plans");
}

/** A fresh path terraform can write the next plan to. */
export async function newPlanPath(dataDir: string, now: Date): Promise<string> {
  const dir = plansDir(dataDir);
  await mkdir(dir, { recursive: true });
  return join(dir, `pending-${now.getTime()}-${process.pid}-${Math.random().toString(16).slice(2)}.tfplan`);
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Renames the plan terraform wrote to `<digest>.tfplan` and returns the digest. */
export async function savePlan(
  dataDir: string,
  writtenPath: string,
  now: Date,
): Promise<{ planDigest: string; planFile: string }> {
  const planDigest = await sha256OfFile(writtenPath);
  const planFile = join(plansDir(dataDir), `${planDigest}.tfplan`);
  await rename(writtenPath, planFile);
  await pruneOldPlans(dataDir, now);
  return { planDigest, planFile };
}

/**
 * The saved plan named by `planDigest`, re-hashed. Safety: terraform_apply must apply the
 * bytes that were reviewed; a missing file or one whose content changed is refused.
 */
export async function verifiedPlan(dataDir: string, planDigest: string): Promise<string> {
  const planFile = join(plansDir(dataDir), `${planDigest}.tfplan`);
  if (!/^[0-9a-f]{64}$/.test(planDigest) || !existsSync(planFile)) {
    throw new RefusalError(
      `No saved plan has digest ${planDigest} for this env (it was never made here, already applied, or expired). Nothing was applied: run terraform_plan first and pass its planDigest.`,
    );
  }
  const actual = await sha256OfFile(planFile);
  if (actual !== planDigest) {
    throw new RefusalError(
      `The saved plan file for ${planDigest} no longer matches that digest (its content changed after review: now ${actual}). Nothing was applied: run terraform_plan again and review the new plan.`,
    );
  }
  return planFile;
}

export async function discardPlan(planFile: string): Promise<void> {
  await rm(planFile, { force: true });
}

async function pruneOldPlans(dataDir: string, now: Date): Promise<void> {
  const dir = plansDir(dataDir);
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => null);
    if (info && now.getTime() - info.mtimeMs > MAX_PLAN_AGE_MS) await rm(path, { force: true });
  }
}
