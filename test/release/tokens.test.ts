import { GetObjectCommand } from "@aws-sdk/client-s3";
import { beforeEach, describe, expect, it } from "vitest";
import type { DeployError } from "../../src/core/errors.js";
import type { ToolContext } from "../../src/release/context.js";
import { digestPlan } from "../../src/release/plan-digest.js";
import {
  consumeConfirmationToken,
  issueConfirmationToken,
  tokenObjectKey,
  type VerifiedToken,
  verifyConfirmationToken,
} from "../../src/release/tokens.js";
import type { Runtime } from "../../src/server/runtime.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";
import { artifactBucketRuntime, toolContextFor } from "../support/runtime.js";
import { interceptS3 } from "./s3-probe.js";

const moto = useMoto();
const DIGEST = digestPlan({ change: 1 });
let counter = 0;
let bucket: string;
let clock: Date;

function makeRuntime(config: Record<string, unknown> = {}, secret = "tokens-test-secret"): Runtime {
  return artifactBucketRuntime({ moto: moto.current, bucket, config, now: () => clock, secret });
}

const contextFor = toolContextFor;

function decodePayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString());
}

async function verified(ctx: ToolContext, token: string): Promise<VerifiedToken> {
  const check = await verifyConfirmationToken(ctx, { tool: "deploy_lambda", planDigest: DIGEST, token });
  if (!check.ok) throw new Error(`expected a valid token, got ${check.reason}`);
  return check.token;
}

/** The token as a verifier hands it on, read from its payload (to spend it in another process). */
function payloadToken(token: string): VerifiedToken {
  const payload = decodePayload(token);
  return {
    tool: payload.tool as string,
    env: payload.env as string,
    planDigest: payload.digest as string,
    nonce: payload.nonce as string,
    expiresAt: new Date(payload.exp as number).toISOString(),
  };
}

beforeEach(async () => {
  bucket = `tokens-test-${++counter}`;
  await createBucket(await moto.current.clients().s3(), bucket);
  clock = new Date("2026-11-25T13:00:00.000Z");
});

describe("confirmation tokens", () => {
  it("carry tool, env, account, region, digest, a random nonce and the expiry, signed", async () => {
    const ctx = contextFor(makeRuntime());
    const a = await issueConfirmationToken(ctx, { tool: "deploy_lambda", planDigest: DIGEST });
    const b = await issueConfirmationToken(ctx, { tool: "deploy_lambda", planDigest: DIGEST });
    expect(a.confirmationToken).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(decodePayload(a.confirmationToken)).toEqual({
      tool: "deploy_lambda",
      env: "prod",
      account: "123456789012",
      region: "ap-south-1",
      digest: DIGEST,
      nonce: expect.stringMatching(/^[0-9a-f]{32}$/),
      exp: Date.parse("2026-11-25T13:10:00.000Z"),
    });
    expect(a.expiresAt).toBe("2026-11-25T13:10:00.000Z");
    expect(a.confirmationToken).not.toBe(b.confirmationToken);
    expect(decodePayload(a.confirmationToken).nonce).not.toBe(decodePayload(b.confirmationToken).nonce);
  });

  it("expire after tokenTtlMinutes, by the injected clock", async () => {
    const ctx = contextFor(makeRuntime({ tokenTtlMinutes: 2 }));
    const { confirmationToken, expiresAt } = await issueConfirmationToken(ctx, {
      tool: "deploy_lambda",
      planDigest: DIGEST,
    });
    expect(expiresAt).toBe("2026-11-25T13:02:00.000Z");
    clock = new Date("2026-11-25T13:01:59.999Z");
    expect(
      (
        await verifyConfirmationToken(ctx, {
          tool: "deploy_lambda",
          planDigest: DIGEST,
          token: confirmationToken,
        })
      ).ok,
    ).toBe(true);
    clock = new Date("2026-11-25T13:02:00.000Z");
    const check = await verifyConfirmationToken(ctx, {
      tool: "deploy_lambda",
      planDigest: DIGEST,
      token: confirmationToken,
    });
    expect(check).toMatchObject({ ok: false, reason: "expired" });
    expect(!check.ok && check.message).toMatch(/expired at 2026-11-25T13:02:00.000Z \(tokens last 2 min\)/);
  });

  it("the signature is checked before any payload field is believed", async () => {
    const ctx = contextFor(makeRuntime());
    const { confirmationToken } = await issueConfirmationToken(ctx, {
      tool: "deploy_frontend",
      planDigest: DIGEST,
    });
    const [v, payload, mac] = confirmationToken.split(".") as [string, string, string];
    const forged = { ...JSON.parse(Buffer.from(payload, "base64url").toString()), tool: "deploy_lambda" };
    const token = `${v}.${Buffer.from(JSON.stringify(forged)).toString("base64url")}.${mac}`;
    expect(
      await verifyConfirmationToken(ctx, { tool: "deploy_lambda", planDigest: DIGEST, token }),
    ).toMatchObject({
      ok: false,
      reason: "bad_signature",
    });
  });

  it("a different secret (another server without VYAPARAI_DEPLOY_SECRET) cannot verify it", async () => {
    const issued = await issueConfirmationToken(contextFor(makeRuntime({}, "one")), {
      tool: "deploy_lambda",
      planDigest: DIGEST,
    });
    const check = await verifyConfirmationToken(contextFor(makeRuntime({}, "two")), {
      tool: "deploy_lambda",
      planDigest: DIGEST,
      token: issued.confirmationToken,
    });
    expect(check).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("consuming writes tokens/<env>/<nonce>.json; of two processes racing, exactly one succeeds", async () => {
    const server = contextFor(makeRuntime());
    const cli = contextFor(makeRuntime());
    const { confirmationToken } = await issueConfirmationToken(server, {
      tool: "deploy_lambda",
      planDigest: DIGEST,
    });
    const [a, b] = await Promise.all([verified(server, confirmationToken), verified(cli, confirmationToken)]);
    const results = await Promise.allSettled([
      consumeConfirmationToken(server, a),
      consumeConfirmationToken(cli, b),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((lost.reason as DeployError).detail).toEqual({ reason: "already_used" });

    const s3 = await moto.current.clients().s3();
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: tokenObjectKey("prod", a.nonce) }));
    expect(JSON.parse(await out.Body!.transformToString())).toEqual({
      tool: "deploy_lambda",
      env: "prod",
      planDigest: DIGEST,
      usedBy: "arn:aws:sts::123456789012:user/moto",
      usedAt: "2026-11-25T13:00:00.000Z",
      expiresAt: "2026-11-25T13:10:00.000Z",
      // Which spend wrote it, so a lost answer retried by the SDK is told apart from another process.
      spentBy: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    // Both processes now see it as used, one from memory and one from S3.
    for (const ctx of [server, cli]) {
      const check = await verifyConfirmationToken(ctx, {
        tool: "deploy_lambda",
        planDigest: DIGEST,
        token: confirmationToken,
      });
      expect(check).toMatchObject({ ok: false, reason: "already_used" });
    }
    const fresh = contextFor(makeRuntime());
    expect(
      await verifyConfirmationToken(fresh, {
        tool: "deploy_lambda",
        planDigest: DIGEST,
        token: confirmationToken,
      }),
    ).toMatchObject({ ok: false, reason: "already_used" });
  });

  it("a spend whose answer was lost and whose retry meets its own write counts as spent once, by us", async () => {
    const rt = makeRuntime();
    const base = contextFor(rt);
    const s3 = await moto.current.clients().s3();
    let puts = 0;
    // The first answer is lost and the SDK sends the same write again: it meets our own object.
    const retrying = interceptS3(s3, (command, send) =>
      command.name === "PutObjectCommand" && command.input.Key?.startsWith("tokens/") && ++puts === 1
        ? send().then(send)
        : undefined,
    );
    const ctx: ToolContext = { ...base, aws: { ...base.aws, s3: async () => retrying } };
    const { confirmationToken } = await issueConfirmationToken(ctx, {
      tool: "deploy_lambda",
      planDigest: DIGEST,
    });
    const token = await verified(ctx, confirmationToken);
    await consumeConfirmationToken(ctx, token);
    expect(puts).toBe(1);
    // Another process presenting the same token is still refused.
    const other = contextFor(makeRuntime());
    await expect(consumeConfirmationToken(other, payloadToken(confirmationToken))).rejects.toMatchObject({
      detail: { reason: "already_used" },
    });
  });

  it("a token whose spending failed in S3 is still spent in this process (fail closed)", async () => {
    const rt = makeRuntime({
      environments: { prod: { lambda: { artifactBucket: `missing-bucket-${counter}` } } },
    });
    const ctx = contextFor(rt);
    const { confirmationToken } = await issueConfirmationToken(ctx, {
      tool: "deploy_lambda",
      planDigest: DIGEST,
    });
    const payload = decodePayload(confirmationToken);
    const token: VerifiedToken = {
      tool: "deploy_lambda",
      env: "prod",
      planDigest: DIGEST,
      nonce: payload.nonce as string,
      expiresAt: new Date(payload.exp as number).toISOString(),
    };
    await expect(consumeConfirmationToken(ctx, token)).rejects.toMatchObject({ code: "AWS_NOT_FOUND" });
    expect(rt.session.usedTokenNonces.has(token.nonce)).toBe(true);
    await expect(consumeConfirmationToken(ctx, token)).rejects.toMatchObject({
      detail: { reason: "already_used" },
    });
  });
});
