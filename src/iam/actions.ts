/**
 * Every AWS request the product can send, as the IAM actions it needs and what they are
 * scoped to. The policy generator reads this table; an architecture test collects every SDK
 * command, paginator and waiter the product's code imports and fails when one is missing
 * here, so the generated policies cannot fall behind the code.
 */

/** What an action's Resource is, resolved per env by the policy generator. */
export type ResourceScope =
  /** The env's function and its versions/aliases. */
  | "function"
  /** The artifact bucket and the env's site buckets themselves (listing, tags). */
  | "buckets"
  /**
   * The env's keys in the artifact bucket (its zips, locks, tokens, records, the content
   * store) and every object of its site buckets.
   */
  | "objects"
  | "distribution"
  | "logGroup"
  /** Log group listing: DescribeLogGroups is authorised on the account's log-group:* */
  | "logGroups"
  | "tables"
  /** Actions IAM cannot scope to a resource (dynamodb:ListTables). */
  | "account"
  /** The env's deploy role (sts:AssumeRole by the caller). */
  | "deployRole";

/** read: the caller's read-only tools; deploy: the role's guarded changes; none: no permission needed. */
export type ActionKind = "read" | "deploy" | "assume" | "none";

export interface CommandAccess {
  actions: readonly string[];
  scope: ResourceScope;
  kind: ActionKind;
}

/** Keyed by the SDK's client package suffix and the command (or paginator/waiter/helper) name. */
export const AWS_COMMANDS: Readonly<Record<string, CommandAccess>> = {
  // Lambda
  "lambda:GetFunctionCommand": { actions: ["lambda:GetFunction"], scope: "function", kind: "read" },
  "lambda:GetFunctionConfigurationCommand": {
    actions: ["lambda:GetFunctionConfiguration"],
    scope: "function",
    kind: "read",
  },
  "lambda:GetAliasCommand": { actions: ["lambda:GetAlias"], scope: "function", kind: "read" },
  "lambda:waitUntilFunctionUpdatedV2": { actions: ["lambda:GetFunction"], scope: "function", kind: "deploy" },
  "lambda:UpdateFunctionCodeCommand": {
    actions: ["lambda:UpdateFunctionCode"],
    scope: "function",
    kind: "deploy",
  },
  "lambda:PublishVersionCommand": { actions: ["lambda:PublishVersion"], scope: "function", kind: "deploy" },
  "lambda:UpdateAliasCommand": { actions: ["lambda:UpdateAlias"], scope: "function", kind: "deploy" },
  // S3: the artifact bucket (zips, locks, tokens, records, content store) and the site buckets
  "s3:HeadBucketCommand": { actions: ["s3:ListBucket"], scope: "buckets", kind: "read" },
  "s3:ListObjectsV2Command": { actions: ["s3:ListBucket"], scope: "buckets", kind: "read" },
  "s3:GetBucketTaggingCommand": { actions: ["s3:GetBucketTagging"], scope: "buckets", kind: "read" },
  "s3:GetObjectCommand": { actions: ["s3:GetObject"], scope: "objects", kind: "read" },
  "s3:HeadObjectCommand": { actions: ["s3:GetObject"], scope: "objects", kind: "read" },
  "s3:PutObjectCommand": { actions: ["s3:PutObject"], scope: "objects", kind: "deploy" },
  "s3:CopyObjectCommand": { actions: ["s3:GetObject", "s3:PutObject"], scope: "objects", kind: "deploy" },
  "s3:DeleteObjectCommand": { actions: ["s3:DeleteObject"], scope: "objects", kind: "deploy" },
  "s3:DeleteObjectsCommand": { actions: ["s3:DeleteObject"], scope: "objects", kind: "deploy" },
  // The staging sweep (deploy/lambda/staged-upload.ts): uploads a killed process left behind.
  "s3:ListMultipartUploadsCommand": {
    actions: ["s3:ListBucketMultipartUploads"],
    scope: "buckets",
    kind: "deploy",
  },
  "s3:AbortMultipartUploadCommand": {
    actions: ["s3:AbortMultipartUpload"],
    scope: "objects",
    kind: "deploy",
  },
  // The staged Lambda upload (deploy/lambda/staged-upload.ts) sends its parts itself.
  "s3:CreateMultipartUploadCommand": { actions: ["s3:PutObject"], scope: "objects", kind: "deploy" },
  "s3:UploadPartCommand": { actions: ["s3:PutObject"], scope: "objects", kind: "deploy" },
  "s3:CompleteMultipartUploadCommand": { actions: ["s3:PutObject"], scope: "objects", kind: "deploy" },
  // lib-storage's Upload: CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload.
  "lib-storage:Upload": {
    actions: ["s3:PutObject", "s3:AbortMultipartUpload"],
    scope: "objects",
    kind: "deploy",
  },
  // CloudFront
  "cloudfront:GetDistributionCommand": {
    actions: ["cloudfront:GetDistribution"],
    scope: "distribution",
    kind: "read",
  },
  "cloudfront:ListTagsForResourceCommand": {
    actions: ["cloudfront:ListTagsForResource"],
    scope: "distribution",
    kind: "read",
  },
  "cloudfront:GetInvalidationCommand": {
    actions: ["cloudfront:GetInvalidation"],
    scope: "distribution",
    kind: "deploy",
  },
  "cloudfront:CreateInvalidationCommand": {
    actions: ["cloudfront:CreateInvalidation"],
    scope: "distribution",
    kind: "deploy",
  },
  // CloudWatch Logs
  "cloudwatch-logs:FilterLogEventsCommand": {
    actions: ["logs:FilterLogEvents"],
    scope: "logGroup",
    kind: "read",
  },
  "cloudwatch-logs:StartLiveTailCommand": {
    actions: ["logs:StartLiveTail"],
    scope: "logGroup",
    kind: "read",
  },
  "cloudwatch-logs:DescribeLogGroupsCommand": {
    actions: ["logs:DescribeLogGroups"],
    scope: "logGroups",
    kind: "read",
  },
  // DynamoDB
  "dynamodb:paginateListTables": { actions: ["dynamodb:ListTables"], scope: "account", kind: "read" },
  "dynamodb:DescribeTableCommand": { actions: ["dynamodb:DescribeTable"], scope: "tables", kind: "read" },
  "dynamodb:DescribeContinuousBackupsCommand": {
    actions: ["dynamodb:DescribeContinuousBackups"],
    scope: "tables",
    kind: "read",
  },
  // STS: who am I needs no permission; the deploy role is assumed by the caller.
  "sts:GetCallerIdentityCommand": { actions: [], scope: "account", kind: "none" },
  "sts:AssumeRoleCommand": {
    actions: ["sts:AssumeRole", "sts:SetSourceIdentity"],
    scope: "deployRole",
    kind: "assume",
  },
};
