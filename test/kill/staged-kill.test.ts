import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import { ListMultipartUploadsCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalHealthServer, startHealthServer } from "../../src/demo/health-server.js";
import { artifactKeyForCodeSha256 } from "../../src/deploy/lambda/artifact.js";
import { STAGE_ABOVE_UNZIPPED_BYTES } from "../../src/deploy/lambda/staged-upload.js";
import {
  createBucket,
  createFunction,
  createLambdaRole,
  putLiveArtifact,
  zipOf,
} from "../../src/emulator/seed.js";
import { useFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";
import {
  ARTIFACT_BUCKET,
  callAndKill,
  envConfigFor,
  exists,
  listKeys,
  liveCode,
  makeApp,
  readLock,
  readRecords,
  removeApps,
  type Server,
  startServer,
  waitForLockExpiry,
} from "./kill-support.js";

/**
 * The built server SIGKILLed while a large package goes up as it is zipped (its first staged
 * part held at the proxy): nothing of the release exists yet — no lock, no record, the code
 * live before still serves — and what is left is an incomplete upload under staging/, which
 * never goes live. A new server then deploys the same tree. And killed after the switch from
 * the staged object while its copy to the content address was still on its way: the next
 * server settles the release (the new code stays, healthy) and keeps what the copy did not.
 * Read back from moto.
 */
const moto = useMoto();
const proxy = useFaultProxy(moto);
let s3: S3Client;
let lambda: LambdaClient;
let role: string;
let health: LocalHealthServer;

beforeAll(async () => {
  const clients = moto.current.clients();
  s3 = await clients.s3();
  lambda = await clients.lambda();
  await createBucket(s3, ARTIFACT_BUCKET);
  role = await createLambdaRole(moto.current.endpoint, `vyaparai-staged-kill-role-${process.pid}`);
  health = await startHealthServer();
}, 60_000);

afterAll(async () => {
  await health?.close();
  removeApps();
});

/** A function with its code stored at its content address, and an app whose package is staged. */
async function stagedApp(env: string, fn: string) {
  const prefix = `backend/${env}/`;
  const zip = await zipOf({ "lambda_handler.py": `# ${fn}\ndef handler(e, c):\n    return 1\n` });
  const previous = await createFunction(lambda, { name: fn, role, code: { ZipFile: zip } });
  await putLiveArtifact(s3, { bucket: ARTIFACT_BUCKET, prefix }, zip);
  await createBucket(s3, `kill-staged-unused-${env}`);
  const app = makeApp(
    env,
    envConfigFor({
      functionName: fn,
      siteBucket: `kill-staged-unused-${env}`,
      healthUrl: health.url,
      prefix,
    }),
  );
  // Random bytes do not deflate: the package is staged, in several parts.
  mkdirSync(join(app, "backend/lambda_deps/blob"), { recursive: true });
  writeFileSync(
    join(app, "backend/lambda_deps/blob/data.bin"),
    randomBytes(STAGE_ABOVE_UNZIPPED_BYTES + 1024 * 1024),
  );
  return { prefix, previous, app };
}

describe("deploy_lambda killed while its package is staged", () => {
  it("leaves the previous code live, no lock and no record; the next server deploys", async () => {
    const env = "ks-1";
    const fn = "kill-staged-fn";
    const { prefix, previous, app } = await stagedApp(env, fn);

    const servers: Server[] = [];
    try {
      const first = await startServer(app, proxy.current.endpoint);
      servers.push(first);
      const held = proxy.current.add({
        match: { service: "s3", operation: "UploadPart", key: new RegExp(`^${prefix}staging/`) },
        action: { kind: "hang" },
        times: 1,
      });
      await callAndKill(first, "deploy_lambda", { env }, { rule: held });
      held.remove();

      expect((await liveCode(lambda, fn, null)).codeSha256).toBe(previous.codeSha256);
      expect(await readLock(s3, env)).toBeNull();
      expect(await readRecords(s3, env, "lambda")).toEqual([]);
      // Only the previous code's artifact is stored; the staged upload is incomplete, never an object.
      expect(await listKeys(s3, ARTIFACT_BUCKET, prefix)).toEqual([
        artifactKeyForCodeSha256(prefix, previous.codeSha256),
      ]);
      const open = await s3.send(
        new ListMultipartUploadsCommand({ Bucket: ARTIFACT_BUCKET, Prefix: `${prefix}staging/` }),
      );
      expect(open.Uploads?.length).toBe(1);

      const second = await startServer(app, proxy.current.endpoint);
      servers.push(second);
      const answer = await second.call("deploy_lambda", { env });
      expect(answer.s.status, answer.text).toBe("deployed");
      const next = answer.s.codeSha256 as string;
      expect((await liveCode(lambda, fn, null)).codeSha256).toBe(next);
      expect(await exists(s3, ARTIFACT_BUCKET, artifactKeyForCodeSha256(prefix, next))).toBe(true);
      expect(await readLock(s3, env)).toBeNull();
    } finally {
      for (const server of servers) await server.close();
    }
  }, 120_000);

  it("killed after the switch, its copy unfinished: the next server keeps the healthy new code; the way back stays stored", async () => {
    const env = "ks-2";
    const fn = "kill-staged-copy-fn";
    const { prefix, previous, app } = await stagedApp(env, fn);
    const servers: Server[] = [];
    try {
      const first = await startServer(app, proxy.current.endpoint);
      servers.push(first);
      // The copy never arrives; the process dies once the version is being published.
      const copy = proxy.current.add({
        match: { service: "s3", operation: "CopyObject", key: new RegExp(`^${prefix}[0-9a-f]{64}\\.zip$`) },
        action: { kind: "hang" },
      });
      const publish = proxy.current.add({
        match: { service: "lambda", operation: "PublishVersion", path: new RegExp(`/functions/${fn}/`) },
        action: { kind: "hang" },
        times: 1,
      });
      await callAndKill(first, "deploy_lambda", { env }, { rule: publish });
      expect(copy.hits).toBe(1);
      copy.remove();
      publish.remove();

      // $LATEST mode: the switch happened, from the staged object.
      const live = (await liveCode(lambda, fn, null)).codeSha256;
      expect(live).not.toBe(previous.codeSha256);
      const nextKey = artifactKeyForCodeSha256(prefix, live);
      expect(await exists(s3, ARTIFACT_BUCKET, nextKey)).toBe(false);
      const [killed] = await readRecords(s3, env, "lambda");
      expect(killed?.status).toBe("in_progress");
      expect(killed?.phase).toBe("switching");
      expect(await readLock(s3, env)).not.toBeNull();
      // Until the dead process's lock expires the release might still be running.
      await waitForLockExpiry(s3, env);

      const second = await startServer(app, proxy.current.endpoint);
      servers.push(second);
      const answer = await second.call("deploy_lambda", { env });
      expect(answer.s.status, answer.text).toBe("unchanged");
      expect(answer.s.codeSha256, answer.text).toBe(live);
      expect((await liveCode(lambda, fn, null)).codeSha256).toBe(live);
      const [settled] = await readRecords(s3, env, "lambda");
      expect(settled?.releaseId).toBe(killed?.releaseId);
      expect(settled?.status).toBe("recovered");
      expect(await readLock(s3, env)).toBeNull();
      // The way back stays where it was: the code live before, at its content address.
      expect(await exists(s3, ARTIFACT_BUCKET, artifactKeyForCodeSha256(prefix, previous.codeSha256))).toBe(
        true,
      );
    } finally {
      for (const server of servers) await server.close();
    }
  }, 120_000);
});
