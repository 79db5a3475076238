import { describe, expect, it } from "vitest";
import { analysePlan, changeKind } from "../../src/infra/plan-analysis.js";

const change = (address: string, type: string, actions: string[], extra: Record<string, unknown> = {}) => ({
  address,
  type,
  mode: "managed",
  change: { actions },
  ...extra,
});

describe("plan analysis", () => {
  it("classifies both replace orders, and ignores no-op, read and data sources", () => {
    const analysis = analysePlan(
      {
        resource_changes: [
          change("aws_dynamodb_table.orders", "aws_dynamodb_table", ["delete", "create"], {
            action_reason: "replace_because_cannot_update",
          }),
          change("aws_s3_bucket.site", "aws_s3_bucket", ["create", "delete"]),
          change("aws_lambda_function.api", "aws_lambda_function", ["update"]),
          change("aws_iam_role.api", "aws_iam_role", ["create"]),
          change("aws_kms_key.data", "aws_kms_key", ["delete"], {
            action_reason: "delete_because_no_resource_config",
          }),
          change("aws_sqs_queue.jobs", "aws_sqs_queue", ["delete"]),
          change("aws_route53_zone.main", "aws_route53_zone", ["no-op"]),
          change("data.aws_caller_identity.me", "aws_caller_identity", ["read"], { mode: "data" }),
        ],
      },
      ["aws_dynamodb_table", "aws_s3_bucket", "aws_kms_key", "aws_route53_zone"],
    );
    expect(analysis.counts).toEqual({ create: 1, update: 1, delete: 2, replace: 2 });
    expect(analysis.changes.map((c) => c.address)).toEqual([
      "aws_dynamodb_table.orders",
      "aws_s3_bucket.site",
      "aws_lambda_function.api",
      "aws_iam_role.api",
      "aws_kms_key.data",
      "aws_sqs_queue.jobs",
    ]);
    expect(analysis.changes[0]).toEqual({
      address: "aws_dynamodb_table.orders",
      type: "aws_dynamodb_table",
      actions: ["delete", "create"],
      actionReason: "replace_because_cannot_update",
      dataLossRisk: true,
    });
    // A create or update of a stateful type loses nothing; a delete of a stateless one neither.
    expect(analysis.dataLossRisks).toEqual([
      "aws_dynamodb_table.orders",
      "aws_s3_bucket.site",
      "aws_kms_key.data",
    ]);
  });

  it("reads a plan without resource changes as empty", () => {
    expect(analysePlan({ format_version: "1.2" }, [])).toEqual({
      changes: [],
      counts: { create: 0, update: 0, delete: 0, replace: 0 },
      dataLossRisks: [],
    });
  });

  it("names action lists", () => {
    expect(changeKind(["create", "delete"])).toBe("replace");
    expect(changeKind(["delete", "create"])).toBe("replace");
    expect(changeKind(["forget"])).toBe("other");
  });
});
