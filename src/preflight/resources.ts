import { GetDistributionCommand } from "@aws-sdk/client-cloudfront";
import { DescribeLogGroupsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { GetFunctionConfigurationCommand } from "@aws-sdk/client-lambda";
import { HeadBucketCommand } from "@aws-sdk/client-s3";
import type { AwsClients } from "../aws/clients.js";
import { mapAwsError } from "../aws/errors.js";
import type { PreflightDeps } from "./deps.js";
import { checkFromFindings, type Finding, type PreflightCheck, type PreflightComponent } from "./types.js";

/** What `resources` reads: the env's targets and the clients that probe them. */
export type ResourcesDeps = Pick<PreflightDeps, "envName" | "env" | "signal"> & {
  aws: Pick<AwsClients, "lambda" | "s3" | "cloudFront" | "logs">;
};

/**
 * `resources`: the AWS resources the chosen components deploy to exist and are reachable
 * with these credentials. All probes run at once; a missing log group is only a warning
 * (Lambda creates it on first invocation).
 */
export async function checkResources(
  deps: ResourcesDeps,
  components: PreflightComponent[],
): Promise<PreflightCheck> {
  const probes: Array<Promise<Finding>> = [];
  const backend = components.includes("backend");
  const frontend = components.includes("frontend");
  if (backend || frontend) {
    // Zips, locks, release records and frontend snapshots all live in the artifact bucket.
    probes.push(
      probeBucket(deps, deps.env.lambda.artifactBucket, `environments.${deps.envName}.lambda.artifactBucket`),
    );
  }
  if (backend) {
    const fn = probeFunction(deps);
    probes.push(fn.then((r) => r.finding));
    probes.push(fn.then((r) => probeLogGroup(deps, r.logGroup)));
  }
  if (frontend) {
    for (const bucket of deps.env.frontend.buckets) {
      probes.push(probeBucket(deps, bucket, `environments.${deps.envName}.frontend.buckets`));
    }
    if (deps.env.frontend.distributionId)
      probes.push(probeDistribution(deps, deps.env.frontend.distributionId));
  }
  if (probes.length === 0) {
    return { name: "resources", status: "pass", detail: "No AWS resources to check for these components." };
  }
  return checkFromFindings("resources", await Promise.all(probes));
}

function configKeyRemedy(what: string, key: string): string {
  return `Create ${what} (e.g. with terraform_plan / terraform_apply) or correct ${key} in deploy.config.json; check the region too.`;
}

function failureFinding(error: unknown, action: string, what: string, key: string): Finding {
  const mapped = mapAwsError(error, action, what);
  if (mapped.code === "AWS_NOT_FOUND") {
    return { status: "fail", text: `${what}: not found.`, remedy: configKeyRemedy(what, key) };
  }
  if (mapped.code === "AWS_ACCESS_DENIED") {
    return {
      status: "fail",
      text: `${what}: access denied (${action}).`,
      remedy: `Grant ${action} on ${what} to the deploy role, or use credentials that have it.`,
    };
  }
  return {
    status: "fail",
    text: `${what}: ${mapped.message}`,
    remedy: "Fix the error above and rerun preflight.",
  };
}

async function probeFunction(deps: ResourcesDeps): Promise<{ finding: Finding; logGroup: string }> {
  const name = deps.env.lambda.functionName;
  const what = `Lambda ${name}`;
  const fallbackLogGroup = deps.env.logGroup ?? `/aws/lambda/${name}`;
  try {
    const lambda = await deps.aws.lambda();
    const out = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }), {
      abortSignal: deps.signal,
    });
    // The configured logGroup wins; else the function's LoggingConfig is the truth.
    const logGroup = deps.env.logGroup ?? out.LoggingConfig?.LogGroup ?? fallbackLogGroup;
    const state = `${out.State ?? "unknown"}/${out.LastUpdateStatus ?? "unknown"}`;
    const facts = `${what} (${out.Runtime ?? "container image"}, ${state})`;
    if (out.State === "Failed" || out.LastUpdateStatus === "Failed") {
      return {
        logGroup,
        finding: {
          status: "fail",
          text: `${facts} is in a failed state${out.StateReason || out.LastUpdateStatusReason ? `: ${out.StateReason ?? out.LastUpdateStatusReason}` : ""}.`,
          remedy:
            "Look at the function in the Lambda console; a new deploy or rollback replaces the failed code.",
        },
      };
    }
    if (out.LastUpdateStatus === "InProgress" || out.State === "Pending") {
      return {
        logGroup,
        finding: {
          status: "warn",
          text: `${facts}: an update is still in progress.`,
          remedy: "Wait for the running update to finish (deploy_status shows it) before deploying.",
        },
      };
    }
    return { logGroup, finding: { status: "pass", text: `${facts}: found.` } };
  } catch (error) {
    return {
      logGroup: fallbackLogGroup,
      finding: failureFinding(
        error,
        "lambda:GetFunctionConfiguration",
        what,
        `environments.${deps.envName}.lambda.functionName`,
      ),
    };
  }
}

async function probeBucket(deps: ResourcesDeps, bucket: string, key: string): Promise<Finding> {
  const what = `bucket ${bucket}`;
  try {
    const s3 = await deps.aws.s3();
    const out = await s3.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: deps.signal });
    if (out.BucketRegion && out.BucketRegion !== deps.env.region) {
      return {
        status: "warn",
        text: `${what}: found in ${out.BucketRegion}, not ${deps.env.region}.`,
        remedy: `Check that ${key} names the intended bucket; cross-region uploads are slower and cost transfer.`,
      };
    }
    return { status: "pass", text: `${what}: found.` };
  } catch (error) {
    // HeadBucket has no body: the SDK reports a missing bucket as a bare 404 "NotFound".
    return failureFinding(error, "s3:HeadBucket", what, key);
  }
}

async function probeDistribution(deps: ResourcesDeps, id: string): Promise<Finding> {
  const what = `CloudFront distribution ${id}`;
  try {
    const cloudFront = await deps.aws.cloudFront();
    const out = await cloudFront.send(new GetDistributionCommand({ Id: id }), { abortSignal: deps.signal });
    const enabled = out.Distribution?.DistributionConfig?.Enabled;
    const status = out.Distribution?.Status ?? "unknown";
    if (enabled === false) {
      return {
        status: "warn",
        text: `${what}: found but disabled (${status}).`,
        remedy: "Enable the distribution, or the deployed site will not be served.",
      };
    }
    return { status: "pass", text: `${what}: found (${status}).` };
  } catch (error) {
    return failureFinding(
      error,
      "cloudfront:GetDistribution",
      what,
      `environments.${deps.envName}.frontend.distributionId`,
    );
  }
}

async function probeLogGroup(deps: ResourcesDeps, logGroup: string): Promise<Finding> {
  const what = `log group ${logGroup}`;
  try {
    const logs = await deps.aws.logs();
    const out = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: logGroup, limit: 5 }), {
      abortSignal: deps.signal,
    });
    if (out.logGroups?.some((group) => group.logGroupName === logGroup)) {
      return { status: "pass", text: `${what}: found.` };
    }
    return {
      status: "warn",
      text: `${what}: not found (Lambda creates it on the first invocation; tail_logs finds nothing until then).`,
      remedy: `If the function logs elsewhere, set environments.${deps.envName}.logGroup in deploy.config.json.`,
    };
  } catch (error) {
    const mapped = mapAwsError(error, "logs:DescribeLogGroups", what);
    return {
      status: "warn",
      text: `${what}: could not be checked (${mapped.message})`,
      remedy: "Grant logs:DescribeLogGroups to the deploy role so tail_logs can work.",
    };
  }
}
