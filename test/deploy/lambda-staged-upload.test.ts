import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalHealthServer, startHealthServer } from "../../src/demo/health-server.js";
import { artifactKeyForCodeSha256 } from "../../src/deploy/lambda/artifact.js";
import { RACY_MARGIN_MS } from "../../src/deploy/lambda/hash-cache.js";
import { STAGE_ABOVE_UNZIPPED_BYTES } from "../../src/deploy/lambda/staged-upload.js";
import { putLiveArtifact, zipOf } from "../../src/emulator/seed.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { faultRuntime } from "../faults/lambda-fault-support.js";
import { createBucket, createTestFunction } from "../support/aws-fixtures.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { useFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";
import { INITIAL_FILES, liveCodeSha256 } from "./lambda-support.js";

/**
 * A package above STAGE_ABOVE_UNZIPPED_BYTES goes up while it is zipped, to a staging key; the
 * release deploys from it and copies it to its content address beside the switch. Every verdict is read back from moto: the code
 * Lambda serves, the bytes stored under the content address, what is left under staging/.
 */
const moto = useMoto();
const proxy = useFaultProxy(moto);
const BUCKET = `vyaparai-artifacts-staged-${process.pid}`;
let health: LocalHealthServer;

beforeAll(async () => {
  health = await startHealthServer();
  await createBucket(await moto.current.clients().s3(), BUCKET);
});
afterAll(async () => {
  await health?.close();
});

let counter = 0;

/** A function with its first code, and an app whose backend is just above the staging size. */
async function scenario(options: { now?: () => Date } = {}) {
  const n = ++counter;
  const functionName = `vyaparai-api-staged-${n}`;
  const prefix = `backend/staged-${n}/`;
  const lambda = await moto.current.clients().lambda();
  const initial = await createTestFunction(moto.current, lambda, {
    name: functionName,
    files: INITIAL_FILES,
  });
  const { appRoot } = writeBackendFixture({ commit: true });
  // Random bytes do not deflate: the zip stays above the multipart size (three parts).
  mkdirSync(join(appRoot, "backend/lambda_deps/blob"), { recursive: true });
  writeFileSync(
    join(appRoot, "backend/lambda_deps/blob/data.bin"),
    randomBytes(STAGE_ABOVE_UNZIPPED_BYTES + 1024 * 1024),
  );
  const runtime = faultRuntime({
    proxy: proxy.current,
    appRoot,
    env: {
      envName: "dev",
      functionName,
      alias: null,
      bucket: BUCKET,
      prefix,
      healthUrl: health.url,
    },
    ...(options.now ? { now: options.now } : {}),
  });
  const mark = proxy.current.log.length;
  return {
    functionName,
    prefix,
    initial,
    runtime,
    deploy: (args: Record<string, unknown> = {}) =>
      invokeTool(deployLambdaTool, { env: "dev", ...args }, runtime),
    /** S3 operations on keys under `under` since the scenario began. */
    operations: (under: string) =>
      proxy.current.log
        .slice(mark)
        .filter((r) => r.key?.startsWith(under))
        .map((r) => r.operation),
  };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key as string);
}

async function openUploadsUnder(prefix: string): Promise<number> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
  return out.Uploads?.length ?? 0;
}

/** The CodeSha256 (base64 SHA-256) of the object stored under key, or null when there is none. */
async function storedCodeSha256(key: string): Promise<string | null> {
  const s3 = await moto.current.clients().s3();
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const bytes = await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    return createHash("sha256").update(bytes).digest("base64");
  } catch {
    return null;
  }
}

describe("deploy_lambda: a large package goes up while it is zipped", () => {
  it("stages the zip while packaging, deploys exactly it, and copies it to its content address", async () => {
    const s = await scenario();
    const answer = await s.deploy();
    expect(answer.structured.status, answer.text).toBe("deployed");
    const codeSha256 = answer.structured.codeSha256 as string;
    const lambda = await moto.current.clients().lambda();
    expect(await liveCodeSha256(lambda, s.functionName)).toBe(codeSha256);
    expect(codeSha256).not.toBe(s.initial.codeSha256);
    const artifactKey = artifactKeyForCodeSha256(s.prefix, codeSha256);
    // The stored bytes are the deployed code, byte for byte.
    expect(await storedCodeSha256(artifactKey)).toBe(codeSha256);
    // The upload went to a staging key in parts, and only a copy wrote the content address.
    const staged = s.operations(`${s.prefix}staging/`);
    expect(staged.filter((op) => op === "UploadPart").length).toBeGreaterThanOrEqual(2);
    expect(staged).toContain("CompleteMultipartUpload");
    expect(s.operations(artifactKey)).toContain("CopyObject");
    expect(s.operations(artifactKey)).not.toContain("UploadPart");
    expect(s.operations(artifactKey)).not.toContain("PutObject");
    // Nothing is left behind under staging/.
    expect(await keysUnder(`${s.prefix}staging/`)).toEqual([]);
    expect(await openUploadsUnder(`${s.prefix}staging/`)).toBe(0);
    s.runtime.close();
  });

  it("deploys of the same tree after it send nothing up: the hash cache answers, nothing is zipped or staged", async () => {
    const s = await scenario();
    // Files younger than the racy-stamp margin are never cached (hash-cache.ts): let it pass.
    await new Promise((resolve) => setTimeout(resolve, RACY_MARGIN_MS + 200));
    const first = await s.deploy();
    expect(first.structured.status, first.text).toBe("deployed");
    const mark = proxy.current.log.length;
    for (let i = 0; i < 3; i++) {
      const again = await s.deploy();
      expect(again.structured.status, again.text).toBe("unchanged");
    }
    const writes = proxy.current.log
      .slice(mark)
      .filter((r) => r.service === "s3" && (r.method === "PUT" || r.method === "POST"));
    expect(writes.map((r) => `${r.operation} ${r.key}`)).toEqual([]);
    s.runtime.close();
  });

  it("a dry run stages nothing", async () => {
    const s = await scenario();
    const answer = await s.deploy({ dryRun: true });
    expect(answer.structured.status, answer.text).toBe("planned");
    expect(s.operations(`${s.prefix}staging/`)).toEqual([]);
    expect(await keysUnder(s.prefix)).toEqual([]);
    s.runtime.close();
  });

  it("a staged upload that fails falls back to uploading the package file, and still deploys exactly it", async () => {
    const s = await scenario();
    const rule = proxy.current.add({
      match: { operation: "UploadPart", key: new RegExp(`^${s.prefix}staging/`) },
      action: { kind: "fail", status: 500, code: "InternalError" },
    });
    try {
      const answer = await s.deploy();
      expect(answer.structured.status, answer.text).toBe("deployed");
      const codeSha256 = answer.structured.codeSha256 as string;
      const lambda = await moto.current.clients().lambda();
      expect(await liveCodeSha256(lambda, s.functionName)).toBe(codeSha256);
      const artifactKey = artifactKeyForCodeSha256(s.prefix, codeSha256);
      expect(await storedCodeSha256(artifactKey)).toBe(codeSha256);
      expect(s.operations(artifactKey)).toContain("UploadPart");
      expect(s.operations(artifactKey)).not.toContain("CopyObject");
      expect(await keysUnder(`${s.prefix}staging/`)).toEqual([]);
      expect(await openUploadsUnder(`${s.prefix}staging/`)).toBe(0);
    } finally {
      rule.remove();
      s.runtime.close();
    }
  });

  it("a copy whose answer is lost is sent again (the same staged object, by its ETag) and deploys exactly the package", async () => {
    const s = await scenario();
    const rule = proxy.current.add({
      match: { operation: "CopyObject", key: new RegExp(`^${s.prefix}`) },
      action: { kind: "drop-answer" },
      times: 1,
    });
    try {
      const answer = await s.deploy();
      expect(rule.hits).toBe(1);
      expect(answer.structured.status, answer.text).toBe("deployed");
      const codeSha256 = answer.structured.codeSha256 as string;
      const lambda = await moto.current.clients().lambda();
      expect(await liveCodeSha256(lambda, s.functionName)).toBe(codeSha256);
      const artifactKey = artifactKeyForCodeSha256(s.prefix, codeSha256);
      expect(s.operations(artifactKey).filter((op) => op === "CopyObject").length).toBe(2);
      expect(await storedCodeSha256(artifactKey)).toBe(codeSha256);
      expect(await keysUnder(`${s.prefix}staging/`)).toEqual([]);
    } finally {
      rule.remove();
      s.runtime.close();
    }
  });

  it("a copy that fails is replaced by an upload of the package file: the content address holds exactly the live code", async () => {
    const s = await scenario();
    const rule = proxy.current.add({
      match: { operation: "CopyObject", key: new RegExp(`^${s.prefix}`) },
      action: { kind: "fail", status: 403, code: "AccessDenied" },
    });
    try {
      const answer = await s.deploy();
      expect(rule.hits).toBeGreaterThanOrEqual(1);
      expect(answer.structured.status, answer.text).toBe("deployed");
      const codeSha256 = answer.structured.codeSha256 as string;
      const lambda = await moto.current.clients().lambda();
      expect(await liveCodeSha256(lambda, s.functionName)).toBe(codeSha256);
      const artifactKey = artifactKeyForCodeSha256(s.prefix, codeSha256);
      expect(await storedCodeSha256(artifactKey)).toBe(codeSha256);
      expect(s.operations(artifactKey)).toContain("CompleteMultipartUpload");
      expect(await keysUnder(`${s.prefix}staging/`)).toEqual([]);
      expect(await openUploadsUnder(`${s.prefix}staging/`)).toBe(0);
    } finally {
      rule.remove();
      s.runtime.close();
    }
  });

  it("a copy and a file upload that both fail fail the release: its undo puts the code live before back", async () => {
    const s = await scenario();
    // The way back: the code live now, stored at its content address (the undo restores from it).
    const wayBack = await putLiveArtifact(
      await moto.current.clients().s3(),
      { bucket: BUCKET, prefix: s.prefix },
      await zipOf(INITIAL_FILES),
    );
    expect(wayBack).toBe(artifactKeyForCodeSha256(s.prefix, s.initial.codeSha256));
    const rules = [
      proxy.current.add({
        match: { operation: "CopyObject", key: new RegExp(`^${s.prefix}`) },
        action: { kind: "fail", status: 403, code: "AccessDenied" },
      }),
      // The file upload (multipart for a package this size, or one PUT) to the content address.
      ...(["CreateMultipartUpload", "PutObject"] as const).map((operation) =>
        proxy.current.add({
          match: { operation, key: new RegExp(`^${s.prefix}[0-9a-f]{64}\\.zip$`) },
          action: { kind: "fail", status: 403, code: "AccessDenied" },
        }),
      ),
    ];
    try {
      const answer = await s.deploy();
      expect(answer.isError).toBe(true);
      expect(answer.structured.status, answer.text).toBe("rolled_back");
      const lambda = await moto.current.clients().lambda();
      // The switch happened ($LATEST mode) and was undone: the code live before serves again.
      expect(
        proxy.current.count({ path: `/2015-03-31/functions/${s.functionName}/code` }),
      ).toBeGreaterThanOrEqual(2);
      expect(await liveCodeSha256(lambda, s.functionName)).toBe(s.initial.codeSha256);
      const codeSha256 = answer.structured.codeSha256 as string;
      expect(await storedCodeSha256(artifactKeyForCodeSha256(s.prefix, codeSha256))).toBeNull();
      expect(await keysUnder(`${s.prefix}staging/`)).toEqual([]);
      expect(await openUploadsUnder(`${s.prefix}staging/`)).toBe(0);
    } finally {
      for (const rule of rules) rule.remove();
      s.runtime.close();
    }
  });

  describe("what a killed process left under staging/", () => {
    /** An abandoned multipart upload and a staged object, as a process killed mid-stage leaves them. */
    async function leaveBehind(prefix: string) {
      const s3 = await moto.current.clients().s3();
      await s3.send(
        new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${prefix}staging/killed-mid-upload.zip` }),
      );
      await s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}staging/killed-before-copy.zip`, Body: "zip" }),
      );
    }

    it("a staged object under an hour old is kept: it could still belong to a running call", async () => {
      const s = await scenario();
      await leaveBehind(s.prefix);
      const answer = await s.deploy();
      expect(answer.structured.status, answer.text).toBe("deployed");
      expect(await keysUnder(`${s.prefix}staging/`)).toEqual([`${s.prefix}staging/killed-before-copy.zip`]);
      // Not checked for the multipart upload: moto's ListMultipartUploads reports every upload
      // as initiated on 2010-11-10, so on moto any abandoned upload is old enough to go.
      s.runtime.close();
    });

    it("is reclaimed by the next call that stages, once older than an hour; that call's own upload is not", async () => {
      // The runtime's clock two hours on: what moto stamped now is two hours old to the sweep.
      const s = await scenario({ now: () => new Date(Date.now() + 2 * 60 * 60 * 1000) });
      await leaveBehind(s.prefix);
      const answer = await s.deploy();
      expect(answer.structured.status, answer.text).toBe("deployed");
      expect(s.operations(`${s.prefix}staging/killed-mid-upload.zip`)).toContain("AbortMultipartUpload");
      expect(await keysUnder(`${s.prefix}staging/`)).toEqual([]);
      expect(await openUploadsUnder(`${s.prefix}staging/`)).toBe(0);
      // The call's own staged upload was copied, not swept: the content address holds the code.
      const codeSha256 = answer.structured.codeSha256 as string;
      const artifactKey = artifactKeyForCodeSha256(s.prefix, codeSha256);
      expect(s.operations(artifactKey)).toContain("CopyObject");
      expect(await storedCodeSha256(artifactKey)).toBe(codeSha256);
      s.runtime.close();
    });
  });
});
