import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCommand } from "../../src/core/run-command.js";
import { readGitState } from "../../src/release/git.js";
import { createGitRepo } from "../support/git-fixtures.js";

describe("readGitState on real repositories", () => {
  it("a folder outside any repository is isRepo false", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vyaparai-norepo-"));
    expect(await readGitState(dir, runCommand)).toEqual({
      isRepo: false,
      sha: null,
      branch: null,
      clean: false,
      dirtyFiles: [],
      upstream: null,
      unpushed: null,
    });
  });

  it("a missing folder is isRepo false, not an exception", async () => {
    const dir = join(tmpdir(), `vyaparai-missing-${process.pid}-${Date.now()}`);
    expect((await readGitState(dir, runCommand)).isRepo).toBe(false);
  });

  it("a repo without commits has no sha", async () => {
    const repo = createGitRepo({ commit: false });
    const state = await readGitState(repo.dir, runCommand);
    expect(state).toMatchObject({ isRepo: true, sha: null, branch: "main", clean: false });
    expect(state.dirtyFiles).toEqual(["README.md"]);
  });

  it("a clean committed tree", async () => {
    const repo = createGitRepo({ files: { "backend/app/main.py": "print(1)\n", "README.md": "x\n" } });
    const state = await readGitState(repo.dir, runCommand);
    expect(state).toEqual({
      isRepo: true,
      sha: repo.head(),
      branch: "main",
      clean: true,
      dirtyFiles: [],
      upstream: null,
      unpushed: null,
    });
    expect(state.sha).toMatch(/^[0-9a-f]{40}$/);
  });

  it("lists modified, untracked (inside new folders), staged and renamed files", async () => {
    const repo = createGitRepo({ files: { "a.txt": "a\n", "b.txt": "b\n", "c d.txt": "c\n" } });
    repo.write("a.txt", "changed\n");
    repo.write("new/deep/file.txt", "new\n");
    repo.write("staged.txt", "s\n");
    repo.git("add", "staged.txt");
    renameSync(join(repo.dir, "b.txt"), join(repo.dir, "renamed.txt"));
    repo.git("add", "-A", "b.txt", "renamed.txt");
    repo.write("c d.txt", "changed with a space\n");
    const state = await readGitState(repo.dir, runCommand);
    expect(state.clean).toBe(false);
    expect([...state.dirtyFiles].sort()).toEqual(
      ["a.txt", "c d.txt", "new/deep/file.txt", "renamed.txt", "staged.txt"].sort(),
    );
  });

  it("ignored files keep the tree clean; a subfolder reads the same repo", async () => {
    const repo = createGitRepo({ files: { ".gitignore": "dist/\n", "frontend/index.html": "<p>\n" } });
    repo.write("dist/app.js", "built\n");
    const state = await readGitState(join(repo.dir, "frontend"), runCommand);
    expect(state).toMatchObject({ isRepo: true, clean: true, sha: repo.head() });
  });

  it("detached HEAD has no branch", async () => {
    const repo = createGitRepo();
    repo.commitAll("second");
    repo.git("checkout", "--quiet", "--detach", "HEAD~1");
    const state = await readGitState(repo.dir, runCommand);
    expect(state.branch).toBeNull();
    expect(state.sha).toBe(repo.head());
  });

  it("upstream and unpushed commits against a bare remote", async () => {
    const repo = createGitRepo();
    repo.addBareRemote();
    expect(await readGitState(repo.dir, runCommand)).toMatchObject({ upstream: "origin/main", unpushed: 0 });
    repo.commitAll("one");
    repo.commitAll("two");
    expect(await readGitState(repo.dir, runCommand)).toMatchObject({ upstream: "origin/main", unpushed: 2 });
    repo.git("push", "--quiet");
    expect((await readGitState(repo.dir, runCommand)).unpushed).toBe(0);
  });

  it("does not take .git/index.lock while reading", async () => {
    const repo = createGitRepo();
    repo.write("README.md", "changed\n");
    // A lock held by another git process must not make the read fail or look clean.
    const lock = join(repo.dir, ".git", "index.lock");
    writeFileSync(lock, "");
    try {
      const state = await readGitState(repo.dir, runCommand);
      expect(state).toMatchObject({ isRepo: true, clean: false, dirtyFiles: ["README.md"] });
    } finally {
      rmSync(lock);
    }
  });
});
