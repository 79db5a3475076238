import { randomBytes } from "node:crypto";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { isAwsErrorNamed, mapAwsError } from "../aws/errors.js";
import { RefusalError } from "../core/errors.js";
import { isConditionalWriteConflict } from "./conditional-write.js";
import type { ToolContext } from "./context.js";

/**
 * Confirmation tokens (DESIGN.md §3.1). A token is `v1.<payload>.<mac>`: the payload
 * (base64url JSON) says what it confirms, the mac is HMAC-SHA256 over "v1.<payload>" with the
 * server's secret. The payload is readable on purpose, so a refusal can say *why* a token does
 * not fit (other tool, other env, plan changed); only the mac makes it trustworthy.
 *
 * Single-use: a used nonce is remembered by the process and written to
 * tokens/<env>/<nonce>.json in the env's artifact bucket with If-None-Match, so a CLI and a
 * server sharing VYAPARAI_DEPLOY_SECRET cannot both use one token.
 */

const VERSION = "v1";
const NONCE = /^[0-9a-f]{32}$/;
const DIGEST = /^[0-9a-f]{64}$/;

export type TokenRefusalReason =
  | "missing"
  | "malformed"
  | "bad_signature"
  | "expired"
  | "already_used"
  | "other_tool"
  | "other_env"
  | "other_account"
  | "other_region"
  | "plan_changed";

/** The payload of a token; short names keep tokens short for the model to copy. */
interface TokenPayload {
  tool: string;
  env: string;
  account: string;
  region: string;
  digest: string;
  nonce: string;
  /** Expiry, epoch milliseconds. */
  exp: number;
}

/** A token that passed every check; `consumeConfirmationToken` spends it. */
export interface VerifiedToken {
  tool: string;
  env: string;
  planDigest: string;
  nonce: string;
  expiresAt: string;
}

export type TokenCheck =
  | { ok: true; token: VerifiedToken }
  | {
      ok: false;
      reason: TokenRefusalReason;
      /** What happened and what to do, for the refusal text. */
      message: string;
      /** For plan_changed: the digest the token confirmed. */
      tokenPlanDigest?: string;
    };

export interface IssuedToken {
  confirmationToken: string;
  expiresAt: string;
}

export function tokenObjectKey(env: string, nonce: string): string {
  return `tokens/${env}/${nonce}.json`;
}

export async function issueConfirmationToken(
  ctx: ToolContext,
  input: { tool: string; planDigest: string },
): Promise<IssuedToken> {
  const identity = await ctx.identity();
  const exp = ctx.now().getTime() + ctx.config.tokenTtlMinutes * 60_000;
  const payload: TokenPayload = {
    tool: input.tool,
    env: ctx.envName,
    account: identity.account,
    region: ctx.env.region,
    digest: input.planDigest,
    nonce: randomBytes(16).toString("hex"),
    exp,
  };
  const body = `${VERSION}.${Buffer.from(JSON.stringify(payload), "utf8").toString("base64url")}`;
  return {
    confirmationToken: `${body}.${ctx.tokens.sign(body)}`,
    expiresAt: new Date(exp).toISOString(),
  };
}

/**
 * Checks a token against the call being confirmed. Reads S3 (has another process used it?)
 * but changes nothing: spending it is `consumeConfirmationToken`, after the other gates.
 */
export async function verifyConfirmationToken(
  ctx: ToolContext,
  input: { tool: string; planDigest: string; token: string | undefined | null },
): Promise<TokenCheck> {
  const again = `Call ${input.tool} again without confirmationToken to get the current plan and a new token.`;
  const refuse = (reason: TokenRefusalReason, message: string): TokenCheck => ({
    ok: false,
    reason,
    message,
  });
  if (!input.token) {
    return refuse(
      "missing",
      `No confirmationToken was given for ${input.tool} on protected env "${ctx.envName}". ${again} Show the plan to the user and pass the token back unchanged once they agree.`,
    );
  }
  const payload = decode(input.token);
  if (payload === null) {
    return refuse(
      "malformed",
      `The confirmationToken is malformed (not a token this server issues). Pass the token from the confirmation_required answer unchanged. ${again}`,
    );
  }
  const [version, encoded, givenMac] = input.token.split(".") as [string, string, string];
  if (!ctx.tokens.verify(`${version}.${encoded}`, givenMac)) {
    return refuse(
      "bad_signature",
      `The confirmationToken's signature does not match: it was altered, or issued by a server with a different secret (VYAPARAI_DEPLOY_SECRET). ${again}`,
    );
  }
  if (payload.tool !== input.tool) {
    return refuse(
      "other_tool",
      `The confirmationToken was issued for ${payload.tool}, not ${input.tool}. ${again}`,
    );
  }
  if (payload.env !== ctx.envName) {
    return refuse(
      "other_env",
      `The confirmationToken was issued for env "${payload.env}", not "${ctx.envName}". ${again}`,
    );
  }
  const identity = await ctx.identity();
  if (payload.account !== identity.account) {
    return refuse(
      "other_account",
      `The confirmationToken was issued for AWS account ${payload.account}, but the current credentials are for ${identity.account}. Check which credentials are active, then ${again.charAt(0).toLowerCase()}${again.slice(1)}`,
    );
  }
  if (payload.region !== ctx.env.region) {
    return refuse(
      "other_region",
      `The confirmationToken was issued for region ${payload.region}, but env "${ctx.envName}" is in ${ctx.env.region}. ${again}`,
    );
  }
  const now = ctx.now().getTime();
  if (now >= payload.exp) {
    return refuse(
      "expired",
      `The confirmationToken expired at ${new Date(payload.exp).toISOString()} (tokens last ${ctx.config.tokenTtlMinutes} min). ${again}`,
    );
  }
  if (await isTokenUsed(ctx, payload.nonce)) {
    return refuse("already_used", `The confirmationToken was already used (tokens are single-use). ${again}`);
  }
  if (payload.digest !== input.planDigest) {
    return {
      ok: false,
      reason: "plan_changed",
      message: `The plan changed since the confirmationToken was issued (confirmed ${payload.digest.slice(0, 12)}, now ${input.planDigest.slice(0, 12)}). Nothing was changed. Show the new plan to the user and, if they agree, call again with the new confirmationToken.`,
      tokenPlanDigest: payload.digest,
    };
  }
  return {
    ok: true,
    token: {
      tool: payload.tool,
      env: payload.env,
      planDigest: payload.digest,
      nonce: payload.nonce,
      expiresAt: new Date(payload.exp).toISOString(),
    },
  };
}

function decode(token: string): TokenPayload | null {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== VERSION) return null;
  const [, encoded, givenMac] = parts as [string, string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(encoded) || !/^[A-Za-z0-9_-]{43}$/.test(givenMac)) return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  const p = value as Partial<TokenPayload> | null;
  if (
    !p ||
    typeof p !== "object" ||
    typeof p.tool !== "string" ||
    typeof p.env !== "string" ||
    typeof p.account !== "string" ||
    typeof p.region !== "string" ||
    typeof p.digest !== "string" ||
    !DIGEST.test(p.digest) ||
    typeof p.nonce !== "string" ||
    !NONCE.test(p.nonce) ||
    typeof p.exp !== "number" ||
    !Number.isFinite(p.exp)
  ) {
    return null;
  }
  return p as TokenPayload;
}

async function isTokenUsed(ctx: ToolContext, nonce: string): Promise<boolean> {
  if (ctx.session.usedTokenNonces.has(nonce)) return true;
  const bucket = ctx.env.lambda.artifactBucket;
  const key = tokenObjectKey(ctx.envName, nonce);
  try {
    await (await ctx.aws.s3()).send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (isAwsErrorNamed(error, "NotFound", "NoSuchKey")) return false;
    throw mapAwsError(error, "s3:HeadObject", `s3://${bucket}/${key}`);
  }
}

/**
 * Spends a verified token. The conditional put is the single point of truth: of two
 * processes presenting the same token, exactly one write succeeds.
 */
export async function consumeConfirmationToken(ctx: ToolContext, token: VerifiedToken): Promise<void> {
  const usedAgain = () =>
    new RefusalError(
      `The confirmationToken was already used (tokens are single-use); nothing was changed. Call ${token.tool} again without confirmationToken to get the current plan and a new token.`,
      { reason: "already_used" },
    );
  if (ctx.session.usedTokenNonces.has(token.nonce)) throw usedAgain();
  // Safety: remembered before the write, so a failed write can never leave it reusable here.
  ctx.session.usedTokenNonces.add(token.nonce);
  const bucket = ctx.env.lambda.artifactBucket;
  const key = tokenObjectKey(ctx.envName, token.nonce);
  const identity = await ctx.identity();
  // Tells our own write apart from another process's when a lost answer makes the SDK retry.
  const spentBy = randomBytes(16).toString("hex");
  const s3 = await ctx.aws.s3();
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        IfNoneMatch: "*",
        ContentType: "application/json",
        Body: JSON.stringify({
          tool: token.tool,
          env: token.env,
          planDigest: token.planDigest,
          usedBy: identity.arn,
          usedAt: ctx.now().toISOString(),
          expiresAt: token.expiresAt,
          spentBy,
        }),
      }),
    );
  } catch (error) {
    if (isConditionalWriteConflict(error)) {
      if (await spentByUs(s3, bucket, key, spentBy)) return;
      throw usedAgain();
    }
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  }
}

async function spentByUs(s3: S3Client, bucket: string, key: string, spentBy: string): Promise<boolean> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = JSON.parse((await out.Body?.transformToString("utf8")) ?? "{}") as { spentBy?: unknown };
    return body.spentBy === spentBy;
  } catch {
    return false;
  }
}
