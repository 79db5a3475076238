import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateAliasCommand,
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  type LambdaClient,
  PublishVersionCommand,
} from "@aws-sdk/client-lambda";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll } from "vitest";
import { backendSchema } from "../../src/config/schema.js";
import { type LocalHealthServer, startHealthServer } from "../../src/demo/health-server.js";
import { artifactKeyForCodeSha256 } from "../../src/deploy/lambda/artifact.js";
import type { CodeDownloader } from "../../src/deploy/lambda/deps.js";
import { buildLambdaPackage, type LambdaPackage } from "../../src/deploy/lambda/package.js";
import { createFunction } from "../../src/emulator/seed.js";
import { createBucket, createLambdaRole, createTestFunction, zipOf } from "../support/aws-fixtures.js";
import type { Moto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";
import { bodyText } from "../support/s3-body.js";

/** Shared by the Lambda deploy and rollback tests (not a test file itself). */

/**
 * Per test file: a real health endpoint on 127.0.0.1 (flip `.healthy` to fail the gate) and
 * the artifact bucket on moto, plus the env config that points a deploy at both.
 */
export function useLambdaEnv(moto: { readonly current: Moto }, bucket: string) {
  let health: LocalHealthServer | undefined;
  beforeAll(async () => {
    health = await startHealthServer();
    await createBucket(await moto.current.clients().s3(), bucket);
  });
  afterAll(async () => {
    await health?.close();
  });
  const envConfig = (functionName: string, alias: string | null, prefix: string) => ({
    lambda: { functionName, alias, artifactBucket: bucket, artifactPrefix: prefix },
    health: [{ name: "api", url: (health as LocalHealthServer).url }],
  });
  return {
    get health(): LocalHealthServer {
      return health as LocalHealthServer;
    },
    envConfig,
    /** A runtime for the app at appRoot whose one env deploys the function. */
    runtimeFor(appRoot: string, envName: string, functionName: string, alias: string | null, prefix: string) {
      return testRuntime({
        moto: moto.current,
        appRoot,
        config: { environments: { [envName]: envConfig(functionName, alias, prefix) } },
      });
    },
  };
}

/** A function with INITIAL_FILES whose code is saved in the artifact bucket, as after a first release. */
export async function createDeployedFunction(moto: Moto, bucket: string, name: string, prefix: string) {
  const clients = moto.clients();
  const initial = await createTestFunction(moto, await clients.lambda(), { name, files: INITIAL_FILES });
  await seedInitialArtifact(await clients.s3(), bucket, prefix, initial.codeSha256);
  return initial;
}

/** A function with INITIAL_FILES, published as a version that the alias "live" points at. */
export async function createAliasedFunction(moto: Moto, lambda: LambdaClient, name: string) {
  await createTestFunction(moto, lambda, { name, files: INITIAL_FILES });
  const v0 = await lambda.send(new PublishVersionCommand({ FunctionName: name }));
  await lambda.send(
    new CreateAliasCommand({ FunctionName: name, Name: "live", FunctionVersion: v0.Version }),
  );
  return v0;
}

/** The CodeSha256 of $LATEST, read back from Lambda. */
export async function liveCodeSha256(lambda: LambdaClient, name: string): Promise<string | undefined> {
  return (await lambda.send(new GetFunctionCommand({ FunctionName: name }))).Configuration?.CodeSha256;
}

/** The version the alias "live" points at and the code that version holds, read back from Lambda. */
export async function aliasState(lambda: LambdaClient, name: string) {
  const alias = await lambda.send(new GetAliasCommand({ FunctionName: name, Name: "live" }));
  const fn = await lambda.send(
    new GetFunctionConfigurationCommand({ FunctionName: name, Qualifier: "live" }),
  );
  return { version: alias.FunctionVersion, codeSha256: fn.CodeSha256 };
}

/** A JSON object (e.g. a release record) read back from S3. */
export async function readJsonObject(s3: S3Client, bucket: string, key: string) {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await bodyText(out));
}

/** Builds the fixture with the product's own packager: the CodeSha256 a deploy must make live. */
export async function packageOf(appRoot: string): Promise<LambdaPackage> {
  const outFile = join(mkdtempSync(join(tmpdir(), "vyaparai-expected-")), "p.zip");
  return buildLambdaPackage({ appRoot, backend: backendSchema.parse({}), outFile });
}

export const INITIAL_FILES = { "lambda_handler.py": "def handler(e, c):\n    return 1\n" };

/**
 * Stores the function's initial code under its content address, as an earlier release would
 * have: moto cannot serve GetFunction's Code.Location, so the product cannot save it itself.
 */
export async function seedInitialArtifact(s3: S3Client, bucket: string, prefix: string, codeSha256: string) {
  const body = await zipOf(INITIAL_FILES);
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: artifactKeyForCodeSha256(prefix, codeSha256), Body: body }),
  );
}

export async function listKeys(s3: S3Client, bucket: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}

/** Counts the commands a client sends (by command name). */
export function countCommands(client: S3Client | LambdaClient): Map<string, number> {
  const counts = new Map<string, number>();
  // Both clients share the smithy middleware stack; one type keeps the call signature simple.
  (client as S3Client).middlewareStack.add(
    (next, context) => async (args) => {
      const name = (context as { commandName?: string }).commandName ?? "?";
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: "initialize", name: `countCommands${Math.random()}` },
  );
  return counts;
}

/**
 * A function created from a zip in S3 (INITIAL_FILES at `s3://bucket/key`), the way
 * VyapaarAI's was made by hand before this tool: GetFunction then offers its code for download.
 */
export async function createFunctionFromS3(
  moto: Moto,
  name: string,
  where: { bucket: string; key: string; files?: Record<string, string> },
) {
  const clients = moto.clients();
  const zip = await zipOf(where.files ?? INITIAL_FILES);
  await (await clients.s3()).send(new PutObjectCommand({ Bucket: where.bucket, Key: where.key, Body: zip }));
  const created = await createFunction(await clients.lambda(), {
    name,
    role: await createLambdaRole(moto),
    code: { S3Bucket: where.bucket, S3Key: where.key },
  });
  return { ...created, zip };
}

/**
 * Serves function zips over real HTTP on 127.0.0.1, and a CodeDownloader that fetches from it.
 *
 * Moto gap: moto 5.2.1's GetFunction answers Code.Location
 * `https://awslambda-<region>-tasks.s3.<region>.amazonaws.com/<S3Key>` for a function created
 * from S3 — a URL nothing serves. Real AWS gives a presigned HTTPS URL to the same bytes. The
 * downloader keeps the URL's path and sends the GET here instead; that is the only seam, the
 * rest (HTTP status, body, size) is the product's own handling of a real response.
 */
export async function startCodeServer() {
  const zips = new Map<string, Buffer>();
  const requests: string[] = [];
  let status = 200;
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname);
    requests.push(path);
    const body = zips.get(path);
    if (status !== 200 || !body) {
      response.writeHead(status !== 200 ? status : 404).end("<Error><Code>AccessDenied</Code></Error>");
      return;
    }
    response.writeHead(200, { "content-type": "application/zip", "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const downloader: CodeDownloader = async (url, signal) => {
    const response = await fetch(`${base}${new URL(url).pathname}`, { signal });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  };
  return {
    /** Serves `body` for the S3 key a function was created from. */
    serve(s3Key: string, body: Buffer) {
      zips.set(`/${s3Key}`, body);
    },
    /** Answers every request with this status (200: serve normally). */
    set status(value: number) {
      status = value;
    },
    requests,
    downloader,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
