import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HeadObjectCommand, ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import type { ApprovalAnswer } from "../../src/core/context.js";
import { SINGLE_PUT_LIMIT } from "../../src/deploy/frontend/sync.js";
import { listReleaseRecords } from "../../src/release/records.js";
import { type DistFixture, writeViteDist } from "../support/dist-fixture.js";
import { runGit } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { markPreflightPassed } from "../support/runtime.js";
import { createSite, deploy, getBytes, type Site, sha256 } from "./frontend-site.js";

/**
 * The bytes that go live are the bytes the person approved: a file rewritten while they were
 * being asked (the confirmed call has hashed dist/ already) stops the release at upload, with
 * the previous release still live, read back from moto.
 */
const moto = useMoto();

/** Above the single-PUT limit, so it goes through lib-storage's multipart upload. */
const BIG_KEY = "media/intro.bin";
const BIG_BYTES = SINGLE_PUT_LIMIT + 3 * 1024 * 1024;
/** lib-storage's default part size: the composite checksum is over parts of this size. */
const PART_BYTES = 5 * 1024 * 1024;

/** Git with the test identity and no machine config (see git-fixtures). */
const git = runGit;

/** A build with a large media file whose every byte is `fill` (distinct per build). */
function writeBuild(site: Site, seed: string, fill: number): { fixture: DistFixture; big: Buffer } {
  const fixture = writeViteDist(site.distDir, { files: 20, seed });
  const big = Buffer.alloc(BIG_BYTES, fill);
  writeBig(site, big);
  return { fixture, big };
}

function writeBig(site: Site, big: Buffer): void {
  mkdirSync(join(site.distDir, "media"), { recursive: true });
  writeFileSync(join(site.distDir, BIG_KEY), big);
}

/** S3's composite SHA-256 of a multipart object: the SHA-256 of its parts' SHA-256 digests. */
function compositeSha256(bytes: Buffer): string {
  const digests: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += PART_BYTES)
    digests.push(
      createHash("sha256")
        .update(bytes.subarray(start, start + PART_BYTES))
        .digest(),
    );
  return createHash("sha256").update(Buffer.concat(digests)).digest("base64");
}

/** Plan (token), then the confirmed call, during whose approval `whileAsked` runs. */
async function deployApproved(site: Site, whileAsked: () => void = () => {}) {
  const planned = await deploy(site);
  expect(planned.out.status, planned.result.text).toBe("confirmation_required");
  let asked = 0;
  const confirmed = await deploy(
    site,
    { confirmationToken: planned.out.confirmationToken },
    {
      askPerson: async (): Promise<ApprovalAnswer> => {
        asked++;
        whileAsked();
        return "accept";
      },
    },
  );
  expect(asked).toBe(1);
  return confirmed;
}

async function openMultipartUploads(site: Site): Promise<number> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListMultipartUploadsCommand({ Bucket: site.bucket }));
  return out.Uploads?.length ?? 0;
}

describe("deploy_frontend uploads only the approved bytes", () => {
  let site: Site;
  let live: { fixture: DistFixture; big: Buffer };

  beforeAll(async () => {
    site = await createSite(moto.current, { env: "prod" });
    writeFileSync(join(site.appRoot, ".gitignore"), "frontend-pwa/dist/\n");
    git(site.appRoot, "init", "-q");
    git(site.appRoot, "add", "-A");
    git(site.appRoot, "commit", "-qm", "app");
    await markPreflightPassed(site.runtime, git(site.appRoot, "rev-parse", "HEAD"), ["frontend"]);
  });

  it("an honest approved deploy puts the large file by multipart, with per-part SHA-256 checksums", async () => {
    live = writeBuild(site, "release-a", 1);
    const { result, out } = await deployApproved(site);
    expect(result.isError, result.text).toBe(false);
    expect(out.status).toBe("deployed");
    expect(site.calls.some((c) => c.command === "CreateMultipartUploadCommand" && c.key === BIG_KEY)).toBe(
      true,
    );
    expect(sha256(await getBytes(site, site.bucket, BIG_KEY))).toBe(sha256(live.big));
    const s3 = await moto.current.clients().s3();
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: site.bucket, Key: BIG_KEY, ChecksumMode: "ENABLED" }),
    );
    // S3 keeps a composite "<sha256 of part digests>-<parts>"; moto's answer may leave out the count.
    expect(head.ChecksumSHA256?.replace(/-\d+$/, "")).toBe(compositeSha256(live.big));
    expect(head.Metadata?.sha256).toBe(sha256(live.big));
  });

  it("a large file rewritten during the approval fails the release at upload; the previous release stays live", async () => {
    const next = writeBuild(site, "release-b", 2);
    const rewritten = Buffer.alloc(BIG_BYTES, 3);
    const { result, out } = await deployApproved(site, () => writeBig(site, rewritten));
    expect(result.isError).toBe(true);
    expect(out.status).toBe("failed");
    expect(out.failure).toMatch(/^upload-assets: A file of the build changed after the plan was made/);
    expect(out.summary).not.toContain("intro.bin");
    expect(out.failure).not.toContain("intro.bin");
    expect(out.live?.entryPoints).toBe("previous");
    // Read back: the previous index.html and large file, neither the approved nor the rewritten bytes.
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(live.fixture.files.get("index.html"));
    expect(await getBytes(site, site.bucket, "index.html")).not.toEqual(next.fixture.files.get("index.html"));
    const served = sha256(await getBytes(site, site.bucket, BIG_KEY));
    expect(served).toBe(sha256(live.big));
    expect(served).not.toBe(sha256(rewritten));
    // The multipart upload of the rewritten bytes was never completed, and not left open either.
    expect(await openMultipartUploads(site)).toBe(0);
    expect(site.calls.filter((c) => c.key === "index.html" && c.command === "PutObjectCommand")).toEqual([]);
    const s3 = await moto.current.clients().s3();
    const [record] = await listReleaseRecords(s3, site.artifactBucket, "prod", "frontend", { limit: 1 });
    expect(record).toMatchObject({ releaseId: out.releaseId, status: "failed", after: { switched: false } });
  });

  it("an index.html rewritten during the approval stops the release before any upload", async () => {
    const next = writeBuild(site, "release-c", 4);
    const { result, out } = await deployApproved(site, () =>
      writeFileSync(join(site.distDir, "index.html"), "<!doctype html><script src=/evil.js></script>"),
    );
    expect(result.isError).toBe(true);
    expect(out.status).toBe("failed");
    expect(out.failure).toMatch(/^check-release: A file of the build changed after the plan was made/);
    expect(out.live?.entryPoints).toBe("previous");
    expect(
      site.calls.filter((c) => c.bucket === site.bucket && /Put|Copy|Multipart/.test(c.command)),
    ).toEqual([]);
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(live.fixture.files.get("index.html"));
    expect(sha256(await getBytes(site, site.bucket, BIG_KEY))).toBe(sha256(live.big));

    // Planned and approved again as it now is, the build goes live byte for byte.
    writeFileSync(join(site.distDir, "index.html"), next.fixture.files.get("index.html") as Buffer);
    const honest = await deployApproved(site);
    expect(honest.result.isError, honest.result.text).toBe(false);
    expect(honest.out.status).toBe("deployed");
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(next.fixture.files.get("index.html"));
    expect(sha256(await getBytes(site, site.bucket, BIG_KEY))).toBe(sha256(next.big));
  });
});
