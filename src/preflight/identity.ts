import { DeployError } from "../core/errors.js";
import type { ToolContext } from "../release/context.js";
import { checkFromFindings, type Finding, type PreflightCheck } from "./types.js";

/** `aws-identity`: who the credentials belong to, and whether that is the env's account. */
export async function checkIdentity(ctx: ToolContext): Promise<PreflightCheck> {
  let identity: Awaited<ReturnType<ToolContext["identity"]>>;
  try {
    identity = await ctx.identity();
  } catch (error) {
    const known = error instanceof DeployError ? error : null;
    const profileHint = ctx.env.profile ? ` --profile ${ctx.env.profile}` : "";
    return {
      name: "aws-identity",
      status: "fail",
      detail: `sts:GetCallerIdentity failed: ${known?.message ?? (error as Error)?.message ?? String(error)}`,
      remedy:
        known?.code === "AWS_CREDENTIALS"
          ? `Refresh the AWS credentials (e.g. \`aws sso login${profileHint}\`, or export AWS_PROFILE / new keys), then rerun preflight.`
          : "Check network access to AWS STS and which credentials are in use (`aws sts get-caller-identity`), then rerun preflight.",
    };
  }
  const findings: Finding[] = [{ status: "pass", text: `Account ${identity.account} as ${identity.arn}.` }];
  const expected = ctx.env.accountId;
  if (expected && identity.account !== expected) {
    findings.push({
      status: "fail",
      text: `These credentials are for account ${identity.account}, but environments.${ctx.envName}.accountId is ${expected}.`,
      remedy: `Use credentials for account ${expected} (AWS_PROFILE or environments.${ctx.envName}.profile), or correct accountId in deploy.config.json if ${identity.account} is really ${ctx.envName}.`,
    });
  } else if (!expected && ctx.env.protected) {
    findings.push({
      status: "warn",
      text: `No accountId is configured for protected env "${ctx.envName}", so credentials for any account are accepted.`,
      remedy: `Set environments.${ctx.envName}.accountId to "${identity.account}" in deploy.config.json if that is the right account.`,
    });
  }
  return checkFromFindings("aws-identity", findings);
}

const REGION_NAME = /^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+$/;

/**
 * `region`: the env's configured region is well formed and is the one our clients use. A
 * different shell default is only a warning: our tools ignore it, hand-run aws commands do not.
 */
export function checkRegion(ctx: ToolContext, processEnv: NodeJS.ProcessEnv): PreflightCheck {
  const region = ctx.env.region;
  const findings: Finding[] = [];
  if (!REGION_NAME.test(region)) {
    findings.push({
      status: "fail",
      text: `environments.${ctx.envName}.region "${region}" is not an AWS region name.`,
      remedy: `Set environments.${ctx.envName}.region to a region such as "ap-south-1".`,
    });
  } else if (ctx.aws.region !== region) {
    findings.push({
      status: "fail",
      text: `The AWS clients use ${ctx.aws.region}, but environments.${ctx.envName}.region is ${region}.`,
      remedy: "Restart the server so its clients are rebuilt from the current config.",
    });
  } else {
    findings.push({ status: "pass", text: `${region} (environments.${ctx.envName}.region).` });
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
