import { createHash, type Hash } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import { lstat, readFile, readlink } from "node:fs/promises";
import { dirname, isAbsolute, join, parse, posix, relative, resolve, sep } from "node:path";
import pLimit from "p-limit";
import type { BackendConfig } from "../../config/schema.js";
import { DeployError, throwIfAborted } from "../../core/errors.js";
import { quote } from "../../core/quote.js";
import type { CommandRunner } from "../../core/run-command.js";
import { type BlobAlgorithm, HashCache, type HashCacheOpener } from "./hash-cache.js";
import { collectPackageFiles, type SourceFile } from "./package.js";

/**
 * The backend tree as git HEAD vouches for it: every source file the Lambda package would
 * hold must be tracked and byte-equal to HEAD (read from the object ids, so a change hidden
 * from `git status` by skip-worktree or assume-unchanged still counts); only the declared
 * dependency dirs (build output) may be untracked. The digest names exactly what would be
 * packaged, so the preflight and the deploy can check they saw the same tree.
 */

export type TreeProblemKind =
  | "not-a-git-repo"
  | "no-commit"
  | "untracked"
  | "not-committed"
  | "skip-worktree"
  | "assume-unchanged"
  | "unmerged"
  | "modified"
  | "mode-changed"
  | "link-outside";

export interface TreeProblem {
  kind: TreeProblemKind;
  /** Relative to the app root, posix separators. The repo's own text: quote() it before showing. */
  path: string;
  /** What to do, in the server's own words (never holds the path). */
  fix: string;
}

export interface PackagedTree {
  /** See `treeDigestOf`: HEAD plus every packaged (zip path, content SHA-256, mode). */
  digest: string;
  /** Sorted by path, then kind; empty when the package is exactly HEAD plus the dependency dirs. */
  problems: TreeProblem[];
  /** Files the package would hold (sources and dependency files). */
  files: number;
  /** The same digest over the dependency-dir files only (no HEAD). */
  dependencyDigest: string;
  /** The commit the sources were compared with; null outside a repo or before the first commit. */
  headSha: string | null;
}

export interface InspectPackagedTreeInput {
  appRoot: string;
  backend: BackendConfig;
  run: CommandRunner;
  signal?: AbortSignal | undefined;
  /**
   * Take digests from the user's hash cache where a file's stamp is unchanged, and remember
   * the ones read (hash-cache.ts). Default true; false reads every file.
   */
  hashCache?: boolean;
  /** Where the cache comes from when it is used (a call's walks share one: sharedHashCache). */
  openCache?: HashCacheOpener | undefined;
  /**
   * The dependency-dir files' digests from a package built of this very walk, when one is being
   * built anyway (deploy.ts packages beside this check): the packager hashes every file it zips,
   * so reading them a second time here would only compete with it. Dependency files are not
   * compared with git, only digested, and the digest is then that of exactly what ships. A
   * file missing from the package is hashed here as usual.
   */
  dependencyEntries?: Promise<ReadonlyMap<string, DigestEntry>> | undefined;
}

/** What a digest is computed from; `PackageEntry` has this shape too. */
export interface DigestEntry {
  /** Path inside the zip. */
  name: string;
  /** SHA-256 (hex) of the content. */
  sha256: string;
  executable: boolean;
}

const FIXES: Record<TreeProblemKind, string> = {
  "not-a-git-repo":
    "The backend is not inside a git repository, so what goes live cannot be tied to a commit: deploy from a git checkout with the backend committed.",
  "no-commit": "The repository has no commit yet: commit the backend first.",
  untracked:
    'The file is not tracked by git but would be packaged (a file ignored through .gitignore or .git/info/exclude still is when "backend.include" matches it): commit it, delete it, or exclude it under "backend.exclude". Only "backend.dependencyDirs" may hold untracked files.',
  "not-committed": "The file is staged but not in HEAD: commit it, or unstage and remove it.",
  "skip-worktree":
    "The file is marked skip-worktree, so git status hides its changes: run git update-index --no-skip-worktree on it, then commit or revert what git status shows.",
  "assume-unchanged":
    "The file is marked assume-unchanged, so git status hides its changes: run git update-index --no-assume-unchanged on it, then commit or revert what git status shows.",
  unmerged: "The file has an unresolved merge conflict: resolve it and commit.",
  modified:
    "The file's bytes differ from HEAD: commit the change or restore the file (git restore). If git status shows it clean, a .gitattributes filter or eol conversion changes its bytes on checkout, and the package would not hold the committed bytes.",
  "mode-changed":
    "The file's executable bit differs from HEAD: commit the mode change, or chmod the file back.",
  "link-outside":
    "A symlink on the file's path leads outside the backend dir, so git cannot vouch for what it points at: copy the target into the backend and commit it.",
};

/** Files hashed at once: enough to keep the thread pool busy, few enough to bound open files. */
const HASH_CONCURRENCY = 32;
/** Above this, a file is streamed rather than read whole. */
const LARGE_FILE_BYTES = 8 * 1024 * 1024;
/** Symlinks followed for one path before it counts as a loop. */
const MAX_LINK_HOPS = 40;
const GIT_ENV = { GIT_OPTIONAL_LOCKS: "0", LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" };

/**
 * Walks the files the package would hold (the package's own walk, so the same rules and
 * refusals: a DeployError for hard links, links out of the backend, a backend.dir outside the
 * app root) and checks the sources against git HEAD. Reads git twice (`ls-files -v`,
 * `ls-tree -r HEAD`) and hashes files in parallel — a file whose stamp the hash cache knows
 * is not read again; never writes to the repository.
 */
export async function inspectPackagedTree(input: InspectPackagedTreeInput): Promise<PackagedTree> {
  const { appRoot, backend, run, signal } = input;
  // A packaging failure is the packager's to report: the check then hashes as it would alone.
  // Handled before the first await, so an early failure is never an unhandled rejection.
  const packagedDependencies = input.dependencyEntries?.catch(() => null) ?? null;
  // Before the walk's stats: a file changed after this instant is not cached (hash-cache.ts).
  const startedAt = Date.now();
  const walk = await collectPackageFiles(appRoot, backend);
  throwIfAborted(signal);
  const prefix = toPosix(relative(resolve(appRoot), walk.backendDir));
  const [view, cache] = await Promise.all([
    readGitView(walk.realBackendDir, run, signal),
    input.hashCache === false
      ? HashCache.disabled()
      : (input.openCache?.(walk.realBackendDir) ??
        HashCache.open(walk.realBackendDir, { now: () => startedAt })),
  ]);
  const problems: TreeProblem[] = [];
  if (typeof view === "string") problems.push(problemAt(view, prefix || "."));
  const checker = new SourceChecker(walk.realBackendDir, typeof view === "string" ? null : view, cache);
  const limit = pLimit(HASH_CONCURRENCY);
  const checked = await Promise.all(
    walk.files.map((file) =>
      limit(async () => {
        throwIfAborted(signal);
        if (!file.dependency) return checker.check(file);
        const packaged = (await packagedDependencies)?.get(file.name);
        return { entry: packaged ?? (await hashEntry(file, null, cache)), problems: [] };
      }),
    ),
  );
  await cache.save();
  for (const c of checked)
    problems.push(...c.problems.map((p) => problemAt(p.kind, posix.join(prefix, p.path))));
  const entries = checked.map((c) => c.entry);
  const headSha = typeof view === "string" ? null : view.head;
  return {
    digest: treeDigestOf(headSha, entries),
    problems: sortProblems(problems),
    files: entries.length,
    dependencyDigest: dependencyDigestOf(entries.filter((_, i) => walk.files[i]?.dependency)),
    headSha,
  };
}

/**
 * sha256 (hex) over `vyaparai-tree-v1\0<HEAD sha>\0` followed, for every packaged file in zip
 * path order, by `<zip path>\0<content sha256 hex>\0<644|755>\0`. Timestamp-free and
 * independent of the walk's order, so the preflight, the deploy and a built package (its
 * entries) give the same digest for the same tree.
 */
export function treeDigestOf(headSha: string | null, entries: readonly DigestEntry[]): string {
  return digestOf(`vyaparai-tree-v1\0${headSha ?? ""}\0`, entries);
}

/** The same over the dependency-dir files only, without HEAD. */
export function dependencyDigestOf(entries: readonly DigestEntry[]): string {
  return digestOf("vyaparai-deps-v1\0", entries);
}

function digestOf(header: string, entries: readonly DigestEntry[]): string {
  const hash = createHash("sha256").update(header);
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    hash.update(`${e.name}\0${e.sha256}\0${e.executable ? "755" : "644"}\0`);
  }
  return hash.digest("hex");
}

/** Most problems a refusal lists; the count says how many there were. */
export const MAX_LISTED_TREE_PROBLEMS = 20;
const PATH_CHARS = 300;

/** How the refusal counts each kind of file problem, in the order it names them. */
const KIND_WORDS: Partial<Record<TreeProblemKind, string>> = {
  "skip-worktree": "hidden by skip-worktree",
  "assume-unchanged": "hidden by assume-unchanged",
  modified: "different from HEAD",
  "mode-changed": "with an executable bit different from HEAD",
  untracked: "untracked",
  "not-committed": "staged but not committed",
  unmerged: "unmerged",
  "link-outside": "reached through a symlink leaving the backend",
};

/** A tree that cannot be compared at all is said as such, not as a count of files. */
const WHOLE_TREE: Partial<Record<TreeProblemKind, string>> = {
  "not-a-git-repo":
    "The backend folder is not inside a git repository, so what goes live cannot be tied to a commit. Deploy from a git checkout with the backend committed.",
  "no-commit":
    "The backend's git repository has no commit yet, so what goes live cannot be tied to a commit. Commit the backend first.",
};

/**
 * The refusal for a tree with problems: the message in the server's own words (counts and
 * kinds), the files (the repo's text) only in `detail.treeProblems`, quoted and bounded.
 */
export function treeRefusal(tree: Pick<PackagedTree, "problems">): DeployError {
  const listed = tree.problems.slice(0, MAX_LISTED_TREE_PROBLEMS);
  return new DeployError("PRECONDITION", `${refusalWords(tree.problems)} Nothing was uploaded.`, {
    detail: {
      treeProblems: listed.map((p) => ({ kind: p.kind, path: quote(p.path, PATH_CHARS), fix: p.fix })),
      treeProblemCount: tree.problems.length,
      treeProblemsOmitted: tree.problems.length - listed.length,
    },
  });
}

function refusalWords(problems: TreeProblem[]): string {
  const whole = problems.map((p) => WHOLE_TREE[p.kind]).find((text) => text !== undefined);
  if (whole) return whole;
  const counts = Object.entries(KIND_WORDS)
    .map(([kind, words]) => [problems.filter((p) => p.kind === kind).length, words] as const)
    .filter(([n]) => n > 0)
    .map(([n, words]) => `${n} ${words}`);
  const files = new Set(problems.map((p) => p.path)).size;
  return `The backend package would not be exactly what git HEAD holds: ${files} file(s) (${counts.join(", ")}); each file and its fix is in detail.treeProblems. Commit or revert the changes so git status shows what would go live (only "backend.dependencyDirs" may be untracked), then deploy again.`;
}

function problemAt(kind: TreeProblemKind, path: string): TreeProblem {
  return { kind, path, fix: FIXES[kind] };
}

/** Sorted and without repeats (files behind one symlinked folder all name that link). */
function sortProblems(problems: TreeProblem[]): TreeProblem[] {
  const byKey = new Map(problems.map((p) => [`${p.path}\0${p.kind}`, p]));
  return [...byKey.keys()].sort().map((key) => byKey.get(key) as TreeProblem);
}

function toPosix(path: string): string {
  return path.split(sep).join("/");
}

/** HEAD's commit, the index flags and HEAD's blobs, all relative to the backend dir. */
interface GitView {
  head: string;
  /** Path → `git ls-files -v` tag (H, S, M; lowercase when assume-unchanged). */
  index: Map<string, string>;
  /** Path → HEAD's mode and object id. */
  tree: Map<string, { mode: string; id: string }>;
}

/**
 * One `ls-files` and one `ls-tree`, run in the backend dir so both list only its files,
 * relative to it; with -z no path is quoted. A folder outside a repo, or a repo without a
 * commit, is a problem kind rather than an error: the caller reports it like the others.
 */
async function readGitView(
  cwd: string,
  run: CommandRunner,
  signal: AbortSignal | undefined,
): Promise<GitView | "not-a-git-repo" | "no-commit"> {
  const git = (...args: string[]) => runGit(run, cwd, args, signal);
  const [inside, head, index, tree] = await Promise.all([
    git("rev-parse", "--is-inside-work-tree"),
    git("rev-parse", "--verify", "--quiet", "HEAD^{commit}"),
    git("ls-files", "-v", "-z"),
    git("ls-tree", "-r", "-z", "HEAD"),
  ]);
  throwIfAborted(signal);
  if (!inside.ok || inside.stdout.trim() !== "true") return "not-a-git-repo";
  if (!head.ok) return "no-commit";
  for (const [name, result] of [
    ["ls-files", index],
    ["ls-tree", tree],
  ] as const) {
    if (!result.ok) {
      throw new DeployError(
        "TOOL_FAILED",
        `git ${name} failed in the backend dir, so the backend cannot be checked against HEAD. Nothing was uploaded; git's output is in detail.output.`,
        { detail: { output: result.tail } },
      );
    }
  }
  return { head: head.stdout.trim(), index: parseLsFiles(index.stdout), tree: parseLsTree(tree.stdout) };
}

async function runGit(run: CommandRunner, cwd: string, args: string[], signal: AbortSignal | undefined) {
  try {
    const result = await run(["git", ...args], {
      cwd,
      env: GIT_ENV,
      signal,
      timeoutMs: 60_000,
      tailBytes: 2_000,
    });
    return { ok: result.exitCode === 0, stdout: result.stdout, tail: result.tail };
  } catch (error) {
    // The runner throws only when git cannot start at all (no git binary).
    throw new DeployError(
      "TOOL_FAILED",
      "git could not be run, so the backend cannot be checked against HEAD.",
      {
        cause: error,
      },
    );
  }
}

/** `<tag> <path>\0` per index entry. */
function parseLsFiles(output: string): Map<string, string> {
  const index = new Map<string, string>();
  for (const record of output.split("\0")) {
    if (record.length > 2) index.set(record.slice(2), record.charAt(0));
  }
  return index;
}

/** `<mode> <type> <id>\t<path>\0` per blob (and gitlink) of HEAD. */
function parseLsTree(output: string): Map<string, { mode: string; id: string }> {
  const tree = new Map<string, { mode: string; id: string }>();
  for (const record of output.split("\0")) {
    const tab = record.indexOf("\t");
    if (tab < 0) continue;
    const [mode, , id] = record.slice(0, tab).split(" ");
    if (mode && id) tree.set(record.slice(tab + 1), { mode, id });
  }
  return tree;
}

interface CheckedFile {
  entry: DigestEntry;
  /** Paths relative to the backend dir. */
  problems: Array<{ kind: TreeProblemKind; path: string }>;
}

interface LinkHop {
  /** The link's own path, relative to the backend dir. */
  path: string;
  /** What the link holds (its blob in git). */
  target: Buffer;
}

/** Checks source files (and every symlink on their way) against the index and HEAD. */
class SourceChecker {
  private readonly stats = new Map<string, Promise<Stats | null>>();
  private readonly links = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly root: string,
    private readonly git: GitView | null,
    private readonly cache: HashCache,
  ) {}

  async check(file: SourceFile): Promise<CheckedFile> {
    const git = this.git;
    const algorithm = git ? blobAlgorithm(git) : null;
    const entry = await hashEntry(file, algorithm, this.cache);
    if (!git) return { entry, problems: [] };
    const { real, hops } = await this.resolve(file.path);
    const problems = hops.flatMap((hop) =>
      compareWithHead(git, hop.path, blobId(algorithm, hop.target), "120000"),
    );
    if (real === null) problems.push({ kind: "link-outside", path: file.path });
    else
      problems.push(...compareWithHead(git, real, entry.blobId ?? "", file.executable ? "100755" : "100644"));
    return { entry, problems };
  }

  /**
   * Follows the path one component at a time from the backend dir, as the kernel would, and
   * names every symlink met: a committed link whose target changed, or an uncommitted link
   * in the middle of a chain, changes what ships as much as an edited file does.
   */
  private async resolve(path: string): Promise<{ real: string | null; hops: LinkHop[] }> {
    let dir = this.root;
    let parts = path.split("/");
    const hops: LinkHop[] = [];
    while (parts.length > 0) {
      const part = parts.shift() as string;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        dir = dirname(dir);
        continue;
      }
      const next = join(dir, part);
      if (!(await this.lstat(next))?.isSymbolicLink()) {
        dir = next;
        continue;
      }
      const linkPath = this.inside(next);
      if (linkPath === null || hops.length >= MAX_LINK_HOPS) return { real: null, hops };
      const target = await this.readlink(next);
      hops.push({ path: linkPath, target });
      const text = target.toString("utf8");
      if (isAbsolute(text)) dir = parse(text).root;
      parts = [...text.split(/[\\/]/), ...parts];
    }
    return { real: this.inside(dir), hops };
  }

  private inside(abs: string): string | null {
    const rel = relative(this.root, abs);
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return null;
    return toPosix(rel);
  }

  private lstat(path: string): Promise<Stats | null> {
    let pending = this.stats.get(path);
    if (!pending) {
      pending = lstat(path).catch(() => null);
      this.stats.set(path, pending);
    }
    return pending;
  }

  private readlink(path: string): Promise<Buffer> {
    let pending = this.links.get(path);
    if (!pending) {
      pending = readlink(path, { encoding: "buffer" });
      this.links.set(path, pending);
    }
    return pending;
  }
}

/** The index flags and HEAD's blob for one path, against the working copy's blob id and mode. */
function compareWithHead(
  git: GitView,
  path: string,
  workingId: string,
  workingMode: string,
): Array<{ kind: TreeProblemKind; path: string }> {
  const tag = git.index.get(path);
  if (tag === undefined) return [{ kind: "untracked", path }];
  const problems: Array<{ kind: TreeProblemKind; path: string }> = [];
  // `ls-files -v`: lowercase = assume-unchanged; S = skip-worktree; M = unmerged.
  if (tag !== tag.toUpperCase()) problems.push({ kind: "assume-unchanged", path });
  if (tag.toUpperCase() === "S") problems.push({ kind: "skip-worktree", path });
  if (tag.toUpperCase() === "M") problems.push({ kind: "unmerged", path });
  const head = git.tree.get(path);
  if (!head) problems.push({ kind: "not-committed", path });
  else if (head.id !== workingId || isLink(head.mode) !== isLink(workingMode))
    problems.push({ kind: "modified", path });
  else if (head.mode !== workingMode) problems.push({ kind: "mode-changed", path });
  return problems;
}

function isLink(mode: string): boolean {
  return mode === "120000";
}

/** Repositories in SHA-256 object format have 64-hex ids. */
function blobAlgorithm(git: GitView): BlobAlgorithm {
  return git.head.length === 64 ? "sha256" : "sha1";
}

function blobId(algorithm: BlobAlgorithm | null, content: Buffer): string {
  if (!algorithm) return "";
  return createHash(algorithm).update(`blob ${content.length}\0`).update(content).digest("hex");
}

/**
 * Reads a file once: its content SHA-256 for the digest and, for sources, git's blob id
 * (`<algorithm>("blob <size>\0" + bytes)`), computed here rather than by `git hash-object`
 * so no filter or eol conversion stands between the bytes that ship and the bytes compared.
 * A file whose stamp the cache knows (with that blob id) is not read at all.
 */
async function hashEntry(
  file: SourceFile,
  algorithm: BlobAlgorithm | null,
  cache: HashCache,
): Promise<DigestEntry & { blobId: string | null }> {
  const cached = cache.lookup(file.source, file.stamp, algorithm);
  if (cached) {
    return {
      name: file.name,
      sha256: cached.sha256,
      executable: file.executable,
      blobId: algorithm ? (cached.blob[algorithm] ?? null) : null,
    };
  }
  const content = createHash("sha256");
  const blob = algorithm ? createHash(algorithm).update(`blob ${file.size}\0`) : null;
  const read =
    file.size > LARGE_FILE_BYTES
      ? await streamInto(file.source, [content, blob])
      : await readInto(file.source, [content, blob]);
  if (read !== file.size) {
    throw new DeployError(
      "PRECONDITION",
      `A backend file changed while it was being checked against git (${file.size} bytes, then ${read}; the file is in detail.path). Retry once nothing writes into the backend folder. Nothing was uploaded.`,
      { detail: { path: quote(file.path, PATH_CHARS) } },
    );
  }
  const entry = {
    name: file.name,
    sha256: content.digest("hex"),
    executable: file.executable,
    blobId: blob ? blob.digest("hex") : null,
  };
  cache.record(file.source, file.stamp, {
    sha256: entry.sha256,
    blob: algorithm && entry.blobId ? { [algorithm]: entry.blobId } : {},
  });
  return entry;
}

async function readInto(path: string, hashes: Array<Hash | null>): Promise<number> {
  const bytes = await readFile(path);
  for (const h of hashes) h?.update(bytes);
  return bytes.length;
}

async function streamInto(path: string, hashes: Array<Hash | null>): Promise<number> {
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    size += (chunk as Buffer).length;
    for (const h of hashes) h?.update(chunk as Buffer);
  }
  return size;
}
