import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { invokeTool } from "../../src/server/invoke.js";
import { deployFrontendTool } from "../../src/tools/deploy-frontend.js";
import type { DeployFrontendOutput } from "../../src/tools/flows/deploy-frontend.js";
import { writeViteDist } from "../support/dist-fixture.js";
import { runGit } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { markPreflightPassed } from "../support/runtime.js";
import { createSite, deploy, getBytes, liveIndexIsWhole } from "./frontend-site.js";

const moto = useMoto();

/** Git with the test identity and no machine config (see git-fixtures). */
const git = runGit;

describe("deploy_frontend on a protected env", () => {
  it("plans and issues a token first, then deploys with it after a passing preflight", async () => {
    const site = await createSite(moto.current, { env: "prod" });
    const fixture = writeViteDist(site.distDir, { files: 40 });
    writeFileSync(join(site.appRoot, ".gitignore"), "frontend-pwa/dist/\n");
    git(site.appRoot, "init", "-q");
    git(site.appRoot, "add", "-A");
    git(site.appRoot, "commit", "-qm", "app");
    const head = git(site.appRoot, "rev-parse", "HEAD");

    const first = await deploy(site);
    expect(first.result.isError, first.result.text).toBe(false);
    expect(first.out).toMatchObject({ status: "confirmation_required", plan: { upload: 40, files: 40 } });
    expect(first.out.confirmationToken).toEqual(expect.any(String));
    const s3 = await moto.current.clients().s3();
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: site.bucket }));
    expect(listed.KeyCount ?? 0).toBe(0);

    // Without a passing preflight for HEAD the confirmed call is refused, and nothing changes.
    const refused = await deploy(site, { confirmationToken: first.out.confirmationToken });
    expect(refused.result.isError).toBe(true);
    expect(refused.result.text).toMatch(/Tests first/);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: site.bucket }))).KeyCount ?? 0).toBe(0);

    await markPreflightPassed(site.runtime, head, ["frontend"]);
    const again = await deploy(site);
    const confirmed = await deploy(site, { confirmationToken: again.out.confirmationToken });
    expect(confirmed.result.isError, confirmed.result.text).toBe(false);
    expect(confirmed.out.status).toBe("deployed");
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(fixture.files.get("index.html"));
    expect((await liveIndexIsWhole(site)).missing).toEqual([]);
  });
});

describe("the frontend build", () => {
  it("runs the build command in the frontend folder and deploys what it produced", async () => {
    const site = await createSite(moto.current, {
      buildCommand: `node -e "require('fs').mkdirSync('dist/assets',{recursive:true});require('fs').writeFileSync('dist/assets/app-abc123.js','console.log(1)');require('fs').writeFileSync('dist/index.html','<script type=module src=/assets/app-abc123.js></script>');console.log('vite built')"`,
    });
    execFileSync("mkdir", ["-p", join(site.appRoot, "frontend-pwa")]);
    const progress: string[] = [];
    const result = await invokeTool(deployFrontendTool, { env: "dev" }, site.runtime, {
      progress: (message) => progress.push(message),
    });
    const out = result.structured as unknown as DeployFrontendOutput;
    expect(result.isError, result.text).toBe(false);
    expect(out).toMatchObject({ status: "deployed", plan: { upload: 2 } });
    expect(progress.join("\n")).toMatch(/build: vite built/);
    expect((await getBytes(site, site.bucket, "assets/app-abc123.js")).toString()).toBe("console.log(1)");
  });

  it("reports a failed build with its output tail in its own field and uploads nothing", async () => {
    const site = await createSite(moto.current, {
      buildCommand: "sh build.sh",
    });
    execFileSync("mkdir", ["-p", join(site.appRoot, "frontend-pwa")]);
    writeFileSync(
      join(site.appRoot, "frontend-pwa", "build.sh"),
      "echo 'src/App.tsx(3,1): error TS2304: Cannot find name x'\nexit 2\n",
    );
    const result = await invokeTool(deployFrontendTool, { env: "dev" }, site.runtime);
    expect(result.isError).toBe(true);
    expect(result.structured.summary).toMatch(/frontend build .* exited with code 2; nothing was uploaded/);
    expect(result.structured.summary).not.toMatch(/TS2304/);
    expect(result.structured.buildOutputTail).toMatch(/error TS2304: Cannot find name x/);
    const s3 = await moto.current.clients().s3();
    expect((await s3.send(new ListObjectsV2Command({ Bucket: site.bucket }))).KeyCount ?? 0).toBe(0);
  });
});
