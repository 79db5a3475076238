import { DescribeLogGroupsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import {
  ListAliasesCommand,
  ListFunctionsCommand,
  ListVersionsByFunctionCommand,
} from "@aws-sdk/client-lambda";
import { ListBucketsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import type { AwsClients } from "../../src/aws/clients.js";

/**
 * Everything in the emulator a tool call could change, read back: every bucket's keys and
 * ETags (artifacts, site files, locks, release records, spent tokens), every function's
 * $LATEST CodeSha256, its versions and aliases, the tables and the log groups. Read from moto
 * directly, so the fuzz asserts on state and not on what the server says it did.
 */
export interface AwsState {
  /** bucket → key → ETag */
  buckets: Record<string, Record<string, string>>;
  functions: Record<
    string,
    { codeSha256: string; versions: Record<string, string>; aliases: Record<string, string> }
  >;
  tables: string[];
  logGroups: string[];
}

export async function readAwsState(clients: AwsClients): Promise<AwsState> {
  const [s3, lambda, dynamoDb, logs] = await Promise.all([
    clients.s3(),
    clients.lambda(),
    clients.dynamoDb(),
    clients.logs(),
  ]);
  const state: AwsState = { buckets: {}, functions: {}, tables: [], logGroups: [] };
  const listed = await s3.send(new ListBucketsCommand({}));
  for (const bucket of listed.Buckets ?? []) {
    const name = bucket.Name as string;
    const objects: Record<string, string> = {};
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: name, ContinuationToken: token }));
      for (const object of page.Contents ?? []) objects[object.Key as string] = object.ETag ?? "";
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    state.buckets[name] = objects;
  }
  let marker: string | undefined;
  do {
    const page = await lambda.send(new ListFunctionsCommand({ Marker: marker }));
    for (const fn of page.Functions ?? []) {
      const name = fn.FunctionName as string;
      const versions = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: name }));
      const aliases = await lambda.send(new ListAliasesCommand({ FunctionName: name }));
      state.functions[name] = {
        codeSha256: fn.CodeSha256 ?? "",
        versions: Object.fromEntries((versions.Versions ?? []).map((v) => [v.Version, v.CodeSha256 ?? ""])),
        aliases: Object.fromEntries((aliases.Aliases ?? []).map((a) => [a.Name, a.FunctionVersion ?? ""])),
      };
    }
    marker = page.NextMarker;
  } while (marker);
  state.tables = ((await dynamoDb.send(new ListTablesCommand({}))).TableNames ?? []).sort();
  state.logGroups = ((await logs.send(new DescribeLogGroupsCommand({}))).logGroups ?? [])
    .map((group) => group.logGroupName as string)
    .sort();
  return state;
}

/** What differs between two read-backs, one line per change (empty: nothing changed). */
export function diffAwsState(before: AwsState, after: AwsState): string[] {
  const changes: string[] = [];
  const names = (a: object, b: object) => [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const bucket of names(before.buckets, after.buckets)) {
    const was = before.buckets[bucket];
    const now = after.buckets[bucket];
    if (!was || !now) {
      changes.push(`bucket ${bucket} ${was ? "deleted" : "created"}`);
      continue;
    }
    for (const key of names(was, now)) {
      if (was[key] === now[key]) continue;
      const what = was[key] === undefined ? "added" : now[key] === undefined ? "deleted" : "overwritten";
      changes.push(`s3://${bucket}/${key} ${what}`);
    }
  }
  for (const fn of names(before.functions, after.functions)) {
    const was = before.functions[fn];
    const now = after.functions[fn];
    if (JSON.stringify(was) !== JSON.stringify(now)) {
      changes.push(`lambda ${fn}: ${JSON.stringify(was)} → ${JSON.stringify(now)}`);
    }
  }
  if (JSON.stringify(before.tables) !== JSON.stringify(after.tables)) {
    changes.push(`tables ${before.tables.join(",")} → ${after.tables.join(",")}`);
  }
  if (JSON.stringify(before.logGroups) !== JSON.stringify(after.logGroups)) {
    changes.push(`log groups ${before.logGroups.join(",")} → ${after.logGroups.join(",")}`);
  }
  return changes;
}

/** Keys of the release machinery (deploy locks, release records, spent confirmation tokens). */
export function releaseMachineryKeys(state: AwsState): string[] {
  return Object.entries(state.buckets).flatMap(([bucket, objects]) =>
    Object.keys(objects)
      .filter((key) => /^(locks|releases|tokens)\//.test(key))
      .map((key) => `s3://${bucket}/${key}`),
  );
}
