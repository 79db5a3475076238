import { describe, expect, it } from "vitest";
import { confirmCommand, shellQuote } from "../../src/cli/next-command.js";

describe("the command that confirms a plan", () => {
  it("repeats the tool and its flags, drops the dry run and adds the token", () => {
    expect(
      confirmCommand(
        "terraform_apply",
        { env: "prod", planDigest: "sha256:ab", allowDataLoss: true, dryRun: true, breakLock: false },
        "v1.abc.def",
      ),
    ).toBe(
      "npx vyaparai-deploy terraform_apply --env prod --plan-digest sha256:ab --allow-data-loss --confirmation-token v1.abc.def",
    );
    expect(confirmCommand("rollback", { component: "lambda", to: "12" }, "t")).toBe(
      "npx vyaparai-deploy rollback --component lambda --to 12 --confirmation-token t",
    );
  });

  it("quotes anything a shell would read differently", () => {
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("$(rm -rf /)")).toBe("'$(rm -rf /)'");
    expect(shellQuote("plain-1.2_x")).toBe("plain-1.2_x");
  });
});
