import { cpSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { expect } from "vitest";
import { z } from "zod";
import type { RunOptions, runCommand } from "../../src/core/run-command.js";
import { invokeTool } from "../../src/server/invoke.js";
import type { Runtime } from "../../src/server/runtime.js";
import { terraformApplyTool } from "../../src/tools/terraform-apply.js";
import { terraformPlanTool } from "../../src/tools/terraform-plan.js";
import type { Moto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";
import { motoS3Backend } from "../support/terraform-backend.js";

/**
 * One app with a real terraform configuration, its state in an S3 backend on moto, and the
 * terraform tools called the way the server calls them. Shared by the test files of test/infra.
 */

export const FIXTURES = join(import.meta.dirname, "../fixtures/terraform");

/**
 * Points the private plan store at a fresh folder for this test file (each file runs in its
 * own process), so tests never write saved plans into the developer's own state folder.
 */
export function isolatePlanStore(): string {
  const home = mkdtempSync(join(tmpdir(), "vyaparai-state-"));
  process.env.XDG_STATE_HOME = home;
  return home;
}

export interface InfraTestbed {
  moto: { readonly current: Moto };
  stateBucket: string;
  artifactBucket: string;
}

export interface PlanOutput {
  summary: string;
  status: "no_changes" | "changes" | "error";
  planDigest: string;
  planFile?: string;
  counts: { create: number; update: number; delete: number; replace: number };
  changes: Array<{
    address: string;
    type: string;
    actions: string[];
    actionReason?: string;
    dataLossRisk: boolean;
  }>;
  dataLossRisks: string[];
  confirmationToken?: string;
  expiresAt?: string;
  errors?: string[];
  phase?: string;
  lock?: { id: string | null; who: string | null; operation: string | null };
  terraformVersion: string;
  /** On a refusal: the error the server answered with. */
  error?: { code: string; message: string };
}

export interface ApplyOutput {
  summary: string;
  status: "confirmation_required" | "applied" | "failed";
  applied?: PlanOutput["counts"];
  planned?: PlanOutput["counts"];
  releaseId?: string;
  confirmationToken?: string;
  stale?: boolean;
  errors?: string[];
  outputTail?: string;
  lock?: PlanOutput["lock"];
  error?: { code: string; message: string };
  reason?: string;
  dataLossRisks?: string[];
  warnings?: string[];
  recovered?: Array<{
    releaseId: string;
    component: string;
    phase: string | null;
    outcome: string;
    note: string;
  }>;
}

export interface TerraformState {
  serial: number;
  lineage: string;
  resources: Array<{
    type: string;
    name: string;
    instances: Array<{ attributes?: Record<string, unknown> }>;
  }>;
}

type Runner = (command: string | string[], options: RunOptions) => ReturnType<typeof runCommand>;

/** One app root (inside a private parent folder) holding a copy of a fixture configuration. */
export class InfraApp {
  /** The app root's parent: room for a folder outside the app (`../outside`) no other test sees. */
  readonly parent = mkdtempSync(join(tmpdir(), "vyaparai-infra-"));
  readonly appRoot = join(this.parent, "app");
  /** environments.<env>.terraform.dir, relative to the app root. */
  terraformDir = "infra";
  vars: Record<string, string> = {};
  statefulTypes: string[] | undefined;
  backendExtra: Record<string, string> = {};
  binary: "terraform" | "tofu" | undefined;
  run: Runner | undefined;

  constructor(
    private readonly bed: InfraTestbed,
    fixture: string,
    readonly stateKey: string,
  ) {
    mkdirSync(this.appRoot);
    cpSync(join(FIXTURES, fixture), join(this.appRoot, "infra"), { recursive: true });
  }

  /**
   * Each env keeps its own state object, as real envs do (and must: an env whose state object
   * is a protected env's target is protected itself).
   */
  stateKeyOf(env: string): string {
    return env === "dev" ? this.stateKey : `${env}-${this.stateKey}`;
  }

  backendConfig(env = "dev"): Record<string, string> {
    return {
      ...motoS3Backend(this.bed.moto.current.endpoint, this.bed.stateBucket, this.stateKeyOf(env)),
      ...this.backendExtra,
    };
  }

  runtime(): Runtime {
    const env = (name: string, isProtected: boolean) => ({
      protected: isProtected,
      lambda: { artifactBucket: this.bed.artifactBucket },
      terraform: {
        dir: this.terraformDir,
        backendConfig: this.backendConfig(name),
        lockTimeout: "1s",
        ...(this.binary ? { binary: this.binary } : {}),
        vars: { env: name, ...this.vars },
      },
    });
    return testRuntime({
      moto: this.bed.moto.current,
      appRoot: this.appRoot,
      // One secret for every runtime of the app: a token from plan's runtime verifies in apply's.
      secret: "infra-test-secret",
      config: {
        environments: { dev: env("dev", false), prod: env("prod", true) },
        ...(this.statefulTypes ? { statefulTypes: this.statefulTypes } : {}),
      },
      ...(this.run ? { run: this.run } : {}),
    });
  }

  /** terraform_plan, expected to answer (a plan, no changes, or terraform's error). */
  async plan(env = "dev", extra: Record<string, unknown> = {}): Promise<PlanOutput> {
    const result = await this.tryPlan(env, extra);
    expect(result.isError, result.text).toBe(false);
    return result.out;
  }

  /** terraform_plan, whatever it answers (a refusal too). */
  async tryPlan(env = "dev", extra: Record<string, unknown> = {}) {
    const runtime = this.runtime();
    try {
      const result = await invokeTool(terraformPlanTool, { env, ...extra }, runtime);
      // What the MCP server checks before answering: the output matches the declared schema.
      if (result.complete) z.object(terraformPlanTool.outputSchema).strict().parse(result.structured);
      return { isError: result.isError, text: result.text, out: result.structured as unknown as PlanOutput };
    } finally {
      runtime.close();
    }
  }

  async apply(args: Record<string, unknown>, hooks: Parameters<typeof invokeTool>[3] = {}) {
    const runtime = this.runtime();
    try {
      const result = await invokeTool(terraformApplyTool, { env: "dev", ...args }, runtime, hooks);
      // A failed apply is an isError result that still carries the tool's full output.
      if (result.complete) z.object(terraformApplyTool.outputSchema).strict().parse(result.structured);
      return { isError: result.isError, text: result.text, out: result.structured as unknown as ApplyOutput };
    } finally {
      runtime.close();
    }
  }

  /** The env's state object terraform's S3 backend keeps in moto, read back (null before the first apply). */
  async state(env = "dev"): Promise<TerraformState | null> {
    const s3 = await this.bed.moto.current.clients().s3();
    try {
      const object = await s3.send(
        new GetObjectCommand({ Bucket: this.bed.stateBucket, Key: this.stateKeyOf(env) }),
      );
      return JSON.parse(await (object.Body?.transformToString() ?? "null"));
    } catch (error) {
      if ((error as { name?: string }).name === "NoSuchKey") return null;
      throw error;
    }
  }
}
