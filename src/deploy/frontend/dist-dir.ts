import { realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import type { FrontendConfig } from "../../config/schema.js";
import { DeployError } from "../../core/errors.js";
import { quote } from "../../core/quote.js";

/** Longest config path a refusal quotes in its detail. */
const PATH_CHARS = 300;

type DirKey = "frontend.dir" | "frontend.distDir";

/** True when `path` is `root` or below it (both absolute, same form). */
export function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * The frontend folder and its build output, each checked against the app root before and
 * after following symlinks. Why: the build output is uploaded to a public bucket, so a config
 * value like "../.." or a dist/ that is a link to the home folder would publish whatever lies
 * there. `frontend.dir` is checked before the build (the build runs in it); the build output
 * only once it exists (checkDistDir, after the build).
 */
export async function checkFrontendDir(appRoot: string, frontend: FrontendConfig): Promise<string> {
  const dir = resolve(appRoot, frontend.dir);
  await assertInside(appRoot, dir, "frontend.dir", frontend.dir, { allowRoot: true });
  return dir;
}

/** The build output's real path, refused unless it lies strictly inside the app root. */
export async function checkDistDir(appRoot: string, frontend: FrontendConfig): Promise<string> {
  const dist = resolve(appRoot, frontend.dir, frontend.distDir);
  // Safety: a dist/ equal to the app root would publish the whole repo (config, backend, …).
  return assertInside(appRoot, dist, "frontend.distDir", frontend.distDir, { allowRoot: false });
}

async function assertInside(
  appRoot: string,
  path: string,
  key: DirKey,
  value: string,
  options: { allowRoot: boolean },
): Promise<string> {
  const root = resolve(appRoot);
  if (!insideRoot(root, path, options.allowRoot)) throw outsideRoot(key, value, "as written");
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    // A missing folder is not a way out; whoever reads it next says it is missing.
    return path;
  }
  if (!insideRoot(realRoot, real, options.allowRoot)) throw outsideRoot(key, value, "through a symlink");
  return real;
}

function insideRoot(root: string, path: string, allowRoot: boolean): boolean {
  return isWithin(root, path) && (allowRoot || path !== root);
}

function outsideRoot(key: DirKey, value: string, how: "as written" | "through a symlink"): DeployError {
  const where =
    key === "frontend.distDir" ? "a folder inside the app root" : "the app root or a folder in it";
  return new DeployError(
    "PRECONDITION",
    `${key} in deploy.config.json resolves outside the app root (${how}); it must be ${where}, because everything in the build output is published. Fix ${key}; nothing was uploaded.`,
    { detail: { key, value: quote(value, PATH_CHARS) } },
  );
}
