import type { GitState } from "../release/git.js";
import { checkFromFindings, type Finding, type PreflightCheck } from "./types.js";

const LISTED_DIRTY_FILES = 10;

export interface GitCheckInput {
  /** State read before the tests ran: the commit the preflight vouches for. */
  before: GitState;
  /** State read after the tests finished (the same object when no tests ran). */
  after: GitState;
  envName: string;
  protectedEnv: boolean;
}

/**
 * `git`: repository, branch, clean tree, HEAD and unpushed commits. On a protected env a
 * dirty tree fails: the tests-first gate only trusts a preflight of a committed tree.
 */
export function checkGit(input: GitCheckInput): PreflightCheck {
  const { before, after, envName, protectedEnv } = input;
  const strict = protectedEnv ? "fail" : "warn";
  if (!before.isRepo) {
    return checkFromFindings("git", [
      {
        status: strict,
        text: "The app root is not inside a git repository, so this preflight cannot be tied to a commit.",
        remedy: `Run from a git checkout of the app${protectedEnv ? `: deploys to "${envName}" need a passing preflight of a clean commit` : ""}.`,
      },
    ]);
  }
  if (!before.sha) {
    return checkFromFindings("git", [
      {
        status: strict,
        text: "The repository has no commits yet.",
        remedy: "Commit the app, then rerun preflight.",
      },
    ]);
  }
  const short = before.sha.slice(0, 12);
  const findings: Finding[] = [
    {
      status: "pass",
      text: before.branch
        ? `HEAD at ${short} on a branch (its name is in evidence).`
        : `Detached HEAD at ${short}.`,
      ...(before.branch ? { evidence: [`branch: ${before.branch}`] } : {}),
    },
  ];
  // Safety: the tests ran on the tree as it was when preflight started; a commit or checkout
  // during the run means the recorded sha is not what was tested.
  if (after.sha !== before.sha) {
    findings.push({
      status: "fail",
      text: `HEAD moved from ${short} to ${after.sha?.slice(0, 12) ?? "nothing"} while preflight ran.`,
      remedy: "Rerun preflight once nobody is committing or checking out in this repository.",
    });
  }
  const dirty = before.clean ? after : before;
  if (before.clean && after.clean) {
    findings.push({ status: "pass", text: "Working tree clean." });
  } else {
    const shown = dirty.dirtyFiles.slice(0, LISTED_DIRTY_FILES);
    const more = dirty.dirtyFiles.length - shown.length;
    const cause = before.clean
      ? "The test run left uncommitted changes"
      : `${dirty.dirtyFiles.length >= 50 ? "At least 50" : dirty.dirtyFiles.length} uncommitted file(s)`;
    findings.push({
      status: strict,
      // Safety: file names are written by anyone with access to the repo; they are evidence.
      text: shown.length
        ? `${cause} (listed in evidence${more > 0 ? `, ${more} more not listed` : ""}).`
        : `${cause} (git status failed).`,
      evidence: shown,
      remedy: before.clean
        ? "Add the files the tests generate to .gitignore, then rerun preflight."
        : `Commit or stash the changes, then rerun preflight${protectedEnv ? `: a deploy to "${envName}" ships exactly a committed, tested tree` : ""}.`,
    });
  }
  if (before.upstream === null) {
    findings.push({
      status: before.branch ? "warn" : "pass",
      text: before.branch
        ? "The branch tracks no upstream, so this commit may exist only on this machine."
        : "",
      remedy: "Push the branch (git push -u origin HEAD) so the deployed commit is shared.",
    });
  } else if ((before.unpushed ?? 0) > 0) {
    findings.push({
      status: "warn",
      text: `${before.unpushed} commit(s) not pushed to the upstream branch (named in evidence).`,
      evidence: [`upstream: ${before.upstream}`],
      remedy: "git push, so the deployed commit exists outside this machine.",
    });
  } else {
    findings.push({
      status: "pass",
      text: "In sync with the upstream branch (named in evidence).",
      evidence: [`upstream: ${before.upstream}`],
    });
  }
  return checkFromFindings(
    "git",
    findings.filter((f) => f.text),
  );
}
