import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  UpdateFunctionCodeCommand,
} from "@aws-sdk/client-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { updateCodeFromS3 } from "../../src/deploy/lambda/code.js";

// moto never answers ResourceConflictException (a function mid-update), so this fault is mocked.
function conflict(): Error {
  return Object.assign(
    new Error("The operation cannot be performed at this time. An update is in progress."),
    {
      name: "ResourceConflictException",
      $metadata: { httpStatusCode: 409 },
    },
  );
}

const SHA = "1+Lz1x5U3mOkBeGgpJTPO85WOV/65TRslHUOsMqRBJk=";
const lambdaMock = mockClient(LambdaClient);

/** An update of function "fn" from s3://b/<key>, expecting SHA. */
function updateOf(key: string) {
  return {
    lambda: new LambdaClient({ region: "ap-south-1" }),
    functionName: "fn",
    bucket: "b",
    key,
    expectedCodeSha256: SHA,
  };
}
afterEach(() => lambdaMock.reset());

describe("updateCodeFromS3 and ResourceConflictException", () => {
  it("retries with backoff until the function accepts the update, then verifies the hash", async () => {
    lambdaMock
      .on(UpdateFunctionCodeCommand)
      .rejectsOnce(conflict())
      .rejectsOnce(conflict())
      .resolves({ CodeSha256: SHA, LastUpdateStatus: "InProgress" });
    lambdaMock
      .on(GetFunctionCommand)
      .resolves({ Configuration: { LastUpdateStatus: "Successful", State: "Active" } });
    lambdaMock
      .on(GetFunctionConfigurationCommand)
      .resolves({ CodeSha256: SHA, LastUpdateStatus: "Successful" });
    const progress: string[] = [];
    await updateCodeFromS3({
      lambda: new LambdaClient({ region: "ap-south-1" }),
      functionName: "fn",
      bucket: "b",
      key: "k.zip",
      expectedCodeSha256: SHA,
      conflictRetryMinMs: 5,
      onProgress: (m) => progress.push(m),
    });
    expect(lambdaMock.commandCalls(UpdateFunctionCodeCommand)).toHaveLength(3);
    expect(lambdaMock.commandCalls(UpdateFunctionCodeCommand)[2]?.args[0].input).toEqual({
      FunctionName: "fn",
      S3Bucket: "b",
      S3Key: "k.zip",
    });
    expect(progress.filter((m) => m.includes("busy with another update"))).toHaveLength(2);
  });

  it("gives up with a message saying what to do when the conflict persists", async () => {
    lambdaMock.on(UpdateFunctionCodeCommand).rejects(conflict());
    await expect(
      updateCodeFromS3({
        lambda: new LambdaClient({ region: "ap-south-1" }),
        functionName: "fn",
        bucket: "b",
        key: "k.zip",
        expectedCodeSha256: SHA,
        conflictRetryMinMs: 1,
      }),
    ).rejects.toThrow(/stayed busy with another update .* Wait for that update to finish/);
    expect(lambdaMock.commandCalls(UpdateFunctionCodeCommand)).toHaveLength(7);
  });

  it("treats a different live CodeSha256 as a failure", async () => {
    lambdaMock.on(UpdateFunctionCodeCommand).resolves({});
    lambdaMock.on(GetFunctionCommand).resolves({ Configuration: { LastUpdateStatus: "Successful" } });
    lambdaMock.on(GetFunctionConfigurationCommand).resolves({ CodeSha256: "" });
    await expect(updateCodeFromS3(updateOf("missing.zip"))).rejects.toThrow(
      /its CodeSha256 is "", not the artifact's/,
    );
  });

  it("waits for an update Lambda answers InProgress, and skips the poll when the answer already says Successful", async () => {
    const input = updateOf("k.zip");
    lambdaMock.on(UpdateFunctionCodeCommand).resolves({ CodeSha256: SHA, LastUpdateStatus: "Successful" });
    await updateCodeFromS3(input);
    expect(lambdaMock.commandCalls(GetFunctionCommand)).toHaveLength(0);
    expect(lambdaMock.commandCalls(GetFunctionConfigurationCommand)).toHaveLength(0);

    lambdaMock.reset();
    lambdaMock.on(UpdateFunctionCodeCommand).resolves({ CodeSha256: SHA, LastUpdateStatus: "InProgress" });
    lambdaMock
      .on(GetFunctionCommand)
      .resolves({ Configuration: { CodeSha256: SHA, LastUpdateStatus: "Successful", State: "Active" } });
    lambdaMock
      .on(GetFunctionConfigurationCommand)
      .resolves({ CodeSha256: SHA, LastUpdateStatus: "Successful" });
    await updateCodeFromS3(input);
    expect(lambdaMock.commandCalls(GetFunctionCommand).length).toBeGreaterThan(0);
  });

  it("still refuses a Successful answer whose CodeSha256 is not the artifact's", async () => {
    lambdaMock
      .on(UpdateFunctionCodeCommand)
      .resolves({ CodeSha256: "other", LastUpdateStatus: "Successful" });
    await expect(updateCodeFromS3(updateOf("k.zip"))).rejects.toThrow(
      /its CodeSha256 is "other", not the artifact's/,
    );
  });
});
