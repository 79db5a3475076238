import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import * as z from "zod";
import type { StoredPreflight } from "../core/context.js";
import { quote } from "../core/quote.js";
import type { ToolContext } from "./context.js";
import type { GitState } from "./git.js";

/**
 * Where passing preflights are kept for the tests-first gate (DESIGN.md §3.3): in the
 * server's memory and in <git dir>/vyaparai-deploy/preflight-<env>.json, so a deploy from the
 * CLI honours a preflight the server ran (and the reverse). The git dir is never committed,
 * and it belongs to the same clone the gate checks.
 */
export type { StoredPreflight } from "../core/context.js";

export async function recordPreflight(ctx: ToolContext, result: StoredPreflight): Promise<void> {
  ctx.session.preflights.set(result.env, result);
  const dir = await preflightDir(ctx);
  if (!dir) return;
  try {
    await mkdir(dir, { recursive: true });
    const file = join(dir, `preflight-${result.env}.json`);
    const temp = `${file}.${process.pid}.tmp`;
    const signed: SignedPreflightFile = { record: result, mac: ctx.tokens.sign(signedBody(result)) };
    await writeFile(temp, `${JSON.stringify(signed, null, 2)}\n`, { encoding: "utf8", mode: 0o600 });
    // Atomic replace: a CLI reading at the same moment sees the old or the new file, whole.
    await rename(temp, file);
  } catch (error) {
    ctx.log(
      "warning",
      `Could not save the preflight result under ${dir} (${(error as Error).message}); only this process will honour it.`,
    );
  }
}

/**
 * The newest stored preflight of the env (memory or file), passing or not.
 *
 * Safety: the file lives in the repo's git dir, which anything with a shell can write. It
 * counts only when signed with this server's secret (a CLI sharing VYAPARAI_DEPLOY_SECRET
 * signs alike); and a result this process saw fail for a HEAD is never outvoted by a newer
 * file for the same HEAD.
 */
export async function readLatestPreflight(ctx: ToolContext): Promise<StoredPreflight | null> {
  return (await readPreflightRecords(ctx)).latest;
}

export interface PreflightRecords {
  latest: StoredPreflight | null;
  /** Why the file on disk was not used, when it was there but not trusted. */
  ignoredFile?: "unsigned" | "bad_signature" | "unreadable" | "outvoted";
}

export async function readPreflightRecords(ctx: ToolContext): Promise<PreflightRecords> {
  const seen = ctx.session.preflights.get(ctx.envName) ?? null;
  const disk = await readFromDisk(ctx);
  const file = "record" in disk && disk.record.env === ctx.envName ? disk.record : null;
  const ignoredFile = "ignored" in disk ? disk.ignored : undefined;
  const failedHere = seen && (!seen.ok || !seen.clean) && file && file.gitSha === seen.gitSha;
  if (failedHere) return { latest: seen, ignoredFile: "outvoted" };
  const latest =
    [seen, file]
      .filter((p): p is StoredPreflight => p !== null && p.env === ctx.envName)
      .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0] ?? null;
  return { latest, ...(ignoredFile ? { ignoredFile } : {}) };
}

/** A preflight that unlocks the gate for `gitSha`: ok, clean, same HEAD, young enough. */
export async function findPassingPreflight(
  ctx: ToolContext,
  gitSha: string,
): Promise<StoredPreflight | null> {
  const latest = await readLatestPreflight(ctx);
  return latest && judgePreflight(ctx, latest, gitSha) === null ? latest : null;
}

export type GateVerdict =
  | { ok: true; preflight: StoredPreflight }
  | {
      ok: false;
      reason: GateRefusalReason;
      /** The server's own words; file names from the repo are only in `dirtyFiles`. */
      message: string;
      dirtyFiles?: string[];
    };
export type GateRefusalReason =
  | "not_a_repo"
  | "no_commit"
  | "tree_dirty"
  | "no_preflight"
  | "preflight_failed"
  | "preflight_other_sha"
  | "preflight_dirty"
  | "preflight_too_old"
  | "preflight_other_components"
  | "preflight_other_tree";

/** Why a preflight file on disk did not count, in the gate's refusal. */
const IGNORED_FILE_TEXT: Record<NonNullable<PreflightRecords["ignoredFile"]>, string> = {
  unsigned:
    "the preflight file in the git dir is not signed, so it was ignored: it was written by hand or by an older version",
  bad_signature:
    "the preflight file in the git dir is not signed with this server's secret, so it was ignored: run preflight in this server, or give the CLI and the server the same VYAPARAI_DEPLOY_SECRET",
  unreadable: "the preflight file in the git dir is unreadable, so it was ignored",
  outvoted: "a newer preflight file for the same HEAD was ignored: this server saw that HEAD fail",
};

const LISTED_DIRTY_FILES = 10;
const FILE_NAME_CHARS = 200;

/** Preflight's component names for what a guarded mutation changes. */
const PREFLIGHT_COMPONENT: Record<string, string> = {
  lambda: "backend",
  frontend: "frontend",
  infra: "infra",
};

/**
 * The tests-first gate: a clean tree whose HEAD has a passing preflight younger than
 * preflightMaxAgeMinutes. The message names what is missing and what to run.
 */
export async function evaluateTestsFirstGate(
  ctx: ToolContext,
  git: GitState,
  component?: string,
  /** The digest of the tree the deploy would package (backend); compared with the preflight's. */
  treeDigest?: string,
): Promise<GateVerdict> {
  const refuse = (reason: GateRefusalReason, message: string): Extract<GateVerdict, { ok: false }> => ({
    ok: false,
    reason,
    message: `Tests first: ${message}`,
  });
  if (!git.isRepo) {
    return refuse(
      "not_a_repo",
      `${ctx.appRoot} is not a git repository, so no preflight can vouch for what would be deployed. Deploy to "${ctx.envName}" from a clone of the app repo.`,
    );
  }
  if (!git.sha) return refuse("no_commit", "the repository has no commit yet; commit, then run preflight.");
  if (!git.clean) {
    // Safety: file names are written by anyone with access to the repo; they travel as data.
    return {
      ...refuse(
        "tree_dirty",
        `the working tree has ${git.dirtyFiles.length || "some"} uncommitted file(s) (listed in dirtyFiles; \`git status\` shows them); commit or stash those changes, then run preflight.`,
      ),
      dirtyFiles: git.dirtyFiles.slice(0, LISTED_DIRTY_FILES).map((file) => quote(file, FILE_NAME_CHARS)),
    };
  }
  const { latest, ignoredFile } = await readPreflightRecords(ctx);
  if (!latest) {
    return refuse(
      "no_preflight",
      `no preflight has been run for env "${ctx.envName}"${ignoredFile ? ` (${IGNORED_FILE_TEXT[ignoredFile]})` : ""}; run preflight (env "${ctx.envName}") and deploy once it passes.`,
    );
  }
  const problem = judgePreflight(ctx, latest, git.sha);
  if (problem) return refuse(problem.reason, problem.message);
  const needed = component ? (PREFLIGHT_COMPONENT[component] ?? component) : null;
  // Safety: a preflight of the frontend alone does not vouch for the backend's tests.
  if (needed && !latest.components.includes(needed)) {
    const checked = latest.components.length ? latest.components.join(", ") : "no component";
    return refuse(
      "preflight_other_components",
      `the last preflight (${latest.preflightId}) checked ${checked}, not ${needed}; run preflight with components including "${needed}".`,
    );
  }
  // Safety: HEAD alone does not say what goes live (skip-worktree, ignored files, build output):
  // the package's tree must be the one the tests ran on.
  if (treeDigest !== undefined && latest.treeDigest !== treeDigest) {
    return refuse(
      "preflight_other_tree",
      latest.treeDigest
        ? `the backend files this deploy would package differ from the ones preflight ${latest.preflightId} tested (tree ${latest.treeDigest.slice(0, 12)}, now ${treeDigest.slice(0, 12)}); run preflight again on this tree.`
        : `preflight ${latest.preflightId} recorded no backend tree (it did not check the backend, or the tree had problems); run preflight with components including "backend".`,
    );
  }
  return { ok: true, preflight: latest };
}

function judgePreflight(
  ctx: ToolContext,
  preflight: StoredPreflight,
  gitSha: string,
): { reason: GateRefusalReason; message: string } | null {
  const short = (sha: string | null) => (sha ? sha.slice(0, 12) : "no commit");
  if (preflight.gitSha !== gitSha) {
    return {
      reason: "preflight_other_sha",
      message: `the last preflight (${preflight.preflightId}) ran on ${short(preflight.gitSha)}, but HEAD is ${short(gitSha)}; run preflight again.`,
    };
  }
  if (!preflight.ok) {
    return {
      reason: "preflight_failed",
      message: `the last preflight for HEAD ${short(gitSha)} (${preflight.preflightId}) failed; fix the failing checks and run preflight again.`,
    };
  }
  if (!preflight.clean) {
    return {
      reason: "preflight_dirty",
      message: `the last preflight (${preflight.preflightId}) ran on a dirty tree; commit, then run preflight again.`,
    };
  }
  const ageMs = ctx.now().getTime() - Date.parse(preflight.at);
  const maxMinutes = ctx.config.preflightMaxAgeMinutes;
  // Safety: an unreadable time or one in the future (clock skew, hand edit) vouches for nothing.
  if (!Number.isFinite(ageMs) || ageMs < -60_000 || ageMs > maxMinutes * 60_000) {
    const age = Number.isFinite(ageMs) ? `${Math.round(ageMs / 60_000)} min old` : "of unknown age";
    return {
      reason: "preflight_too_old",
      message: `the passing preflight is ${age} (max ${maxMinutes} min, preflightMaxAgeMinutes); run preflight again.`,
    };
  }
  return null;
}

async function preflightDir(ctx: ToolContext): Promise<string | null> {
  try {
    const result = await ctx.run(["git", "rev-parse", "--absolute-git-dir"], {
      cwd: ctx.appRoot,
      env: { GIT_OPTIONAL_LOCKS: "0", LC_ALL: "C" },
      timeoutMs: 15_000,
      tailBytes: 1_000,
    });
    const gitDir = result.stdout.trim();
    if (result.exitCode !== 0 || !gitDir || !isAbsolute(gitDir)) return null;
    return join(gitDir, "vyaparai-deploy");
  } catch {
    return null;
  }
}

/** The file's content: the record and the HMAC of its canonical form. */
interface SignedPreflightFile {
  record: StoredPreflight;
  mac: string;
}

/** What is signed: a fixed field order, so the same record always signs the same. */
function signedBody(record: StoredPreflight): string {
  const { preflightId, env, gitSha, clean, ok, at, components } = record;
  const treeDigest = record.treeDigest ?? null;
  return `preflight:v1:${JSON.stringify([preflightId, env, gitSha, clean, ok, at, components, treeDigest])}`;
}

type DiskRead =
  | { record: StoredPreflight }
  | { ignored: "unsigned" | "bad_signature" | "unreadable" }
  | { none: true };

async function readFromDisk(ctx: ToolContext): Promise<DiskRead> {
  const dir = await preflightDir(ctx);
  if (!dir) return { none: true };
  let text: string;
  try {
    text = await readFile(join(dir, `preflight-${ctx.envName}.json`), "utf8");
  } catch {
    return { none: true };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ignored: "unreadable" };
  }
  const file = value as Partial<SignedPreflightFile> | null;
  const record = asStoredPreflight(file?.record);
  if (!record) return { ignored: typeof file?.mac === "string" ? "unreadable" : "unsigned" };
  if (typeof file?.mac !== "string") return { ignored: "unsigned" };
  return ctx.tokens.verify(signedBody(record), file.mac) ? { record } : { ignored: "bad_signature" };
}

/**
 * A stored preflight as the server writes it, shape by shape: the file lives in the repo's git
 * dir, so anything that can write there writes it, and its id and sha are quoted in messages.
 */
const storedPreflightSchema = z.object({
  preflightId: z.string().regex(/^pf-\d{8}T\d{6}Z-[0-9a-f]{8}$/),
  env: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/),
  gitSha: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/)
    .nullable(),
  clean: z.boolean(),
  ok: z.boolean(),
  at: z.string().datetime(),
  components: z.array(z.enum(["backend", "frontend", "infra"])).max(3),
  treeDigest: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable()
    .optional(),
});

function asStoredPreflight(value: unknown): StoredPreflight | null {
  const parsed = storedPreflightSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}
