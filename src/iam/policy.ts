import type { EnvConfig } from "../config/schema.js";
import { type ActionKind, AWS_COMMANDS, type ResourceScope } from "./actions.js";

/** An IAM policy document (identity or trust policy), as IAM accepts it. */
export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow";
  Action: string[];
  Resource?: string[];
  Principal?: { AWS: string[] };
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface EnvPolicies {
  /** For the caller: the read-only tools (and assuming the deploy role, when there is one). */
  read: PolicyDocument;
  /** For the deploy role (or the caller without one): everything a guarded change sends. */
  deploy: PolicyDocument;
  /** The deploy role's trust policy; null when the env has no deploy role. */
  trust: PolicyDocument | null;
  /** What the documents leave out, in words (printed beside them, never inside). */
  notes: string[];
}

/**
 * The artifact bucket's keys an env's tools read and write: its Lambda zips, its lock, its
 * spent tokens, its release records, and the content store the frontend releases share.
 */
export function artifactKeyPrefixes(env: EnvConfig, envName: string): string[] {
  return [
    `${env.lambda.artifactPrefix}*`,
    `locks/${envName}.json`,
    `tokens/${envName}/*`,
    `releases/${envName}/*`,
    `reports/${envName}/*`,
    "frontend-objects/*",
  ];
}

function resourcesFor(scope: ResourceScope, env: EnvConfig, envName: string): string[] {
  const account = env.accountId ?? "*";
  const region = env.region;
  const fn = `arn:aws:lambda:${region}:${account}:function:${env.lambda.functionName}`;
  const logGroup = env.logGroup ?? `/aws/lambda/${env.lambda.functionName}`;
  const bucket = env.lambda.artifactBucket;
  switch (scope) {
    case "function":
      return [fn, `${fn}:*`];
    case "buckets":
      return [bucket, ...env.frontend.buckets].map((b) => `arn:aws:s3:::${b}`);
    case "objects":
      return [
        ...artifactKeyPrefixes(env, envName).map((key) => `arn:aws:s3:::${bucket}/${key}`),
        ...env.frontend.buckets.map((b) => `arn:aws:s3:::${b}/*`),
      ];
    case "distribution":
      return env.frontend.distributionId
        ? [`arn:aws:cloudfront::${account}:distribution/${env.frontend.distributionId}`]
        : [];
    case "logGroup":
      return [
        `arn:aws:logs:${region}:${account}:log-group:${logGroup}`,
        `arn:aws:logs:${region}:${account}:log-group:${logGroup}:*`,
      ];
    case "logGroups":
      return [`arn:aws:logs:${region}:${account}:log-group:*`];
    case "tables":
      return [`arn:aws:dynamodb:${region}:${account}:table/${env.tables.prefix}*${env.tables.suffix}`];
    case "account":
      return ["*"];
    case "deployRole":
      return env.deployRole ? [env.deployRole.roleArn] : [];
  }
}

/** One statement per scope, actions sorted and unique: small, readable, diffable documents. */
function documentFor(
  kinds: readonly ActionKind[],
  env: EnvConfig,
  envName: string,
  sidPrefix: string,
): PolicyDocument {
  const byScope = new Map<ResourceScope, Set<string>>();
  for (const access of Object.values(AWS_COMMANDS)) {
    if (!kinds.includes(access.kind)) continue;
    const actions = byScope.get(access.scope) ?? new Set<string>();
    for (const action of access.actions) actions.add(action);
    byScope.set(access.scope, actions);
  }
  const statements: PolicyStatement[] = [];
  for (const [scope, actions] of byScope) {
    const resources = resourcesFor(scope, env, envName);
    if (actions.size === 0 || resources.length === 0) continue;
    statements.push({
      Sid: `${sidPrefix}${scope[0]?.toUpperCase()}${scope.slice(1)}`,
      Effect: "Allow",
      Action: [...actions].sort(),
      Resource: resources,
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}

export function policiesFor(env: EnvConfig, envName: string): EnvPolicies {
  const notes = [
    "terraform_plan and terraform_apply run terraform, whose permissions depend on your infrastructure (and its state bucket and lock): grant those separately.",
    "sts:GetCallerIdentity needs no permission.",
  ];
  if (!env.accountId)
    notes.push(
      `environments.${envName}.accountId is not set, so the ARNs use "*" for the account; set it to scope them to one account.`,
    );
  if (!env.frontend.distributionId)
    notes.push("No CloudFront distribution is configured, so no CloudFront actions are granted.");
  const role = env.deployRole;
  const trust: PolicyDocument | null = role
    ? {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "PeopleOfThisAccountWithMfa",
            Effect: "Allow",
            Principal: { AWS: [`arn:aws:iam::${role.roleArn.split(":")[4]}:root`] },
            Action: ["sts:AssumeRole", "sts:SetSourceIdentity"],
            Condition: {
              Bool: { "aws:MultiFactorAuthPresent": "true" },
              ...(role.externalId ? { StringEquals: { "sts:ExternalId": role.externalId } } : {}),
            },
          },
        ],
      }
    : null;
  if (role && !role.mfaSerial) {
    notes.push(
      `environments.${envName}.deployRole has no mfaSerial: the trust policy demands MFA, so set the device the person uses.`,
    );
  }
  return {
    read: documentFor(role ? ["read", "assume"] : ["read"], env, envName, "Read"),
    deploy: documentFor(["read", "deploy"], env, envName, "Deploy"),
    trust,
    notes,
  };
}
