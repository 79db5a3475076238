import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { GetFunctionCommand } from "@aws-sdk/client-lambda";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { AwsClients } from "../aws/clients.js";
import { print, shortToken } from "./session.js";

/**
 * The report's rollback lines: exact CLI commands a person pastes against the real account,
 * and the demo's proof that each one works: it runs the line itself through the built CLI
 * against the emulator (both confirmation steps), then reads back what serves.
 */

/** How the report's commands start: the CLI as installed in the app repo. */
export const CLI_PREFIX = "npx vyaparai-deploy";

export interface RollbackLine {
  component: "lambda" | "frontend";
  /** The exact command, as printed. */
  command: string;
  /** The release it restores; null: the rollback's default (what served before the first release). */
  to: string | null;
  /** What serves once it ran: the Lambda's CodeSha256 or the site's index.html SHA-256 (hex). */
  expect: { codeSha256: string } | { indexHtmlSha256: string };
}

export function rollbackCommand(
  env: string,
  component: RollbackLine["component"],
  to: string | null,
): string {
  return `${CLI_PREFIX} rollback --env ${env} --component ${component}${to ? ` --to ${to}` : ""}`;
}

/** Words a shell passes through unchanged: the printed line is exactly the argv it becomes. */
const PLAIN_WORD = /^[A-Za-z0-9_./:=@,+-]+$/;

/** The argv a pasted line gives the CLI, or why it would not paste as printed. */
export function argvOf(command: string): string[] | string {
  if (!command.startsWith(`${CLI_PREFIX} `)) return `it does not start with "${CLI_PREFIX}"`;
  const words = command.slice(CLI_PREFIX.length).trim().split(/ +/);
  const odd = words.find((word) => !PLAIN_WORD.test(word));
  return odd === undefined ? words : `"${odd}" would need shell quoting`;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  cli: string,
  argv: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...argv], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function parseJson(run: CliRun): Record<string, unknown> | null {
  try {
    const value = JSON.parse(run.stdout) as unknown;
    return value && typeof value === "object" ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export interface VerifyContext {
  /** The built CLI (dist/cli.js). */
  cli: string;
  /** The app repo: where a person runs the line. */
  cwd: string;
  /** The environment the CLI runs with (the emulator's endpoint and credentials). */
  env: Record<string, string>;
  aws: AwsClients;
  functionName: string;
  alias: string | null;
  siteBucket: string;
}

/** What serves now, read from the emulator with the SDK. */
async function liveValue(ctx: VerifyContext, line: RollbackLine): Promise<string> {
  if ("codeSha256" in line.expect) {
    const lambda = await ctx.aws.lambda();
    const out = await lambda.send(
      new GetFunctionCommand({
        FunctionName: ctx.functionName,
        ...(ctx.alias ? { Qualifier: ctx.alias } : {}),
      }),
    );
    return out.Configuration?.CodeSha256 ?? "";
  }
  const s3 = await ctx.aws.s3();
  const out = await s3.send(new GetObjectCommand({ Bucket: ctx.siteBucket, Key: "index.html" }));
  const body = await out.Body?.transformToByteArray();
  return body ? createHash("sha256").update(body).digest("hex") : "";
}

/**
 * Runs one printed line as a person would: the line (plus --json, so the token is read from
 * JSON rather than from wording), then, on exit code 3, the same line with the confirmation
 * token it printed. Returns what happened, in order, and whether the expected code serves.
 */
async function verifyLine(ctx: VerifyContext, line: RollbackLine): Promise<{ ok: boolean; notes: string[] }> {
  const notes: string[] = [];
  const argv = argvOf(line.command);
  if (typeof argv === "string") return { ok: false, notes: [`not pasteable: ${argv}`] };
  const first = await runCli(ctx.cli, [...argv, "--json"], ctx.cwd, ctx.env);
  const firstOut = parseJson(first);
  let final = first;
  let finalOut = firstOut;
  if (first.code === 3) {
    const token = firstOut?.confirmationToken;
    if (typeof token !== "string") {
      return { ok: false, notes: ["exit 3 without a confirmationToken in its JSON output"] };
    }
    notes.push(
      `exit 3: confirmation required, token ${shortToken(token)} → the same line with --confirmation-token`,
    );
    final = await runCli(ctx.cli, [...argv, "--confirmation-token", token, "--json"], ctx.cwd, ctx.env);
    finalOut = parseJson(final);
  }
  const status = String(finalOut?.status ?? "no JSON status");
  if (final.code !== 0 || status !== "rolled_back") {
    notes.push(`exit ${final.code}, status ${status}: a working rollback exits 0 with status rolled_back`);
    notes.push(String(finalOut?.summary ?? (final.stderr.trim() || final.stdout.trim()).slice(-600)));
    return { ok: false, notes };
  }
  notes.push(`exit 0: ${status}`);
  const live = await liveValue(ctx, line);
  const [what, expected] =
    "codeSha256" in line.expect
      ? ["CodeSha256", line.expect.codeSha256]
      : ["index.html sha256", line.expect.indexHtmlSha256];
  const shown = (value: string) => `${value.slice(0, 12)}…`;
  const target = line.to ? `release ${line.to}'s` : "what served before this release";
  if (live !== expected) {
    notes.push(`live ${what} ${shown(live)} is not ${target} (${shown(expected)})`);
    return { ok: false, notes };
  }
  notes.push(`read back: live ${what} ${shown(live)} = ${target}`);
  return { ok: true, notes };
}

/** Runs every line in order and prints ✓/✗ per line; true when all worked. */
export async function verifyRollbackLines(ctx: VerifyContext, lines: RollbackLine[]): Promise<boolean> {
  let allOk = true;
  for (const line of lines) {
    const t0 = performance.now();
    let result: { ok: boolean; notes: string[] };
    try {
      result = await verifyLine(ctx, line);
    } catch (error) {
      result = { ok: false, notes: [`could not run: ${(error as Error).message}`] };
    }
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    print(
      `${result.ok ? "✓" : "✗"} rollback line ${result.ok ? "works" : "FAILED"}: ${line.command}  (${seconds} s)`,
    );
    for (const note of result.notes) print(`    ${note}`);
    allOk &&= result.ok;
  }
  return allOk;
}
