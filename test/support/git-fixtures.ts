import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/**
 * Real git repositories in temp dirs for tests. Git runs with no global or system config
 * (no signing, hooks or aliases from the developer's machine) and a fixed identity.
 *
 * Note: testRuntime({ appRoot: repo.dir }) writes deploy.config.json into the repo; call
 * `repo.commitAll()` afterwards when the test needs a clean tree.
 */
export interface GitFixture {
  readonly dir: string;
  /** Runs git in the repo and returns trimmed stdout. */
  git(...args: string[]): string;
  /** Writes a file (parent folders created), without staging it. */
  write(path: string, content: string): void;
  /** Stages everything and commits; returns the new HEAD sha. */
  commitAll(message?: string): string;
  /** Modifies (or creates) a file so the tree is dirty; returns its path. */
  dirty(path?: string): string;
  /** Creates a bare repo, adds it as `origin`, pushes the branch with upstream; returns its path. */
  addBareRemote(): string;
  head(): string;
}

const GIT_ENV: NodeJS.ProcessEnv = {
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "Test Author",
  GIT_AUTHOR_EMAIL: "author@example.test",
  GIT_COMMITTER_NAME: "Test Author",
  GIT_COMMITTER_EMAIL: "author@example.test",
  GIT_TERMINAL_PROMPT: "0",
};

export function runGit(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    env: { ...process.env, ...GIT_ENV },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

export interface CreateGitRepoOptions {
  /** Folder to init in; a fresh temp dir when omitted. */
  dir?: string;
  /** Files written before the first commit (default: a README). */
  files?: Record<string, string>;
  branch?: string;
  /** Make the first commit (default true). */
  commit?: boolean;
}

export function createGitRepo(options: CreateGitRepoOptions = {}): GitFixture {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "vyaparai-repo-"));
  const branch = options.branch ?? "main";
  runGit(dir, "init", "--quiet", `--initial-branch=${branch}`);
  runGit(dir, "config", "commit.gpgsign", "false");
  const fixture: GitFixture = {
    dir,
    git: (...args) => runGit(dir, ...args),
    write(path, content) {
      const full = join(dir, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    },
    commitAll(message = "change") {
      runGit(dir, "add", "-A");
      runGit(dir, "commit", "--quiet", "--allow-empty", "-m", message);
      return fixture.head();
    },
    dirty(path = "dirty.txt") {
      fixture.write(path, `changed ${Date.now()} ${Math.random()}\n`);
      return path;
    },
    addBareRemote() {
      const bare = mkdtempSync(join(tmpdir(), "vyaparai-remote-"));
      runGit(bare, "init", "--quiet", "--bare", `--initial-branch=${branch}`);
      runGit(dir, "remote", "add", "origin", bare);
      runGit(dir, "push", "--quiet", "-u", "origin", branch);
      return bare;
    },
    head: () => runGit(dir, "rev-parse", "HEAD"),
  };
  for (const [path, content] of Object.entries(options.files ?? { "README.md": "# app\n" })) {
    fixture.write(path, content);
  }
  if (options.commit ?? true) fixture.commitAll("initial");
  return fixture;
}
