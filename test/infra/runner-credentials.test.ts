import { describe, expect, it } from "vitest";
import type { RunOptions } from "../../src/core/run-command.js";
import { runTerraform, type TerraformWorkspace } from "../../src/infra/runner.js";

/** Terraform talks to AWS itself: as the deploy role it must get the role's keys, not a profile. */
describe("terraform as the deploy role", () => {
  const workspace = {
    binary: { command: "terraform", name: "terraform", version: "1.11.4" },
    dir: "/app/infrastructure/terraform",
    dataDir: "/app/.terraform/vyaparai-deploy/prod",
  } as unknown as TerraformWorkspace;

  async function envOf(credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken: string }) {
    let seen: RunOptions["env"];
    await runTerraform(
      {
        run: async (_argv, options) => {
          seen = options.env;
          return { exitCode: 0, tail: "", stdout: "", timedOut: false, cancelled: false, durationMs: 1 };
        },
        signal: new AbortController().signal,
        progress: () => {},
        env: { terraform: {} as never, profile: "vyaparai-prod" },
        credentials,
      },
      workspace,
      ["apply", "plan.tfplan"],
    );
    return seen ?? {};
  }

  it("runs with the role's temporary keys and no profile that could win over them", async () => {
    const env = await envOf({
      accessKeyId: "ASIAROLEKEY",
      secretAccessKey: "role-secret",
      sessionToken: "role-token",
    });
    expect(env).toMatchObject({
      AWS_ACCESS_KEY_ID: "ASIAROLEKEY",
      AWS_SECRET_ACCESS_KEY: "role-secret",
      AWS_SESSION_TOKEN: "role-token",
    });
    expect(Object.hasOwn(env, "AWS_PROFILE") && env.AWS_PROFILE === undefined).toBe(true);
  });

  it("without a role, uses the env's profile as before", async () => {
    const env = await envOf();
    expect(env.AWS_ACCESS_KEY_ID).toBeUndefined();
    if (!process.env.AWS_PROFILE) expect(env.AWS_PROFILE).toBe("vyaparai-prod");
  });
});
