import type { CommandRunner } from "../core/run-command.js";

/** What a deploy needs to know about the app repository. */
export interface GitState {
  isRepo: boolean;
  /** HEAD commit, or null outside a repo / before the first commit. */
  sha: string | null;
  /** Current branch, or null when HEAD is detached. */
  branch: string | null;
  /** No staged, unstaged or untracked changes (ignored files do not count). */
  clean: boolean;
  /** Paths from `git status`, relative to the repo root (bounded). */
  dirtyFiles: string[];
  /** e.g. "origin/main", or null when the branch tracks nothing. */
  upstream: string | null;
  /** Commits on HEAD not on the upstream; null without an upstream. */
  unpushed: number | null;
}

const MAX_DIRTY_FILES = 50;

const NOT_A_REPO: GitState = {
  isRepo: false,
  sha: null,
  branch: null,
  clean: false,
  dirtyFiles: [],
  upstream: null,
  unpushed: null,
};

/**
 * Reads the repository state at `cwd` with plain git commands (argv arrays, no shell).
 * A folder that is not a repository, or a machine without git, gives `isRepo: false`.
 */
export async function readGitState(cwd: string, run: CommandRunner): Promise<GitState> {
  const git = async (...args: string[]) => {
    try {
      const result = await run(["git", ...args], {
        cwd,
        // Safety: a read must not take .git/index.lock while another git process works,
        // and parsed output must not depend on the user's language.
        env: { GIT_OPTIONAL_LOCKS: "0", LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" },
        timeoutMs: 30_000,
        tailBytes: 2_000,
      });
      return { ok: result.exitCode === 0, stdout: result.stdout };
    } catch {
      // The runner throws only when git cannot start at all (missing binary, missing cwd).
      return { ok: false, stdout: "" };
    }
  };

  const inside = await git("rev-parse", "--is-inside-work-tree");
  if (!inside.ok || inside.stdout.trim() !== "true") return { ...NOT_A_REPO };

  const [head, branch, status, upstream] = await Promise.all([
    git("rev-parse", "--verify", "--quiet", "HEAD"),
    git("symbolic-ref", "--quiet", "--short", "HEAD"),
    git("status", "--porcelain=v1", "-z", "--untracked-files=all"),
    git("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"),
  ]);
  const sha = head.ok ? head.stdout.trim() || null : null;
  const dirtyFiles = status.ok ? parsePorcelainZ(status.stdout) : [];
  const upstreamName = upstream.ok ? upstream.stdout.trim() || null : null;
  let unpushed: number | null = null;
  if (upstreamName && sha) {
    const count = await git("rev-list", "--count", "@{u}..HEAD");
    const parsed = Number.parseInt(count.stdout.trim(), 10);
    unpushed = count.ok && Number.isFinite(parsed) ? parsed : null;
  }
  return {
    isRepo: true,
    sha,
    branch: branch.ok ? branch.stdout.trim() || null : null,
    // Safety: if status itself failed we cannot claim the tree is clean.
    clean: status.ok && dirtyFiles.length === 0,
    dirtyFiles: dirtyFiles.slice(0, MAX_DIRTY_FILES),
    upstream: upstreamName,
    unpushed,
  };
}

/** `git status --porcelain=v1 -z`: "XY path\0", renames and copies add "orig\0" after. */
function parsePorcelainZ(output: string): string[] {
  const entries = output.split("\0");
  const files: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as string;
    if (entry.length < 4) continue;
    const code = entry.slice(0, 2);
    files.push(entry.slice(3));
    if (code[0] === "R" || code[0] === "C") i++;
  }
  return files;
}
