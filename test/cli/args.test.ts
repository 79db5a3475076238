import { describe, expect, it } from "vitest";
import { describeFlags, kebab, parseToolFlags } from "../../src/cli/args.js";
import { DeployError } from "../../src/core/errors.js";
import { deployFrontendTool } from "../../src/tools/deploy-frontend.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { healthCheckTool } from "../../src/tools/health-check.js";
import { preflightTool } from "../../src/tools/preflight.js";
import { tailLogsTool } from "../../src/tools/tail-logs.js";

function parseError(run: () => unknown): DeployError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DeployError);
    return error as DeployError;
  }
  throw new Error("expected a DeployError");
}

describe("CLI flags from a tool's input schema", () => {
  it("turns kebab-case switches into booleans, with --no-x and --x=false", () => {
    expect(parseToolFlags(deployLambdaTool, ["--dry-run"]).args).toEqual({ dryRun: true });
    expect(parseToolFlags(deployLambdaTool, ["--dry-run=false"]).args).toEqual({ dryRun: false });
    expect(parseToolFlags(deployLambdaTool, ["--no-dry-run", "--force"]).args).toEqual({
      dryRun: false,
      force: true,
    });
    // The schema's own (camelCase) name is accepted too.
    expect(parseToolFlags(deployFrontendTool, ["--skipBuild", "--wait"]).args).toEqual({
      skipBuild: true,
      wait: true,
    });
  });

  it("reads string values separated or inline, and --json for the CLI itself", () => {
    expect(parseToolFlags(deployLambdaTool, ["--env", "dev", "--confirmation-token=a=b.c"])).toEqual({
      args: { env: "dev", confirmationToken: "a=b.c" },
      json: false,
    });
    expect(parseToolFlags(deployLambdaTool, ["--env=staging", "--json"])).toEqual({
      args: { env: "staging" },
      json: true,
    });
  });

  it("parses numbers and rejects what is not one", () => {
    expect(parseToolFlags(healthCheckTool, ["--attempts", "5"]).args).toEqual({ attempts: 5 });
    expect(parseToolFlags(tailLogsTool, ["--limit=20", "--follow-seconds", "0"]).args).toEqual({
      limit: 20,
      followSeconds: 0,
    });
    expect(parseError(() => parseToolFlags(healthCheckTool, ["--attempts", "three"])).message).toBe(
      'Flag --attempts needs a number, got "three".',
    );
  });

  it("collects arrays from repeated flags and comma lists", () => {
    expect(parseToolFlags(healthCheckTool, ["--targets", "api", "--targets", "web,admin,"]).args).toEqual({
      targets: ["api", "web", "admin"],
    });
    expect(parseToolFlags(preflightTool, ["--components=backend,frontend"]).args).toEqual({
      components: ["backend", "frontend"],
    });
  });

  it("names the known flags when a flag is unknown", () => {
    const error = parseError(() => parseToolFlags(deployLambdaTool, ["--dryrun"]));
    expect(error.code).toBe("INPUT_INVALID");
    expect(error.message).toBe(
      "Unknown flag --dryrun for deploy_lambda. Known flags: --env, --dry-run, --force, --confirmation-token, --break-lock, --strategy, --canary-percent, --bake-minutes, --wait, --json.",
    );
    // --no- only negates booleans.
    expect(parseError(() => parseToolFlags(deployLambdaTool, ["--no-env"])).message).toContain(
      "Unknown flag --no-env",
    );
  });

  it("rejects a missing value and a bare word", () => {
    expect(parseError(() => parseToolFlags(deployLambdaTool, ["--env"])).message).toBe(
      "Flag --env needs a value.",
    );
    expect(parseError(() => parseToolFlags(deployLambdaTool, ["prod"])).message).toContain(
      'Unexpected argument "prod"',
    );
  });

  it("describes every flag with its kind and description", () => {
    expect(kebab("followSeconds")).toBe("follow-seconds");
    const help = describeFlags(tailLogsTool);
    expect(help).toContain("--since <string>");
    expect(help).toContain("--limit <number>");
    expect(describeFlags(healthCheckTool)).toContain("--targets <a,b>");
    expect(describeFlags(deployLambdaTool)).toMatch(/--dry-run {2}Plan only; change nothing\./);
  });
});
