import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { backendSchema } from "../../src/config/schema.js";
import { artifactKeyForCodeSha256 } from "../../src/deploy/lambda-artifact.js";
import { buildLambdaPackage, type LambdaPackage } from "../../src/deploy/lambda-package.js";
import { zipOf } from "../support/aws-fixtures.js";

/** Shared by the Lambda deploy and rollback tests (not a test file itself). */

/** A real HTTP health endpoint on 127.0.0.1 that the test flips between healthy and failing. */
export async function startHealthServer(): Promise<{
  url: string;
  setHealthy(ok: boolean): void;
  close(): Promise<void>;
}> {
  let healthy = true;
  const server: Server = createServer((_req, res) => {
    res.writeHead(healthy ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: healthy ? "ok" : "down" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/health`,
    setHealthy(ok) {
      healthy = ok;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
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
