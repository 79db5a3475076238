import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { bodyText } from "../support/s3-body.js";

/**
 * Small helpers for the release tests: read back what moto holds, and an S3 client whose
 * `send` can be made to fail or misbehave for chosen commands (faults moto cannot produce).
 */

/** The object's body and ETag, or null when it does not exist. */
export async function readObject(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ body: string; etag: string | undefined } | null> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { body: await bodyText(out), etag: out.ETag };
  } catch (error) {
    if ((error as { name?: string }).name === "NoSuchKey") return null;
    throw error;
  }
}

export async function readJsonObject(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<Record<string, unknown>> {
  const found = await readObject(s3, bucket, key);
  if (!found) throw new Error(`s3://${bucket}/${key} does not exist`);
  return JSON.parse(found.body) as Record<string, unknown>;
}

export async function putText(s3: S3Client, bucket: string, key: string, body: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export async function listKeys(s3: S3Client, bucket: string, prefix = ""): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}

/** What an intercepted command looks like: its class name and input. */
export interface SentCommand {
  name: string;
  input: { Key?: string; Body?: unknown; [field: string]: unknown };
}

type Send = (command: unknown, options?: unknown) => Promise<unknown>;

/**
 * An S3 client that hands every command to `intercept` first. `intercept` gets the command and
 * the real send; it returns what the caller sees (or undefined to pass the command through).
 */
export function interceptS3(
  s3: S3Client,
  intercept: (command: SentCommand, send: () => Promise<unknown>) => Promise<unknown> | undefined,
): S3Client {
  const realSend = (s3.send as Send).bind(s3);
  const send: Send = (command, options) => {
    const sent = command as { constructor: { name: string }; input: SentCommand["input"] };
    const passThrough = () => realSend(command, options);
    return intercept({ name: sent.constructor.name, input: sent.input }, passThrough) ?? passThrough();
  };
  return new Proxy(s3, {
    get(target, property, receiver) {
      if (property === "send") return send;
      return Reflect.get(target, property, receiver);
    },
  });
}

/** An error the SDK would raise for an S3 500 (not a conditional-write conflict). */
export function internalError(message = "We encountered an internal error. Please try again."): Error {
  return Object.assign(new Error(message), { name: "InternalError", $metadata: { httpStatusCode: 500 } });
}
