import * as z from "zod";

/**
 * The configuration schema (DESIGN.md §4). Objects are strict so a misspelt key is an error
 * that names it, not a silently ignored setting. Every field has a description: the JSON
 * Schema shipped for editors is generated from this file.
 */

const nonEmpty = z.string().min(1);

export const healthTargetSchema = z
  .object({
    name: nonEmpty.describe("Short name shown in reports, e.g. 'api'."),
    url: z.url().describe("Absolute http(s) URL to GET."),
    expectStatus: z
      .number()
      .int()
      .min(100)
      .max(599)
      .default(200)
      .describe("HTTP status that counts as healthy."),
    expectJson: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .optional()
      .describe(
        'Top-level JSON fields the body must contain with these exact values, e.g. {"status": "ok"}.',
      ),
    timeoutMs: z.number().int().positive().max(60_000).default(5_000).describe("Per-attempt timeout."),
    slowMs: z
      .number()
      .int()
      .positive()
      .default(2_000)
      .describe("p95 latency above this makes the target degraded."),
  })
  .strict();

export const lambdaSchema = z
  .object({
    functionName: nonEmpty.describe("Lambda function name."),
    alias: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("Alias moved to each new version; null deploys $LATEST."),
    artifactBucket: nonEmpty.describe("Bucket for zips, locks, release records and frontend snapshots."),
    artifactPrefix: z
      .string()
      .default("backend/")
      .describe("Key prefix of Lambda zips in the artifact bucket."),
  })
  .strict();

export const frontendEnvSchema = z
  .object({
    buckets: z.array(nonEmpty).min(1).describe("Buckets the built site is synced to (first is the primary)."),
    distributionId: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("CloudFront distribution to invalidate."),
    url: z.url().nullable().default(null).describe("Public URL of the site, checked after a deploy."),
  })
  .strict();

export const tablesSchema = z
  .object({
    prefix: z.string().default("vyaparai-").describe("Table name prefix."),
    suffix: z.string().describe("Table name suffix, e.g. '-prod'."),
    expected: z.array(nonEmpty).describe("Resource names expected to exist, e.g. 'orders'."),
  })
  .strict();

export const terraformEnvSchema = z
  .object({
    dir: nonEmpty.describe("Terraform directory, relative to the app root."),
    backendConfig: z
      .record(z.string(), z.string())
      .default({})
      .describe("-backend-config key=value pairs for `terraform init`."),
    vars: z.record(z.string(), z.string()).default({}).describe("-var key=value pairs."),
    binary: z
      .enum(["terraform", "tofu"])
      .nullable()
      .default(null)
      .describe("Force terraform or tofu; null finds one."),
    lockTimeout: z.string().default("60s").describe("-lock-timeout for plan and apply."),
  })
  .strict();

/**
 * The role guarded changes of an env run with. Read-only tools keep the caller's credentials;
 * with `mfaSerial` the role's trust policy can demand MFA, and the server asks the person for
 * the code out of the model's sight.
 */
export const deployRoleSchema = z
  .object({
    roleArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
        "must be an IAM role ARN (arn:aws:iam::123456789012:role/name)",
      )
      .describe("The deploy role, assumed for each guarded change."),
    mfaSerial: z
      .string()
      .regex(
        /^(arn:aws[a-z-]*:iam::\d{12}:mfa\/[\w+=,.@/-]{1,256}|[\w+=/:,.@-]{9,256})$/,
        "must be an MFA device ARN (arn:aws:iam::123456789012:mfa/name) or a hardware serial",
      )
      .nullable()
      .default(null)
      .describe("MFA device whose code the person types for each guarded change; null: no MFA."),
    durationSeconds: z
      .number()
      .int()
      .min(900, "must be at least 900 (STS's minimum)")
      .max(43_200, "must be at most 43200 (STS's maximum)")
      .default(3600)
      .describe("Lifetime of the assumed credentials; they live in memory for one release only."),
    externalId: z
      .string()
      .regex(/^[\w+=,.@:/-]{2,1224}$/, "must be 2-1224 characters of [A-Za-z0-9_+=,.@:/-]")
      .nullable()
      .default(null)
      .describe("ExternalId the role's trust policy requires, if any."),
  })
  .strict();

export const environmentSchema = z
  .object({
    region: nonEmpty.describe("AWS region, e.g. ap-south-1."),
    profile: z.string().min(1).nullable().default(null).describe("AWS profile; null uses the default chain."),
    accountId: z
      .string()
      .regex(/^\d{12}$/, "must be a 12-digit AWS account id")
      .nullable()
      .default(null)
      .describe("Expected account; preflight and destructive tools refuse any other."),
    protected: z
      .boolean()
      .describe("Protected envs need a confirmation token, a person's approval and preflight."),
    lambda: lambdaSchema,
    frontend: frontendEnvSchema,
    health: z.array(healthTargetSchema).default([]),
    logGroup: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("Log group; null reads the function's LoggingConfig."),
    tables: tablesSchema,
    terraform: terraformEnvSchema,
    notifyWebhookEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name")
      .nullable()
      .default(null)
      .describe("Name of an environment variable holding a Slack-compatible webhook URL."),
    deployRole: deployRoleSchema
      .nullable()
      .default(null)
      .describe(
        "Role that guarded changes assume (with the person's MFA code); null: the caller's credentials.",
      ),
  })
  .strict();

export const cacheRuleSchema = z
  .object({
    match: nonEmpty.describe("Glob matched against the file's path in dist/, e.g. 'assets/**'."),
    cacheControl: nonEmpty.describe("Cache-Control header for matching files."),
  })
  .strict();

export const backendSchema = z
  .object({
    dir: z.string().default("backend"),
    include: z.array(nonEmpty).default(["app/**", "lambda_handler.py"]),
    dependencyDirs: z
      .array(nonEmpty)
      .default(["lambda_deps"])
      .describe("Folders whose content goes at the zip root."),
    exclude: z.array(nonEmpty).default(["**/*.pyc", "**/__pycache__/**"]),
    testCommand: z.string().min(1).nullable().default("python3 -m pytest -q"),
    testTimeoutSeconds: z.number().int().positive().default(600),
  })
  .strict();

export const frontendSchema = z
  .object({
    dir: z.string().default("frontend-pwa"),
    buildCommand: z.string().min(1).nullable().default("npm run build"),
    distDir: z.string().default("dist"),
    testCommand: z.string().min(1).nullable().default("npm test"),
    testTimeoutSeconds: z.number().int().positive().default(600),
    buildTimeoutSeconds: z.number().int().positive().default(900),
    entryPoints: z
      .array(nonEmpty)
      .default(["index.html", "sw.js", "manifest.webmanifest", "registerSW.js"])
      .describe("Uploaded last and never cached."),
    cacheRules: z
      .array(cacheRuleSchema)
      .default([{ match: "assets/**", cacheControl: "public, max-age=31536000, immutable" }])
      .describe("First match wins; entry points and other files get 'no-cache' / the default."),
    defaultCacheControl: z.string().default("public, max-age=300"),
    uploadDotfiles: z
      .array(nonEmpty)
      .default([".well-known/**"])
      .describe(
        "Globs of dist/ paths with a segment starting with '.' that are uploaded; every other such file is skipped and listed in the plan.",
      ),
    staleGraceHours: z
      .number()
      .nonnegative()
      .default(72)
      .describe("Files no longer in the build are kept this long."),
    invalidateAllThreshold: z
      .number()
      .int()
      .positive()
      .default(15)
      .describe("More changed paths than this → '/*'."),
  })
  .strict();

/**
 * How a Lambda canary (deploy_lambda strategy "canary") is judged: the new version's figures
 * from its own log streams against the stable version's over the same window.
 */
export const canaryTuningSchema = z
  .object({
    maxErrorRatePoints: z
      .number()
      .min(0, "must be 0 or more (percentage points)")
      .max(100, "must be at most 100 (percentage points)")
      .default(1)
      .describe(
        "How many percentage points the canary's error rate (invocations that logged ERROR or worse) may exceed the stable version's; more rolls it back.",
      ),
    maxTimeoutRatePoints: z
      .number()
      .min(0, "must be 0 or more (percentage points)")
      .max(100, "must be at most 100 (percentage points)")
      .default(1)
      .describe("How many percentage points the canary's timeout rate may exceed the stable version's."),
    maxP95IncreasePercent: z
      .number()
      .min(0, "must be 0 or more (percent)")
      .max(10_000, "must be at most 10000 (percent)")
      .default(50)
      .describe(
        "How much higher (in percent) the canary's p95 duration may be than the stable version's; skipped while the stable version has no invocations.",
      ),
    minInvocations: z
      .number()
      .int()
      .min(0, "must be 0 or more")
      .max(1_000_000, "must be at most 1000000")
      .default(20)
      .describe(
        "Invocations the canary must have served for its figures to count; fewer by the end of the bake rolls it back (0: judge on what there is, health alone when there was no traffic).",
      ),
    checkIntervalSeconds: z
      .number()
      .min(0.1, "must be at least 0.1 (seconds)")
      .max(60, "must be at most 60 (seconds)")
      .default(5)
      .describe(
        "How often the bake reads the logs and health targets, reports progress and records its figures.",
      ),
    maxWaitMinutes: z
      .number()
      .min(0, "must be 0 or more (minutes)")
      .max(60, "must be at most 60 (minutes)")
      .default(10)
      .describe(
        "A canary whose bake is longer than this does not hold the call: the tool answers once the release started (as with wait: false) and the server carries it on.",
      ),
  })
  .strict();

export const releaseTuningSchema = z
  .object({
    lockTtlSeconds: z
      .number()
      .int()
      .min(5)
      .max(900)
      .default(120)
      .describe("Deploy lock lifetime without a heartbeat: a dead deploy frees the env after this long."),
    undoBudgetSeconds: z
      .number()
      .min(1)
      .max(600)
      .default(45)
      .describe(
        "How long the automatic undo keeps retrying before it reports what is live and how to fix it.",
      ),
    requestTimeoutSeconds: z
      .number()
      .min(1)
      .max(300)
      .default(20)
      .describe("An AWS request with no answer for this long is abandoned and retried."),
    canary: canaryTuningSchema
      .default(canaryTuningSchema.parse({}))
      .describe("Thresholds and pace of a Lambda canary (deploy_lambda strategy canary)."),
  })
  .strict();

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    environments: z.record(
      z.string().regex(/^[a-z][a-z0-9-]*$/, "env names are lowercase"),
      environmentSchema,
    ),
    backend: backendSchema.default(backendSchema.parse({})),
    frontend: frontendSchema.default(frontendSchema.parse({})),
    preflightMaxAgeMinutes: z.number().positive().default(30),
    tokenTtlMinutes: z.number().positive().max(60).default(10),
    requireElicitation: z
      .boolean()
      .default(false)
      .describe("Refuse protected mutations when the client cannot ask."),
    readOnly: z.boolean().default(false).describe("Hide destructive tools."),
    allowAnyHost: z
      .boolean()
      .default(false)
      .describe(
        "Let health_check call ad-hoc target URLs on any host. By default an ad-hoc URL must be on a host of the env's configured health targets or frontend url.",
      ),
    release: releaseTuningSchema.default(releaseTuningSchema.parse({})),
    statefulTypes: z
      .array(nonEmpty)
      .default([
        "aws_dynamodb_table",
        "aws_s3_bucket",
        "aws_db_instance",
        "aws_rds_cluster",
        "aws_elasticache_cluster",
        "aws_elasticache_replication_group",
        "aws_efs_file_system",
        "aws_kms_key",
        "aws_route53_zone",
        "aws_cognito_user_pool",
      ])
      .describe("Terraform types whose delete/replace is a data-loss risk."),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type EnvConfig = z.infer<typeof environmentSchema>;
export type HealthTarget = z.infer<typeof healthTargetSchema>;
export type BackendConfig = z.infer<typeof backendSchema>;
export type FrontendConfig = z.infer<typeof frontendSchema>;
export type CanaryTuning = z.infer<typeof canaryTuningSchema>;
