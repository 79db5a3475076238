import { createHash } from "node:crypto";
import {
  type CloudFrontClient,
  CreateInvalidationCommand,
  GetDistributionCommand,
  GetInvalidationCommand,
} from "@aws-sdk/client-cloudfront";
import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  FilterLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { type DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import {
  CreateAliasCommand,
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  type LambdaClient,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
} from "@aws-sdk/client-lambda";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createFunction } from "../../src/emulator/seed.js";
import {
  createBucket,
  createLambdaRole,
  createSiteDistribution,
  createTestFunction,
  zipOf,
} from "./aws-fixtures.js";
import { startFaultProxy, useFaultProxy } from "./fault-proxy.js";
import { useMoto } from "./moto.js";

const moto = useMoto();
const proxy = useFaultProxy(moto);

const BUCKET = "fault-proxy";
const SEEDED = "seeded.txt";
const FN = "fault-proxy-fn";
const LOG_GROUP = "/fault-proxy/logs";

/** Through the proxy, one attempt each: a fault reaches the test as the SDK's error. */
let s3: S3Client;
let lambda: LambdaClient;
let sts: STSClient;
let cloudFront: CloudFrontClient;
let logs: CloudWatchLogsClient;
let dynamoDb: DynamoDBClient;
/** Straight to moto: what the faulted requests left behind. */
let motoS3: S3Client;
let motoLambda: LambdaClient;
let distributionId: string;

beforeAll(async () => {
  const direct = moto.current.clients();
  motoS3 = await direct.s3();
  motoLambda = await direct.lambda();
  await createBucket(motoS3, BUCKET);
  await motoS3.send(new PutObjectCommand({ Bucket: BUCKET, Key: SEEDED, Body: "seeded" }));
  await createTestFunction(moto.current, motoLambda, { name: FN });
  distributionId = await createSiteDistribution(await direct.cloudFront(), {
    callerReference: "fault-proxy",
    comment: "fault-proxy",
    siteBucket: BUCKET,
  });
  await (await direct.logs()).send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP }));

  const via = proxy.current.clients("ap-south-1", { maxAttempts: 1 });
  s3 = await via.s3();
  lambda = await via.lambda();
  sts = await via.sts();
  cloudFront = await via.cloudFront();
  logs = await via.logs();
  dynamoDb = await via.dynamoDb();
});

afterEach(() => proxy.current.clear());

interface SdkError {
  name: string;
  code?: string;
  message: string;
  $metadata?: { httpStatusCode?: number };
}

async function failure(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (error) {
    return error as SdkError;
  }
  throw new Error("expected the call to fail");
}

/** The object's body in moto, or null when moto has none. */
async function inMoto(key: string): Promise<string | null> {
  try {
    const out = await motoS3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return (await out.Body?.transformToString()) ?? null;
  } catch (error) {
    if ((error as SdkError).name === "NoSuchKey") return null;
    throw error;
  }
}

const put = (key: string, body: string, client = s3) =>
  client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

const getSeeded = async (client = s3) =>
  (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: SEEDED }))).Body?.transformToString();

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("base64");

describe("fault proxy: untouched requests", () => {
  it("forwards every operation unchanged and logs its service and operation name", async () => {
    const p = proxy.current;
    const from = p.log.length;
    const bucket = "fault-proxy-ops";
    await createBucket(s3, bucket);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a.txt", Body: "alpha" }));
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "a.txt" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "a.txt" }));
    expect(await got.Body?.transformToString()).toBe("alpha");
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "b.txt", CopySource: `${bucket}/a.txt` }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(["a.txt", "b.txt"]);
    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "c.txt" }));
    const part = await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: "c.txt",
        UploadId: upload.UploadId,
        PartNumber: 1,
        Body: "gamma",
      }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: "c.txt",
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: [{ ETag: part.ETag, PartNumber: 1 }] },
      }),
    );
    const dropped = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "d.txt" }));
    await s3.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: "d.txt", UploadId: dropped.UploadId }),
    );
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "a.txt" }));
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: "b.txt" }] } }));

    const name = "fault-proxy-ops-fn";
    const role = await createLambdaRole(moto.current);
    await createFunction(lambda, { name, role, code: { ZipFile: await zipOf({ "a.py": "1" }) } });
    await lambda.send(new GetFunctionCommand({ FunctionName: name }));
    await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    const code = await zipOf({ "a.py": "2" });
    await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: code }));
    const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    await lambda.send(
      new CreateAliasCommand({ FunctionName: name, Name: "live", FunctionVersion: "$LATEST" }),
    );
    await lambda.send(
      new UpdateAliasCommand({ FunctionName: name, Name: "live", FunctionVersion: v1.Version }),
    );
    const alias = await lambda.send(new GetAliasCommand({ FunctionName: name, Name: "live" }));

    const distribution = await createSiteDistribution(cloudFront, {
      callerReference: "fault-proxy-ops",
      comment: "ops",
      siteBucket: bucket,
    });
    await cloudFront.send(new GetDistributionCommand({ Id: distribution }));
    const invalidation = await cloudFront.send(
      new CreateInvalidationCommand({
        DistributionId: distribution,
        InvalidationBatch: { CallerReference: "ops", Paths: { Quantity: 1, Items: ["/*"] } },
      }),
    );
    await cloudFront.send(
      new GetInvalidationCommand({ DistributionId: distribution, Id: invalidation.Invalidation?.Id }),
    );
    await logs.send(new CreateLogGroupCommand({ logGroupName: "/fault-proxy/ops" }));
    await logs.send(new FilterLogEventsCommand({ logGroupName: "/fault-proxy/ops" }));
    await sts.send(new GetCallerIdentityCommand({}));
    await dynamoDb.send(new ListTablesCommand({}));

    // State read back from moto: the requests went through unchanged.
    const left = await motoS3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(left.Contents?.map((o) => o.Key)).toEqual(["c.txt"]);
    const assembled = await motoS3.send(new GetObjectCommand({ Bucket: bucket, Key: "c.txt" }));
    expect(await assembled.Body?.transformToString()).toBe("gamma");
    const live = await motoLambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    expect(live.CodeSha256).toBe(sha256(code));
    expect(alias.FunctionVersion).toBe(v1.Version);

    const seen = p.log.slice(from);
    expect(seen.every((r) => r.fault === null && r.status !== null && r.status < 300)).toBe(true);
    expect(seen.map((r) => `${r.service} ${r.operation}`)).toEqual([
      "s3 CreateBucket",
      "s3 PutObject",
      "s3 HeadObject",
      "s3 GetObject",
      "s3 HeadBucket",
      "s3 CopyObject",
      "s3 ListObjectsV2",
      "s3 CreateMultipartUpload",
      "s3 UploadPart",
      "s3 CompleteMultipartUpload",
      "s3 CreateMultipartUpload",
      "s3 AbortMultipartUpload",
      "s3 DeleteObject",
      "s3 DeleteObjects",
      "lambda CreateFunction",
      "lambda GetFunction",
      "lambda GetFunctionConfiguration",
      "lambda UpdateFunctionCode",
      "lambda PublishVersion",
      "lambda CreateAlias",
      "lambda UpdateAlias",
      "lambda GetAlias",
      "cloudfront CreateDistribution",
      "cloudfront GetDistribution",
      "cloudfront CreateInvalidation",
      "cloudfront GetInvalidation",
      "logs CreateLogGroup",
      "logs FilterLogEvents",
      "sts GetCallerIdentity",
      "dynamodb ListTables",
    ]);
    expect(seen[1]).toMatchObject({ method: "PUT", path: `/${bucket}/a.txt`, bucket, key: "a.txt" });
  });
});

describe("fault proxy: fail", () => {
  const cases = [
    { service: "s3", operation: "GetObject", status: 403, code: "AccessDenied", call: () => getSeeded() },
    {
      service: "lambda",
      operation: "GetFunction",
      status: 429,
      code: "TooManyRequestsException",
      call: () => lambda.send(new GetFunctionCommand({ FunctionName: FN })),
    },
    {
      service: "cloudfront",
      operation: "GetDistribution",
      status: 404,
      code: "NoSuchDistribution",
      call: () => cloudFront.send(new GetDistributionCommand({ Id: distributionId })),
    },
    {
      service: "logs",
      operation: "FilterLogEvents",
      status: 400,
      code: "ResourceNotFoundException",
      call: () => logs.send(new FilterLogEventsCommand({ logGroupName: LOG_GROUP })),
    },
    {
      service: "sts",
      operation: "GetCallerIdentity",
      status: 400,
      code: "ExpiredTokenException",
      call: () => sts.send(new GetCallerIdentityCommand({})),
    },
    {
      service: "dynamodb",
      operation: "ListTables",
      status: 500,
      code: "InternalServerError",
      call: () => dynamoDb.send(new ListTablesCommand({})),
    },
  ];

  it.each(cases)("answers $service $operation with an error the SDK names $code", async (c) => {
    await c.call(); // moto serves it: the error below can only be the proxy's
    const rule = proxy.current.add({
      match: { service: c.service, operation: c.operation },
      action: { kind: "fail", status: c.status, code: c.code, message: "injected by the test" },
      times: 1,
    });
    const error = await failure(c.call());
    expect(error.name).toBe(c.code);
    expect(error.message).toBe("injected by the test");
    expect(error.$metadata?.httpStatusCode).toBe(c.status);
    expect(await rule.waitForHit()).toMatchObject({
      fault: "fail",
      status: c.status,
      operation: c.operation,
    });
    await c.call(); // times: 1 is spent
    expect(rule.hits).toBe(1);
  });

  it("does not forward a failed PutObject, and the SDK retries a 5xx when allowed", async () => {
    proxy.current.add({
      match: { operation: "PutObject", key: "fail.txt" },
      action: { kind: "fail", status: 500, code: "InternalError" },
      times: 1,
    });
    expect((await failure(put("fail.txt", "one"))).name).toBe("InternalError");
    expect(await inMoto("fail.txt")).toBeNull();

    const retrying = await proxy.current.clients("ap-south-1", { maxAttempts: 3 }).s3();
    proxy.current.add({
      match: { operation: "PutObject", key: "fail.txt" },
      action: { kind: "fail", status: 500, code: "InternalError" },
      times: 2,
    });
    await put("fail.txt", "three", retrying);
    expect(await inMoto("fail.txt")).toBe("three");
    expect(proxy.current.count({ operation: "PutObject", key: "fail.txt" })).toBe(4);
  });

  it("has no body for a HEAD answer, so the SDK names the error by its status", async () => {
    proxy.current.add({
      match: { operation: "HeadObject" },
      action: { kind: "fail", status: 404, code: "NoSuchKey" },
      times: 1,
    });
    const error = await failure(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: SEEDED })));
    expect(error.name).toBe("NotFound");
  });
});

describe("fault proxy: reset", () => {
  it("breaks the connection before moto sees the request; later requests on new sockets work", async () => {
    const rule = proxy.current.add({
      match: { operation: "PutObject", key: "reset.txt" },
      action: { kind: "reset" },
      times: 1,
    });
    const error = await failure(put("reset.txt", "lost"));
    expect(error).toMatchObject({ name: "TimeoutError", code: "ECONNRESET" });
    expect(error.$metadata?.httpStatusCode).toBeUndefined();
    expect(await inMoto("reset.txt")).toBeNull();
    expect(await rule.waitForHit()).toMatchObject({ fault: "reset", status: null });
    await put("reset.txt", "kept");
    expect(await inMoto("reset.txt")).toBe("kept");
  });

  it("fails an STS call with ECONNRESET, which the SDK retries by default", async () => {
    proxy.current.add({ match: { service: "sts" }, action: { kind: "reset" }, times: 1 });
    expect((await failure(sts.send(new GetCallerIdentityCommand({})))).code).toBe("ECONNRESET");

    const before = proxy.current.count({ operation: "GetCallerIdentity" });
    proxy.current.add({ match: { service: "sts" }, action: { kind: "reset" }, times: 1 });
    const retrying = await proxy.current.clients("ap-south-1", { maxAttempts: 2 }).sts();
    const me = await retrying.send(new GetCallerIdentityCommand({}));
    expect(me.Account).toMatch(/^\d{12}$/);
    expect(proxy.current.count({ operation: "GetCallerIdentity" }) - before).toBe(2);
  });
});

describe("fault proxy: delay", () => {
  it("forwards a GetObject and a Lambda call after the delay", async () => {
    proxy.current.add({ match: { operation: "GetObject", key: SEEDED }, action: { kind: "delay", ms: 300 } });
    proxy.current.add({
      match: { operation: "GetFunctionConfiguration" },
      action: { kind: "delay", ms: 200 },
    });
    let started = performance.now();
    expect(await getSeeded()).toBe("seeded");
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
    started = performance.now();
    const fn = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: FN }));
    expect(fn.FunctionName).toBe(FN);
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
  });
});

describe("fault proxy: drop-answer", () => {
  it("applies a PutObject in moto while the client sees its connection reset", async () => {
    const rule = proxy.current.add({
      match: { operation: "PutObject", key: "dropped.txt" },
      action: { kind: "drop-answer" },
      times: 1,
    });
    // waitForHit resolves only once moto has answered: the object must already be there.
    const atHit = rule.waitForHit().then(async (record) => ({ record, body: await inMoto("dropped.txt") }));
    const error = await failure(put("dropped.txt", "applied"));
    expect(error).toMatchObject({ name: "TimeoutError", code: "ECONNRESET" });
    const { record, body } = await atHit;
    expect(body).toBe("applied");
    expect(record).toMatchObject({ fault: "drop-answer", status: 200 });
  });

  it("applies UpdateFunctionCode in moto while the client sees a network error", async () => {
    const code = await zipOf({ "lambda_handler.py": "def handler(e, c):\n    return 2\n" });
    proxy.current.add({
      match: { operation: "UpdateFunctionCode" },
      action: { kind: "drop-answer" },
      times: 1,
    });
    const error = await failure(
      lambda.send(new UpdateFunctionCodeCommand({ FunctionName: FN, ZipFile: code })),
    );
    expect(error.code).toBe("ECONNRESET");
    const live = await motoLambda.send(new GetFunctionConfigurationCommand({ FunctionName: FN }));
    expect(live.CodeSha256).toBe(sha256(code));
  });

  it("lets the SDK's retry send the PutObject twice by default", async () => {
    proxy.current.add({
      match: { operation: "PutObject", key: "twice.txt" },
      action: { kind: "drop-answer" },
      times: 1,
    });
    const retrying = await proxy.current.clients("ap-south-1", { maxAttempts: 2 }).s3();
    await put("twice.txt", "body", retrying);
    expect(proxy.current.count({ operation: "PutObject", key: "twice.txt" })).toBe(2);
    expect(await inMoto("twice.txt")).toBe("body");
  });
});

describe("fault proxy: hang", () => {
  it("holds a PutObject unforwarded until release(), then forwards it", async () => {
    const rule = proxy.current.add({
      match: { operation: "PutObject", key: "held.txt" },
      action: { kind: "hang" },
    });
    const pending = put("held.txt", "late");
    const record = await rule.waitForHit();
    expect(record).toMatchObject({ fault: "hang", status: null, key: "held.txt" });
    expect(await inMoto("held.txt")).toBeNull();
    // Other requests pass while one is held.
    expect(await getSeeded()).toBe("seeded");
    rule.release();
    await pending;
    expect(await inMoto("held.txt")).toBe("late");
    expect(record.status).toBe(200);
    // A released rule holds nothing more.
    await put("held.txt", "again");
    expect(rule.hits).toBe(1);
  });

  it("ends held requests without an answer on stop()", async () => {
    const own = await startFaultProxy(moto.current.endpoint);
    const client = await own.clients("ap-south-1", { maxAttempts: 1 }).sts();
    const rule = own.add({ match: { operation: "GetCallerIdentity" }, action: { kind: "hang" } });
    const pending = failure(client.send(new GetCallerIdentityCommand({})));
    await rule.waitForHit();
    await own.stop();
    const error = await pending;
    // The SDK's node-http-handler names every broken connection TimeoutError.
    expect(error).toMatchObject({ name: "TimeoutError", code: "ECONNRESET" });
    expect(error.$metadata?.httpStatusCode).toBeUndefined();
  });
});

describe("fault proxy: rule limits", () => {
  const outcome = (promise: Promise<unknown>) =>
    promise.then(
      () => "ok",
      (error: SdkError) => error.name,
    );

  it("skips the first N matching requests and applies `times` after them", async () => {
    const rule = proxy.current.add({
      match: { operation: "PutObject", key: "skip.txt" },
      action: { kind: "fail", status: 500, code: "InternalError" },
      skip: 2,
      times: 1,
    });
    const outcomes: string[] = [];
    for (const body of ["1", "2", "3", "4"]) outcomes.push(await outcome(put("skip.txt", body)));
    expect(outcomes).toEqual(["ok", "ok", "InternalError", "ok"]);
    expect(rule.hits).toBe(1);
    expect(await inMoto("skip.txt")).toBe("4");
  });

  it("stays active only forMs after its first hit", async () => {
    const forMs = 400;
    const rule = proxy.current.add({
      match: { operation: "GetObject", key: SEEDED },
      action: { kind: "fail", status: 503, code: "SlowDown" },
      forMs,
    });
    let failures = 0;
    for (let i = 0; i < 10_000; i++) {
      if ((await outcome(getSeeded())) === "ok") break;
      failures++;
    }
    const first = await rule.waitForHit();
    const faulted = proxy.current.log.filter(
      (r) => r.fault === "fail" && r.key === SEEDED && r.seq >= first.seq,
    );
    const passed = proxy.current.log.at(-1);
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(rule.hits).toBe(failures);
    expect(faulted.every((r) => r.at - first.at < forMs)).toBe(true);
    expect(passed?.fault).toBeNull();
    expect((passed?.at ?? 0) - first.at).toBeGreaterThanOrEqual(forMs);
  });

  it("draws probability from the seeded PRNG: the same seed fails the same requests", async () => {
    async function pattern(seed: number): Promise<string> {
      const own = await startFaultProxy(moto.current.endpoint, { seed });
      try {
        const client = await own.clients("ap-south-1", { maxAttempts: 1 }).sts();
        own.add({
          match: { operation: "GetCallerIdentity" },
          action: { kind: "fail", status: 400, code: "Throttling" },
          probability: 0.5,
        });
        let marks = "";
        for (let i = 0; i < 24; i++)
          marks += (await outcome(client.send(new GetCallerIdentityCommand({})))) === "ok" ? "." : "x";
        return marks;
      } finally {
        await own.stop();
      }
    }
    const first = await pattern(7);
    expect(await pattern(7)).toBe(first);
    expect(first).toMatch(/x/);
    expect(first).toMatch(/\./);
    expect(await pattern(8)).not.toBe(first);
  });

  it("waitForHit(n) resolves with the nth hit's record, even when asked before it happens", async () => {
    const rule = proxy.current.add({
      match: { service: "sts" },
      action: { kind: "fail", status: 400, code: "Throttling" },
      times: 3,
    });
    const second = rule.waitForHit(2);
    await failure(sts.send(new GetCallerIdentityCommand({})));
    await failure(sts.send(new GetCallerIdentityCommand({})));
    const record = await second;
    expect(record.seq).toBe(proxy.current.log.at(-1)?.seq);
    expect((await rule.waitForHit(1)).seq).toBe(record.seq - 1);
    expect(rule.hits).toBe(2);
  });

  it("matches on body, header, method and path, in rules and in count()", async () => {
    proxy.current.add({
      match: { bucket: BUCKET, bodyIncludes: "poison" },
      action: { kind: "fail", status: 400, code: "InvalidRequest" },
    });
    proxy.current.add({
      match: { method: "put", path: /^\/fault-proxy\/match\//, header: { "x-amz-meta-tag": /^bad/ } },
      action: { kind: "fail", status: 400, code: "InvalidArgument" },
    });
    const tagged = (key: string, tag: string) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "fine", Metadata: { tag } }));
    expect(await outcome(put("match/a.txt", "fine"))).toBe("ok");
    expect(await outcome(put("match/b.txt", "a poison pill"))).toBe("InvalidRequest");
    expect(await outcome(tagged("match/c.txt", "bad-1"))).toBe("InvalidArgument");
    expect(await outcome(tagged("match/d.txt", "good"))).toBe("ok");
    expect(await outcome(tagged("other.txt", "bad-2"))).toBe("ok");
    expect([await inMoto("match/b.txt"), await inMoto("match/c.txt"), await inMoto("match/d.txt")]).toEqual([
      null,
      null,
      "fine",
    ]);
    expect(proxy.current.count({ bucket: BUCKET, bodyIncludes: "poison" })).toBe(1);
    expect(proxy.current.count({ key: /^match\//, method: "PUT" })).toBe(4);
    expect(proxy.current.count({ header: { "x-amz-meta-tag": /^bad/ } })).toBe(2);
  });
});
