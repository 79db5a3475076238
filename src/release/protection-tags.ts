import { isAwsErrorNamed } from "../aws/errors.js";
import type { EnvConfig } from "../config/schema.js";
import type { ToolContext } from "./context.js";

/**
 * The tag that protects a resource whatever the config says. Terraform can set it, so the
 * team's policy lives with the infrastructure: an env pointing at a tagged function, bucket or
 * distribution needs a token, a person's approval and a passing preflight.
 */
export const PROTECTED_TAG = "vyaparai-deploy:protected";

/** Errors that mean "this resource has no tags" (or does not exist yet), not "unknown". */
const NO_TAGS = [
  "NoSuchTagSet",
  "NoSuchTagSetError",
  "NoSuchBucket",
  "ResourceNotFoundException",
  "NoSuchDistribution",
  "NoSuchResource",
];

type TagReader = () => Promise<Array<{ Key?: string | undefined; Value?: string | undefined }>>;

interface TaggedTarget {
  kind: "function" | "site bucket" | "distribution";
  name: string;
  read: TagReader;
}

/**
 * Why the env's targets make it protected, from their tags: one reason per tagged target, or
 * per target whose tags could not be read (safety: an unreadable tag counts as protected, so
 * an IAM policy without the tag-read permission cannot switch protection off).
 */
export async function protectionFromTags(
  ctx: Pick<ToolContext, "env" | "aws" | "identity">,
): Promise<string[]> {
  const targets = tagTargets(ctx);
  const reasons = await Promise.all(
    targets.map(async (target): Promise<string | null> => {
      try {
        const tags = await target.read();
        const tag = tags.find((t) => t.Key === PROTECTED_TAG);
        return tag && tag.Value?.toLowerCase() === "true"
          ? `its ${target.kind} ${target.name} carries the tag ${PROTECTED_TAG}=true`
          : null;
      } catch (error) {
        if (isAwsErrorNamed(error, ...NO_TAGS)) return null;
        const code = (error as { name?: string })?.name;
        const shown = typeof code === "string" && /^[A-Za-z][A-Za-z0-9.]{0,63}$/.test(code) ? code : "Error";
        return `the tags of its ${target.kind} ${target.name} could not be read (${shown}), so it is treated as protected`;
      }
    }),
  );
  return reasons.filter((r): r is string => r !== null);
}

function tagTargets(ctx: Pick<ToolContext, "env" | "aws" | "identity">): TaggedTarget[] {
  const env: EnvConfig = ctx.env;
  const targets: TaggedTarget[] = [
    {
      kind: "function",
      name: env.lambda.functionName,
      read: async () => {
        const { GetFunctionCommand } = await import("@aws-sdk/client-lambda");
        const out = await (await ctx.aws.lambda()).send(
          new GetFunctionCommand({ FunctionName: env.lambda.functionName }),
        );
        return Object.entries(out.Tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
      },
    },
  ];
  for (const bucket of env.frontend.buckets) {
    targets.push({
      kind: "site bucket",
      name: bucket,
      read: async () => {
        const { GetBucketTaggingCommand } = await import("@aws-sdk/client-s3");
        const out = await (await ctx.aws.s3()).send(new GetBucketTaggingCommand({ Bucket: bucket }));
        return out.TagSet ?? [];
      },
    });
  }
  const distributionId = env.frontend.distributionId;
  if (distributionId) {
    targets.push({
      kind: "distribution",
      name: distributionId,
      read: async () => {
        const { ListTagsForResourceCommand } = await import("@aws-sdk/client-cloudfront");
        const { account } = await ctx.identity();
        const out = await (await ctx.aws.cloudFront()).send(
          new ListTagsForResourceCommand({
            Resource: `arn:aws:cloudfront::${account}:distribution/${distributionId}`,
          }),
        );
        return out.Tags?.Items ?? [];
      },
    });
  }
  return targets;
}
