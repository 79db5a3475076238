import { describe, expect, it } from "vitest";
import { errorLines, heldStateLock, isStalePlan } from "../../src/infra/diagnostics.js";
import { initRelevantBlocks } from "../../src/infra/init.js";

// Output of terraform 1.11 with -no-color when a use_lockfile lock is held (trimmed).
const LOCK_HELD = `There are some problems with the CLI configuration:
╷
│ Warning: Unable to open CLI configuration file
│
│ The CLI configuration file at "/root/.terraformrc" does not exist.
╵

Acquiring state lock. This may take a few moments...

Error: Error acquiring the state lock

Error message: operation error S3: PutObject, https response error
StatusCode: 412, api error PreconditionFailed
Lock Info:
  ID:        11111111-2222-3333-4444-555555555555
  Path:      tfstate/dev/terraform.tfstate
  Operation: OperationTypeApply
  Who:       alice@laptop
  Version:   1.11.4
  Created:   2026-11-25 13:00:00 +0000 UTC
  Info:      


Terraform acquires a state lock to protect the state from being written
by multiple users at the same time.`;

describe("terraform diagnostics", () => {
  it("reads the holder of a state lock", () => {
    expect(heldStateLock(LOCK_HELD)).toEqual({
      id: "11111111-2222-3333-4444-555555555555",
      path: "tfstate/dev/terraform.tfstate",
      operation: "OperationTypeApply",
      who: "alice@laptop",
      version: "1.11.4",
      created: "2026-11-25 13:00:00 +0000 UTC",
    });
    expect(heldStateLock("Error: Unsupported argument")).toBeNull();
  });

  it("keeps the lines from the first error on, without warnings or box drawing", () => {
    const lines = errorLines(
      `╷\n│ Warning: something minor\n╵\n╷\n│ Error: Unsupported argument\n│ \n│   on main.tf line 3:\n│    3:   bogus = 1\n╵\n`,
    );
    expect(lines).toEqual(["Error: Unsupported argument", "", "on main.tf line 3:", "3:   bogus = 1"]);
    expect(errorLines(LOCK_HELD)[0]).toBe("Error: Error acquiring the state lock");
  });

  it("recognises a stale saved plan", () => {
    expect(isStalePlan("Error: Saved plan is stale\n\nThe given plan file can no longer be applied")).toBe(
      true,
    );
    expect(isStalePlan("Apply complete!")).toBe(false);
  });

  it("fingerprints only the blocks init depends on", () => {
    const text = `terraform {\n  backend "s3" {}\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\nresource "x" "y" {\n  a = 1\n}\nmodule "net" {\n  source = "./net"\n}\n`;
    const blocks = initRelevantBlocks(text);
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toMatch(/^terraform \{[\s\S]*hashicorp\/aws[\s\S]*\}$/);
    expect(blocks[1]).toBe(`module "net" {\n  source = "./net"\n}`);
  });
});
