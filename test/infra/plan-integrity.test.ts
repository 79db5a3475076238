import { createHash } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import type { ApprovalRequest } from "../../src/core/context.js";
import { runCommand } from "../../src/core/run-command.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";
import { FIXTURES, InfraApp, isolatePlanStore, type PlanOutput, type TerraformState } from "./infra-app.js";

/**
 * "What goes live is exactly what was tested and approved", for terraform: a saved plan
 * swapped or tampered with between review and apply never reaches terraform apply, and the
 * terraform dir cannot lead outside the app. Real terraform, state in an S3 backend on moto,
 * and every outcome read back from that state.
 */

const moto = useMoto();
const STATE_HOME = isolatePlanStore();
const STATE_BUCKET = `tf-state-${process.pid}`;
const ARTIFACT_BUCKET = `tf-artifacts-${process.pid}`;
const bed = { moto, stateBucket: STATE_BUCKET, artifactBucket: ARTIFACT_BUCKET };

const ALL_CREATED = ["terraform_data.api", "terraform_data.cache", "terraform_data.orders_table"];

/** The table's instances as JSON: a replace gives it a new id, an update of the api leaves it alone. */
function orders(state: TerraformState | null): string {
  return JSON.stringify(state?.resources.find((r) => r.name === "orders_table")?.instances);
}

/** The api's input (terraform_data keeps it as a typed value). */
function apiInput(state: TerraformState | null): unknown {
  const input = state?.resources.find((r) => r.name === "api")?.instances[0]?.attributes?.input;
  return (input as { value?: unknown } | undefined)?.value;
}

/** Replaces a file the way `mv` would: a new file under the old name. */
function swapFile(target: string, bytes: Buffer): void {
  const temp = `${target}.swap`;
  writeFileSync(temp, bytes);
  renameSync(temp, target);
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

/** An approver that says yes, runs `meanwhile` while it is asked, and keeps what it was shown. */
function approver(meanwhile: () => void = () => {}) {
  const asked: string[] = [];
  return {
    asked,
    askPerson: async (request: ApprovalRequest) => {
      asked.push(request.message);
      meanwhile();
      return "accept" as const;
    },
  };
}

async function releaseRecord(env: string, releaseId: string): Promise<Record<string, unknown>> {
  const s3 = await moto.current.clients().s3();
  const object = await s3.send(
    new GetObjectCommand({ Bucket: ARTIFACT_BUCKET, Key: `releases/${env}/infra/${releaseId}.json` }),
  );
  return JSON.parse(await (object.Body?.transformToString() ?? "{}"));
}

/**
 * Protected prod with the three resources applied (terraform_data counts as stateful, so the
 * orders table stands in for a DynamoDB table), and two plans made against that same state:
 * the reviewed one only updates the api; the other one also replaces the table. Either would
 * apply, so a test where the wrong one gets through fails on the state it reads back.
 */
async function appWithTwoPlans(stateKey: string) {
  const app = new InfraApp(bed, "basic", stateKey);
  app.statefulTypes = ["terraform_data"];
  const first = await app.plan("prod");
  const created = await app.apply({
    env: "prod",
    planDigest: first.planDigest,
    confirmationToken: first.confirmationToken,
  });
  expect(created.out.status, created.text).toBe("applied");
  const before = await app.state("prod");
  expect(before?.resources.map((r) => `${r.type}.${r.name}`).sort()).toEqual(ALL_CREATED);

  app.vars = { api_memory: "2048" };
  const reviewed = await app.plan("prod");
  expect(reviewed.counts).toEqual({ create: 0, update: 1, delete: 0, replace: 0 });
  expect(reviewed.dataLossRisks).toEqual([]);
  app.vars = { api_memory: "2048", orders_generation: "2" };
  const unreviewed = await app.plan("prod");
  expect(unreviewed.dataLossRisks).toEqual(["terraform_data.orders_table"]);
  expect(unreviewed.counts).toEqual({ create: 0, update: 1, delete: 0, replace: 1 });
  return { app, before, reviewed, unreviewed, destroyingBytes: readFileSync(unreviewed.planFile as string) };
}

function confirmedArgs(plan: PlanOutput): Record<string, unknown> {
  return { env: "prod", planDigest: plan.planDigest, confirmationToken: plan.confirmationToken };
}

describe("the applied terraform plan is exactly the reviewed one (real terraform, S3 state on moto)", () => {
  beforeAll(async () => {
    const s3 = await moto.current.clients().s3();
    await createBucket(s3, STATE_BUCKET);
    await createBucket(s3, ARTIFACT_BUCKET);
  });

  it("refuses a saved plan swapped for one that replaces the stateful table, and the state is unchanged", async () => {
    const { app, before, reviewed, unreviewed, destroyingBytes } =
      await appWithTwoPlans("swap/terraform.tfstate");
    swapFile(reviewed.planFile as string, destroyingBytes);

    const person = approver();
    const refused = await app.apply(confirmedArgs(reviewed), { askPerson: person.askPerson });
    expect(refused.isError).toBe(true);
    expect(refused.out.error?.code).toBe("REFUSED");
    expect(refused.out.summary).toMatch(/no longer matches that digest/);
    expect(refused.out.summary).toMatch(/Nothing was applied/);
    expect(refused.out.reason).toBe("plan_file_changed");
    // The answer claims nothing about what the swapped plan does, least of all "0 to delete".
    expect(refused.text).not.toMatch(/to delete|Applied/);
    // Nobody was asked to approve a plan that is not the reviewed one.
    expect(person.asked).toEqual([]);
    expect(await app.state("prod")).toEqual(before);

    // The swapped-in plan was a live one: applied under its own digest, it replaces the table.
    const destroying = await app.apply({ ...confirmedArgs(unreviewed), allowDataLoss: true });
    expect(destroying.out.status, destroying.text).toBe("applied");
    expect(orders(await app.state("prod"))).not.toBe(orders(before));
  });

  it("a plan swapped while the person is asked never reaches terraform: the reviewed plan is what applies", async () => {
    const { app, before, reviewed, destroyingBytes } = await appWithTwoPlans("asked/terraform.tfstate");
    // The attack from the issue: the saved file is replaced after it was checked, before terraform reads it.
    const person = approver(() => swapFile(reviewed.planFile as string, destroyingBytes));

    const applied = await app.apply(confirmedArgs(reviewed), { askPerson: person.askPerson });
    expect(person.asked).toHaveLength(1);
    expect(person.asked[0]).toMatch(/0 to delete/);
    expect(person.asked[0]).toMatch(/No stateful resource is deleted or replaced/);
    expect(applied.out.status, applied.text).toBe("applied");
    expect(applied.out.applied).toEqual({ create: 0, update: 1, delete: 0, replace: 0 });
    // Read back: what the person approved happened, and nothing else did.
    const after = await app.state("prod");
    expect(after?.serial).toBeGreaterThan(before?.serial ?? 0);
    expect(apiInput(after)).toBe("vyaparai-api-prod:2048");
    expect(orders(after)).toBe(orders(before));
    const record = await releaseRecord("prod", applied.out.releaseId as string);
    expect(record).toMatchObject({ status: "succeeded", planDigest: reviewed.planDigest });
  });

  it("refuses a private copy changed in place or replaced by a link, with nothing applied", async () => {
    const { app, before, reviewed, unreviewed } = await appWithTwoPlans("tamper/terraform.tfstate");
    const planFile = reviewed.planFile as string;
    const original = readFileSync(planFile);
    const flipped = Buffer.from(original);
    flipped[flipped.length >> 1] = (flipped[flipped.length >> 1] as number) ^ 0xff;
    writeFileSync(planFile, flipped);

    const inPlace = await app.apply(confirmedArgs(reviewed));
    expect(inPlace.isError).toBe(true);
    expect(inPlace.out.error?.code).toBe("REFUSED");
    expect(inPlace.out.summary).toMatch(/no longer matches that digest \(its content changed after review/);
    expect(await app.state("prod")).toEqual(before);

    unlinkSync(planFile);
    symlinkSync(unreviewed.planFile as string, planFile);
    const linked = await app.apply(confirmedArgs(reviewed));
    expect(linked.isError).toBe(true);
    expect(linked.out.summary).toMatch(/it is no longer a plain file/);
    expect(await app.state("prod")).toEqual(before);
    // Back in place, the same plan and token still apply: the refusals spent nothing.
    unlinkSync(planFile);
    writeFileSync(planFile, original, { mode: 0o600 });
    expect((await app.apply(confirmedArgs(reviewed))).out.status).toBe("applied");
    expect(apiInput(await app.state("prod"))).toBe("vyaparai-api-prod:2048");
  });

  it("fails with nothing applied when the copy being applied is changed while the person is asked", async () => {
    const { app, before, reviewed, destroyingBytes } = await appWithTwoPlans("copy/terraform.tfstate");
    const store = dirname(reviewed.planFile as string);
    const person = approver(() => {
      const copies = readdirSync(store).filter((name) => name.startsWith("apply-"));
      expect(copies).toHaveLength(1);
      writeFileSync(join(store, copies[0] as string, "plan.tfplan"), destroyingBytes);
    });

    const failed = await app.apply(confirmedArgs(reviewed), { askPerson: person.askPerson });
    expect(person.asked).toHaveLength(1);
    expect(failed.isError).toBe(true);
    expect(failed.out.status).toBe("failed");
    expect(failed.out.summary).toMatch(/step check-plan-copy: the private copy of plan [0-9a-f]{64} changed/);
    expect(failed.out.summary).toMatch(/nothing was applied/);
    expect(failed.out.summary).not.toMatch(/to delete|some changes may have been made/i);
    expect(await app.state("prod")).toEqual(before);
    const record = await releaseRecord("prod", failed.out.releaseId as string);
    expect(record).toMatchObject({ status: "failed", phase: "preparing" });
    expect(record.error).toMatch(/^check-plan-copy: /);
    // The copy is gone with the call; the saved plan stays for a retry.
    expect(readdirSync(store).filter((name) => name.startsWith("apply-"))).toEqual([]);
    expect(existsSync(reviewed.planFile as string)).toBe(true);
  });

  it("plans into a private folder outside the repo and applies the honest plan", async () => {
    const app = new InfraApp(bed, "basic", "honest/terraform.tfstate");
    const plan = await app.plan();
    const planFile = plan.planFile as string;
    expect(planFile.startsWith(join(STATE_HOME, "vyaparai-deploy", "plans") + sep)).toBe(true);
    expect(relative(app.appRoot, planFile).startsWith(`..${sep}`)).toBe(true);
    expect(basename(planFile)).toBe(`${plan.planDigest}.tfplan`);
    expect(sha256(readFileSync(planFile))).toBe(plan.planDigest);
    expect(modeOf(planFile)).toBe(0o600);
    for (let dir = dirname(planFile); dir !== STATE_HOME; dir = dirname(dir)) expect(modeOf(dir)).toBe(0o700);
    // Only the saved plan is there: terraform's scratch folder went with the call.
    expect(readdirSync(dirname(planFile))).toEqual([basename(planFile)]);

    const applied = await app.apply({ planDigest: plan.planDigest });
    expect(applied.out.status, applied.text).toBe("applied");
    expect(applied.out.applied).toEqual({ create: 3, update: 0, delete: 0, replace: 0 });
    const state = await app.state();
    expect(state?.resources.map((r) => `${r.type}.${r.name}`).sort()).toEqual(ALL_CREATED);
    // Applied once, then gone, with the copy it was applied from.
    expect(readdirSync(dirname(planFile))).toEqual([]);

    // A store folder someone opened up is made private again before the next plan is written.
    chmodSync(dirname(planFile), 0o755);
    app.vars = { api_memory: "4096" };
    const next = await app.plan();
    expect(next.status).toBe("changes");
    expect(modeOf(dirname(planFile))).toBe(0o700);
  });

  it("refuses a terraform dir that leads outside the app root, before anything runs", async () => {
    const app = new InfraApp(bed, "basic", "outside/terraform.tfstate");
    const outside = join(app.parent, "outside");
    // A working configuration: only the rule keeps terraform from planning it.
    cpSync(join(FIXTURES, "basic"), outside, { recursive: true });
    symlinkSync(outside, join(app.appRoot, "linked"));
    const ran: string[] = [];
    app.run = (command, options) => {
      ran.push(Array.isArray(command) ? command.join(" ") : command);
      return runCommand(command, options);
    };

    for (const dir of ["../outside", "linked", outside]) {
      app.terraformDir = dir;
      const plan = await app.tryPlan("dev");
      expect(plan.isError, dir).toBe(true);
      expect(plan.out.error?.code).toBe("REFUSED");
      expect(plan.out.summary).toMatch(
        /^environments\.dev\.terraform\.dir \(".*"\) leads outside the app root/,
      );
      expect(plan.out.summary).toMatch(/Nothing was run/);
    }
    app.terraformDir = "../outside";
    const apply = await app.apply({ planDigest: "a".repeat(64) });
    expect(apply.out.error?.code).toBe("REFUSED");
    expect(apply.out.summary).toMatch(/^environments\.dev\.terraform\.dir \("\.\.\/outside"\) leads outside/);
    expect(ran).toEqual([]);
    expect(await app.state()).toBeNull();

    // A symlink that stays inside the app root is fine.
    symlinkSync(join(app.appRoot, "infra"), join(app.appRoot, "infra-link"));
    app.terraformDir = "infra-link";
    expect((await app.plan()).status).toBe("changes");
  });
});
