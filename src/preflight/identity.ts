import type { AwsClients } from "../aws/clients.js";
import type { CallerIdentity } from "../core/context.js";
import { DeployError } from "../core/errors.js";
import type { PreflightDeps } from "./deps.js";
import { asEvidence, checkFromFindings, type Finding, type PreflightCheck } from "./types.js";

/** What `aws-identity` reads: the caller and the env's account, profile and protection. */
export type IdentityDeps = Pick<PreflightDeps, "envName" | "env" | "identity">;

/** What `region` reads: the env's region and the region the AWS clients were built for. */
export type RegionDeps = Pick<PreflightDeps, "envName" | "env"> & { aws: Pick<AwsClients, "region"> };

/** `aws-identity`: who the credentials belong to, and whether that is the env's account. */
export async function checkIdentity(deps: IdentityDeps): Promise<PreflightCheck> {
  let identity: CallerIdentity;
  try {
    identity = await deps.identity();
  } catch (error) {
    const known = error instanceof DeployError ? error : null;
    const profileHint = deps.env.profile ? ` --profile ${deps.env.profile}` : "";
    return {
      name: "aws-identity",
      status: "fail",
      detail: known
        ? `sts:GetCallerIdentity failed: ${known.message}`
        : "sts:GetCallerIdentity failed unexpectedly (its message is in evidence).",
      ...(known ? {} : { evidence: asEvidence([(error as Error)?.message ?? String(error)]) }),
      remedy:
        known?.code === "AWS_CREDENTIALS"
          ? `Refresh the AWS credentials (e.g. \`aws sso login${profileHint}\`, or export AWS_PROFILE / new keys), then rerun preflight.`
          : "Check network access to AWS STS and which credentials are in use (`aws sts get-caller-identity`), then rerun preflight.",
    };
  }
  // The ARN is read from STS (a role session name is anyone's text): evidence, not detail.
  const findings: Finding[] = [
    {
      status: "pass",
      text: `Account ${accountShown(identity.account)} (the caller ARN is in evidence).`,
      evidence: [`caller: ${identity.arn}`],
    },
  ];
  const expected = deps.env.accountId;
  if (expected && identity.account !== expected) {
    findings.push({
      status: "fail",
      text: `These credentials are for account ${identity.account}, but environments.${deps.envName}.accountId is ${expected}.`,
      remedy: `Use credentials for account ${expected} (AWS_PROFILE or environments.${deps.envName}.profile), or correct accountId in deploy.config.json if ${identity.account} is really ${deps.envName}.`,
    });
  } else if (!expected && deps.env.protected) {
    findings.push({
      status: "warn",
      text: `No accountId is configured for protected env "${deps.envName}", so credentials for any account are accepted.`,
      remedy: `Set environments.${deps.envName}.accountId to "${identity.account}" in deploy.config.json if that is the right account.`,
    });
  }
  return checkFromFindings("aws-identity", findings);
}

const REGION_NAME = /^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+$/;

/**
 * `region`: the env's configured region is well formed and is the one our clients use. A
 * different shell default is only a warning: our tools ignore it, hand-run aws commands do not.
 */
export function checkRegion(deps: RegionDeps, processEnv: NodeJS.ProcessEnv): PreflightCheck {
  const region = deps.env.region;
  const findings: Finding[] = [];
  if (!REGION_NAME.test(region)) {
    findings.push({
      status: "fail",
      text: `environments.${deps.envName}.region "${region}" is not an AWS region name.`,
      remedy: `Set environments.${deps.envName}.region to a region such as "ap-south-1".`,
    });
  } else if (deps.aws.region !== region) {
    findings.push({
      status: "fail",
      text: `The AWS clients use ${deps.aws.region}, but environments.${deps.envName}.region is ${region}.`,
      remedy: "Restart the server so its clients are rebuilt from the current config.",
    });
  } else {
    findings.push({ status: "pass", text: `${region} (environments.${deps.envName}.region).` });
  }
  const shellRegion = processEnv.AWS_REGION || processEnv.AWS_DEFAULT_REGION;
  if (shellRegion && shellRegion !== region) {
    findings.push({
      status: "warn",
      text: `This shell's default region is ${shellRegion}; the deploy tools use ${region}, but aws CLI commands run by hand would go to ${shellRegion}.`,
      remedy: `Pass --region ${region} to hand-run aws commands, or export AWS_REGION=${region}.`,
    });
  }
  return checkFromFindings("region", findings);
}

function accountShown(account: string): string {
  return /^\d{12}$/.test(account) ? account : "(an account id of unexpected shape)";
}
