import { createHash } from "node:crypto";
import { constants } from "node:fs";
import {
  chmod,
  type FileHandle,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rename,
  rm,
  stat,
} from "node:fs/promises";
import { join } from "node:path";
import { DeployError, RefusalError } from "../core/errors.js";
import { stateHome } from "../core/state-home.js";

/**
 * Saved plan files, named by their SHA-256 (the planDigest a person reviews and a confirmation
 * token binds), in a private store outside the repo:
 *
 *   <XDG_STATE_HOME or ~/.local/state>/vyaparai-deploy/plans/<terraform dir key>/<env>/<digest>.tfplan
 *
 * folders 0700, files 0600. Why there and not in the repo (its `.terraform/` or `.git/`): the
 * working tree, `.git` included, is exactly where an assistant's file tools and sandboxed
 * shells write, and a plan file swapped there while a person approves is what this store is
 * against. Why not the OS temp dir: it is shared by every user, and sandboxes usually let a
 * shell write there too. The user's state dir is private to the user, outside the working
 * tree, survives a reboot while a plan waits for a person, and is the same for the CLI and the
 * server of one user, which must both find a plan. No tool of this server writes there but
 * terraform_plan (and terraform_apply, which removes what it applied).
 *
 * The store is defence in depth. What makes an apply exact is `copyForApply`: terraform applies
 * a fresh private copy whose own bytes were hashed against the approved digest and read for
 * data loss, never a path that was checked and then opened again.
 */

/** Plans older than this are removed when a new one is saved: nobody reviews a day-old plan. */
const MAX_PLAN_AGE_MS = 24 * 60 * 60 * 1000;
const DIGEST = /^[0-9a-f]{64}$/;
/** Scratch folders: terraform's plan output (`work-`), the copy an apply runs on (`apply-`). */
const SCRATCH = /^(work|apply)-/;
const COPY_NAME = "plan.tfplan";

/** One env's folder in the store, and the folders above it that must be private too. */
export interface PlanStore {
  dir: string;
  /** From `<state>/vyaparai-deploy` down to `dir`: each is created 0700 and checked. */
  levels: string[];
}

/**
 * The store folder for one terraform dir (its real path, hashed: two clones never share
 * plans, and no repo path becomes a folder name) and one env (a dev plan never applies to prod).
 */
export function planStoreFor(realTerraformDir: string, envName: string, home = stateHome()): PlanStore {
  const key = createHash("sha256").update(realTerraformDir).digest("hex").slice(0, 32);
  const base = join(home, "vyaparai-deploy");
  const levels = [base, join(base, "plans"), join(base, "plans", key), join(base, "plans", key, envName)];
  return { dir: levels[levels.length - 1] as string, levels };
}

/** A fresh private folder inside the store for terraform to write the next plan into. */
export async function newPlanScratch(store: PlanStore): Promise<{ dir: string; planPath: string }> {
  await ensurePrivate(store);
  const dir = await mkdtemp(join(store.dir, "work-"));
  return { dir, planPath: join(dir, COPY_NAME) };
}

/** Moves the plan terraform wrote to `<digest>.tfplan` (0600) and returns the digest. */
export async function savePlan(
  store: PlanStore,
  writtenPath: string,
  now: Date,
): Promise<{ planDigest: string; planFile: string }> {
  const planDigest = await sha256OfFile(writtenPath);
  // terraform creates plan files 0644; the store keeps them readable by their owner only.
  await chmod(writtenPath, 0o600);
  const planFile = storedPath(store, planDigest);
  await rename(writtenPath, planFile);
  await pruneOldPlans(store, now);
  return { planDigest, planFile };
}

/** The private copy of an approved plan that one apply reads and hands to terraform. */
export interface PlanCopy {
  path: string;
  /** SHA-256 of the copy's own bytes (equal to the approved digest, or it was refused). */
  digest: string;
  /** Whether the copy still hashes to `digest` (it waits in the store while a person is asked). */
  intact(): Promise<boolean>;
  dispose(): Promise<void>;
}

/**
 * Copies the saved plan named by `planDigest` once into a fresh private folder, hashes THAT
 * copy and refuses unless it matches: every later read (terraform show, terraform apply) is of
 * the copy, so nothing that changes the saved file afterwards reaches what is applied.
 */
export async function copyForApply(store: PlanStore, planDigest: string): Promise<PlanCopy> {
  if (!DIGEST.test(planDigest)) throw noSuchPlan(planDigest);
  await ensurePrivate(store);
  const source = await openSaved(storedPath(store, planDigest), planDigest);
  const dir = await mkdtemp(join(store.dir, "apply-"));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const path = join(dir, COPY_NAME);
    const digest = await copyAndHash(source, path, planDigest);
    if (digest !== planDigest) throw changedPlan(planDigest, digest);
    return { path, digest, intact: async () => (await sha256OfFile(path)) === digest, dispose };
  } catch (error) {
    await dispose();
    throw error;
  } finally {
    await source.close();
  }
}

/** Removes a saved plan: a plan applies once, and a stale one never will. */
export async function discardPlan(store: PlanStore, planDigest: string): Promise<void> {
  if (DIGEST.test(planDigest)) await rm(storedPath(store, planDigest), { force: true });
}

export async function sha256OfFile(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    return await sha256OfHandle(handle);
  } finally {
    await handle.close();
  }
}

function storedPath(store: PlanStore, planDigest: string): string {
  return join(store.dir, `${planDigest}.tfplan`);
}

/**
 * Creates the store's folders 0700 and checks each: a real folder (not a symlink to elsewhere),
 * owned by this user; group/other bits left by someone's umask or chmod are taken away.
 */
async function ensurePrivate(store: PlanStore): Promise<void> {
  await mkdir(store.dir, { recursive: true, mode: 0o700 });
  for (const level of store.levels) {
    const info = await lstat(level);
    const ownerOk = typeof process.getuid !== "function" || info.uid === process.getuid();
    if (!info.isDirectory() || !ownerOk) {
      throw new DeployError(
        "PRECONDITION",
        `The private plan folder ${level} is not a folder owned by this user, so saved plans could not be kept private there. Nothing was run: remove it (or set XDG_STATE_HOME to a private folder) and plan again.`,
      );
    }
    if ((info.mode & 0o077) !== 0) await chmod(level, 0o700);
  }
}

/**
 * Opens the saved plan once for the copy. O_NOFOLLOW: a symlink put in its place is refused,
 * not followed; O_NONBLOCK: a FIFO put in its place cannot stall the call (it is refused below).
 */
async function openSaved(path: string, planDigest: string): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw noSuchPlan(planDigest);
    if (code === "ELOOP") throw changedPlan(planDigest, null);
    throw error;
  }
}

/** Writes what `source` holds into a new 0600 file and returns the SHA-256 of the file written. */
async function copyAndHash(source: FileHandle, target: string, planDigest: string): Promise<string> {
  if (!(await source.stat()).isFile()) throw changedPlan(planDigest, null);
  const bytes = await source.readFile();
  // wx+: created here and now (never an existing file or a link someone prepared), read back below.
  const copy = await open(target, "wx+", 0o600);
  try {
    await copy.writeFile(bytes);
    await copy.sync();
    return await sha256OfHandle(copy);
  } finally {
    await copy.close();
  }
}

/** Hashes a file from its first byte through an open handle (no second open by path). */
async function sha256OfHandle(handle: FileHandle): Promise<string> {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(1 << 20);
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return hash.digest("hex");
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
}

function noSuchPlan(planDigest: string): RefusalError {
  const shown = DIGEST.test(planDigest) ? planDigest : "given";
  return new RefusalError(
    `No saved plan has digest ${shown} for this env (it was never made here, already applied, or expired). Nothing was applied: run terraform_plan first and pass its planDigest.`,
    { reason: "no_saved_plan" },
  );
}

/** The saved file is not the bytes that were reviewed; `actual` is its hash when it was a file. */
function changedPlan(planDigest: string, actual: string | null): RefusalError {
  const now = actual ? `its copy now hashes to ${actual}` : "it is no longer a plain file";
  return new RefusalError(
    `The saved plan file for ${planDigest} no longer matches that digest (its content changed after review: ${now}). Nothing was applied: run terraform_plan again and review the new plan.`,
    { reason: "plan_file_changed", expectedDigest: planDigest, ...(actual ? { actualDigest: actual } : {}) },
  );
}

/** Removes day-old plans and scratch folders a killed process left behind. */
async function pruneOldPlans(store: PlanStore, now: Date): Promise<void> {
  for (const name of await readdir(store.dir)) {
    if (!name.endsWith(".tfplan") && !SCRATCH.test(name)) continue;
    const path = join(store.dir, name);
    const info = await stat(path).catch(() => null);
    if (info && now.getTime() - info.mtimeMs > MAX_PLAN_AGE_MS)
      await rm(path, { recursive: true, force: true });
  }
}
