import { linkSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import type { FrontendManifest } from "../../src/deploy/frontend/diff.js";
import { listReleaseRecords } from "../../src/release/records.js";
import type { ToolCallResult } from "../../src/server/invoke.js";
import { type DistFixture, writeViteDist } from "../support/dist-fixture.js";
import { useMoto } from "../support/moto.js";
import { createSite, deploy, exists, getBytes, readAll, type Site, sha256 } from "./frontend-site.js";

/**
 * What goes live is the build's own files and nothing else: links and hard links out of dist/
 * and a build output outside the app root are refused with the bucket read back unchanged,
 * dotfiles stay home unless a rule allows them, and every PUT asks S3 to enforce the approved
 * SHA-256 (read back from the object). Rewrites between plan and upload: frontend-approved.test.ts.
 */
const moto = useMoto();

/** A file outside the app root whose bytes must never reach a bucket. */
function secretOutside(name: string, content: string): { dir: string; path: string; bytes: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), "vyaparai-outside-"));
  const path = join(dir, name);
  writeFileSync(path, content);
  return { dir, path, bytes: Buffer.from(content) };
}

/** Every object of the site and artifact buckets, for before/after comparisons. */
async function snapshot(site: Site): Promise<{ site: Map<string, Buffer>; artifacts: Map<string, Buffer> }> {
  return { site: await readAll(site, site.bucket), artifacts: await readAll(site, site.artifactBucket) };
}

function containsBytes(objects: Map<string, Buffer>, needle: Buffer): string[] {
  return [...objects].filter(([, bytes]) => bytes.includes(needle)).map(([key]) => key);
}

function expectRefusal(
  result: ToolCallResult,
  problem: string,
  path: string,
): { summary: string; unsafe: unknown[] } {
  expect(result.isError).toBe(true);
  const structured = result.structured as {
    summary: string;
    error: { code: string };
    unsafe: Array<{ path: string; problem: string }>;
  };
  expect(structured.error.code).toBe("PRECONDITION");
  expect(structured.unsafe).toContainEqual({ path, problem });
  // The message is the server's words only: no file name from the repo in it.
  expect(structured.summary).not.toContain(basename(path));
  return { summary: structured.summary, unsafe: structured.unsafe };
}

describe("deploy_frontend publishes nothing from outside dist/", () => {
  let site: Site;
  let live: DistFixture;

  beforeAll(async () => {
    site = await createSite(moto.current);
    live = writeViteDist(site.distDir, { files: 30 });
    const { result, out } = await deploy(site);
    expect(result.isError, result.text).toBe(false);
    expect(out.status).toBe("deployed");
  });

  it("refuses a symlink to a credentials file outside: bucket unchanged, its bytes in no object", async () => {
    const credentials = secretOutside(
      "credentials",
      "[default]\naws_session_note = vyaparai-outside-marker-1\n",
    );
    const before = await snapshot(site);
    writeViteDist(site.distDir, { files: 30, seed: "next-1" });
    symlinkSync(credentials.path, join(site.distDir, "assets/x.js.map"));
    const { result } = await deploy(site);
    const { summary } = expectRefusal(result, "link_outside", "assets/x.js.map");
    expect(summary).toMatch(/symlink\(s\) resolving outside the build output/);
    expect(summary).not.toContain(credentials.dir);
    const after = await snapshot(site);
    expect(after).toEqual(before);
    expect(after.site.get("index.html")).toEqual(live.files.get("index.html"));
    expect(containsBytes(after.site, credentials.bytes)).toEqual([]);
    expect(containsBytes(after.artifacts, credentials.bytes)).toEqual([]);
  });

  it("refuses a linked folder outside that holds .ssh/id_rsa, without reading it", async () => {
    const home = secretOutside("lib.js", "export const lib = 1;\n");
    mkdirSync(join(home.dir, ".ssh"));
    const key = Buffer.from("-----BEGIN OPENSSH PRIVATE KEY-----\nvyaparai-outside-marker-2\n");
    writeFileSync(join(home.dir, ".ssh/id_rsa"), key);
    const before = await snapshot(site);
    writeViteDist(site.distDir, { files: 30, seed: "next-2" });
    symlinkSync(home.dir, join(site.distDir, "assets/vendor"));
    const { result } = await deploy(site);
    expectRefusal(result, "link_outside", "assets/vendor");
    const after = await snapshot(site);
    expect(after).toEqual(before);
    expect(containsBytes(after.site, key)).toEqual([]);
    expect(containsBytes(after.site, home.bytes)).toEqual([]);
  });

  it("refuses a file with a second hard link, and says to copy the file", async () => {
    const secret = secretOutside("id_ed25519", "vyaparai-outside-marker-3 hard-linked key\n");
    const before = await snapshot(site);
    writeViteDist(site.distDir, { files: 30, seed: "next-3" });
    linkSync(secret.path, join(site.distDir, "assets/h.js"));
    const { result } = await deploy(site);
    const { summary } = expectRefusal(result, "hard_link", "assets/h.js");
    expect(summary).toMatch(/copy the file/);
    const after = await snapshot(site);
    expect(after).toEqual(before);
    expect(containsBytes(after.site, secret.bytes)).toEqual([]);
  });

  it("skips .env (reported in the plan) and publishes .well-known/assetlinks.json", async () => {
    const env = Buffer.from("VITE_API_KEY=vyaparai-outside-marker-4\n");
    const assetlinks = Buffer.from('[{"relation":["delegate_permission/common.handle_all_urls"]}]');
    const fixture = writeViteDist(site.distDir, { files: 30, seed: "next-4" });
    writeFileSync(join(site.distDir, ".env"), env);
    mkdirSync(join(site.distDir, ".well-known"));
    writeFileSync(join(site.distDir, ".well-known/assetlinks.json"), assetlinks);

    const planned = await deploy(site, { dryRun: true });
    expect(planned.out.plan).toMatchObject({ skippedDotfiles: 1, skippedDotfileList: [".env"] });
    expect(planned.out.summary).toMatch(/skip 1 dotfile\(s\) no frontend\.uploadDotfiles rule allows/);
    expect(planned.out.plan.uploadFiles).toContain(".well-known/assetlinks.json");

    const { result, out } = await deploy(site);
    expect(result.isError, result.text).toBe(false);
    expect(out.status).toBe("deployed");
    expect(out.plan).toMatchObject({ skippedDotfiles: 1, skippedDotfileList: [".env"] });
    expect(await getBytes(site, site.bucket, ".well-known/assetlinks.json")).toEqual(assetlinks);
    expect(await exists(site, site.bucket, ".env")).toBe(false);
    const objects = await readAll(site, site.bucket);
    expect(containsBytes(objects, env)).toEqual([]);
    expect(objects.get("index.html")).toEqual(fixture.files.get("index.html"));
    live = fixture;
  });

  it("sends every PUT with the approved SHA-256 as ChecksumSHA256, and each object carries it", async () => {
    const fixture = writeViteDist(site.distDir, { files: 30, seed: "next-5" });
    const { result, out } = await deploy(site);
    expect(result.isError, result.text).toBe(false);
    expect(out.status).toBe("deployed");
    const s3 = await moto.current.clients().s3();
    const [record] = await listReleaseRecords(s3, site.artifactBucket, "dev", "frontend", { limit: 1 });
    expect(record?.releaseId).toBe(out.releaseId);
    const approved = (record?.manifest ?? {}) as FrontendManifest;
    const puts = site.calls.filter((c) => c.command === "PutObjectCommand" && c.bucket === site.bucket);
    expect(puts.length).toBe(out.plan.upload);
    for (const put of puts) {
      const entry = approved[put.key as string];
      expect(put.checksumSha256, put.key).toBe(Buffer.from(entry?.sha256 ?? "", "hex").toString("base64"));
    }
    // Read back from moto: the object's checksum is the SHA-256 of its own bytes and of the approved file.
    for (const [key, content] of fixture.files) {
      const head = await s3.send(
        new HeadObjectCommand({ Bucket: site.bucket, Key: key, ChecksumMode: "ENABLED" }),
      );
      const bytes = await getBytes(site, site.bucket, key);
      const base64 = (hex: string) => Buffer.from(hex, "hex").toString("base64");
      expect(head.ChecksumSHA256, key).toBe(base64(sha256(bytes)));
      expect(head.ChecksumSHA256, key).toBe(base64(sha256(content)));
      expect(head.Metadata?.sha256, key).toBe(approved[key]?.sha256);
    }
  });
});

describe("the build output stays inside the app root", () => {
  it('refuses distDir "../<elsewhere>" naming frontend.distDir, and uploads nothing', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "vyaparai-elsewhere-"));
    writeViteDist(elsewhere, { files: 10 });
    const site = await createSite(moto.current, {
      config: { frontend: { buildCommand: null, dir: ".", distDir: `../${basename(elsewhere)}` } },
    });
    const { result } = await deploy(site);
    expect(result.isError).toBe(true);
    const structured = result.structured as { summary: string; error: { code: string }; key: string };
    expect(structured.error.code).toBe("PRECONDITION");
    expect(structured.summary).toMatch(
      /^frontend\.distDir in deploy\.config\.json resolves outside the app root/,
    );
    expect(structured.key).toBe("frontend.distDir");
    expect(structured.summary).not.toContain(basename(elsewhere));
    expect((await readAll(site, site.bucket)).size).toBe(0);
    expect((await readAll(site, site.artifactBucket)).size).toBe(0);
  });
});
