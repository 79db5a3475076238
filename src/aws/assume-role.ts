import type { STSClient } from "@aws-sdk/client-sts";
import type { EnvConfig } from "../config/schema.js";
import { DeployError, RefusalError } from "../core/errors.js";
import type { TemporaryCredentials } from "./clients.js";
import { mapAwsError } from "./errors.js";

type DeployRole = NonNullable<EnvConfig["deployRole"]>;

export interface AssumeDeployRoleInput {
  sts: STSClient;
  role: DeployRole;
  /** The release id: CloudTrail shows it as the session name of every call the release makes. */
  sessionName: string;
  /** Who the person is (from their own credentials), carried into every call as SourceIdentity. */
  sourceIdentity: string;
  /** The person's MFA code; used once here and never kept. */
  tokenCode: string | null;
  signal?: AbortSignal;
}

/** STS's rule for SourceIdentity and RoleSessionName characters. */
const STS_NAME = /[^\w+=,.@-]/g;

/** The person's name for SourceIdentity: the last part of their ARN, in STS's alphabet. */
export function sourceIdentityOf(callerArn: string): string {
  const last = callerArn.split(/[/:]/).filter(Boolean).at(-1) ?? "";
  const cleaned = last.replace(STS_NAME, "-").slice(0, 64);
  return cleaned.length >= 2 ? cleaned : "unknown-person";
}

/**
 * sts:AssumeRole for one release. A wrong or reused MFA code is refused by STS with nothing
 * changed; its message never carries the code, and ours never does either.
 */
export async function assumeDeployRole(input: AssumeDeployRoleInput): Promise<TemporaryCredentials> {
  const { AssumeRoleCommand } = await import("@aws-sdk/client-sts");
  const { role } = input;
  try {
    const out = await input.sts.send(
      new AssumeRoleCommand({
        RoleArn: role.roleArn,
        RoleSessionName: input.sessionName.replace(STS_NAME, "-").slice(0, 64),
        SourceIdentity: input.sourceIdentity,
        DurationSeconds: role.durationSeconds,
        ...(role.externalId ? { ExternalId: role.externalId } : {}),
        ...(role.mfaSerial && input.tokenCode
          ? { SerialNumber: role.mfaSerial, TokenCode: input.tokenCode }
          : {}),
      }),
      input.signal ? { abortSignal: input.signal } : {},
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
      throw new DeployError(
        "AWS_ERROR",
        `sts:AssumeRole on ${role.roleArn} answered without credentials. Nothing was changed.`,
      );
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      ...(c.Expiration ? { expiration: c.Expiration } : {}),
    };
  } catch (error) {
    if (error instanceof DeployError) throw error;
    const name = (error as { name?: string })?.name ?? "";
    if (/AccessDenied/i.test(name)) {
      // Safety: the code is not in STS's answer; the refusal says what to check, not what was typed.
      throw new RefusalError(
        `sts:AssumeRole on ${role.roleArn} was refused: ${role.mfaSerial ? "the MFA code was wrong or already used, or " : ""}the caller may not assume the role (check its trust policy: it must trust the caller${role.mfaSerial ? ", require aws:MultiFactorAuthPresent" : ""} and allow sts:SetSourceIdentity). Nothing was changed.`,
        { reason: "assume_role_refused" },
      );
    }
    throw mapAwsError(error, "sts:AssumeRole", role.roleArn);
  }
}
