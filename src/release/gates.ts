import type { CallerIdentity } from "../core/context.js";
import { RefusalError, throwIfAborted } from "../core/errors.js";
import { requestApproval } from "./approval.js";
import type { ToolContext } from "./context.js";
import { readGitState } from "./git.js";
import { digestPlan } from "./plan-digest.js";
import { evaluateTestsFirstGate } from "./preflight-records.js";
import type { ConfirmationRequired } from "./spec.js";
import { consumeConfirmationToken, issueConfirmationToken, verifyConfirmationToken } from "./tokens.js";

export interface GateInput {
  component: string;
  plan: unknown;
  /** What the token confirms: the plan digest, bound to breakLock when it is set. */
  confirmDigest: string;
  approvalText: string;
  requirePreflight: boolean;
  /** The tree the deploy packages (backend): the preflight must have tested the same. */
  treeDigest?: string | undefined;
  confirmationToken?: string | undefined;
}

/** The digest a token confirms: breakLock is part of what the person agreed to. */
export function confirmationDigest(planDigest: string, breakLock: boolean): string {
  return breakLock ? digestPlan({ planDigest, breakLock: true }) : planDigest;
}

/**
 * Everything before the lock, in this order, all read-only but the last:
 *   (protected) token: none → issue one and stop; given → verify → tests-first gate →
 *   a person's approval → spend the token.
 * Returns the git HEAD that goes live, or the confirmation a protected env needs first.
 */
export async function passGates(
  ctx: ToolContext,
  identity: CallerIdentity,
  input: GateInput,
): Promise<{ gitSha: string | null } | ConfirmationRequired> {
  const tool = ctx.toolName;
  assertExpectedAccount(ctx, identity);
  if (!ctx.env.protected) return { gitSha: (await gitStateForRecord(ctx)).sha };

  if (!input.confirmationToken) {
    const issued = await issueConfirmationToken(ctx, { tool, planDigest: input.confirmDigest });
    const blockedBy = input.requirePreflight
      ? await gateBlocker(ctx, input.component, input.treeDigest)
      : null;
    return {
      kind: "confirmation_required",
      planDigest: input.confirmDigest,
      ...issued,
      ...(blockedBy ? { blockedBy } : {}),
    };
  }
  const check = await verifyConfirmationToken(ctx, {
    tool,
    planDigest: input.confirmDigest,
    token: input.confirmationToken,
  });
  if (!check.ok) {
    if (check.reason === "plan_changed") {
      const issued = await issueConfirmationToken(ctx, { tool, planDigest: input.confirmDigest });
      throw new RefusalError(check.message, {
        status: "confirmation_required",
        reason: "plan_changed",
        plan: input.plan,
        planDigest: input.confirmDigest,
        ...issued,
      });
    }
    throw new RefusalError(`Refused (${check.reason}): ${check.message} Nothing was changed.`, {
      reason: check.reason,
    });
  }
  const git = await readGitState(ctx.appRoot, ctx.run);
  if (input.requirePreflight) {
    const verdict = await evaluateTestsFirstGate(ctx, git, input.component, input.treeDigest);
    if (!verdict.ok)
      throw new RefusalError(`${verdict.message} Nothing was changed.`, {
        reason: verdict.reason,
        ...(verdict.dirtyFiles ? { dirtyFiles: verdict.dirtyFiles } : {}),
      });
  }
  throwIfAborted(ctx.signal);
  await requestApproval(ctx, { tool, planSummary: input.approvalText, planDigest: input.confirmDigest });
  throwIfAborted(ctx.signal);
  await consumeConfirmationToken(ctx, check.token);
  return { gitSha: git.sha };
}

/** The tests-first refusal the confirmed call would meet now, read-only; null when it passes. */
async function gateBlocker(
  ctx: ToolContext,
  component: string,
  treeDigest: string | undefined,
): Promise<string | null> {
  const git = await readGitState(ctx.appRoot, ctx.run);
  const verdict = await evaluateTestsFirstGate(ctx, git, component, treeDigest);
  return verdict.ok ? null : verdict.message;
}

/** True when the credentials are for the env's account (or the env names none). */
export function isExpectedAccount(ctx: ToolContext, identity: CallerIdentity): boolean {
  return !ctx.env.accountId || identity.account === ctx.env.accountId;
}

function assertExpectedAccount(ctx: ToolContext, identity: CallerIdentity): void {
  const expected = ctx.env.accountId;
  if (!isExpectedAccount(ctx, identity)) {
    throw new RefusalError(
      `Env "${ctx.envName}" belongs to AWS account ${expected}, but the current credentials are for account ${identity.account}. Switch to that account's credentials (profile or SSO) and retry. Nothing was changed.`,
      { reason: "other_account" },
    );
  }
}

/** Git reads started early, per call (keyed by the call's signal, which every derived context shares). */
const earlyGit = new WeakMap<AbortSignal, ReturnType<typeof readGitState>>();

/**
 * Starts reading the git state the record of an unprotected env's release names, so the
 * reads (a few git processes) run while the call plans instead of between plan and lock.
 * A protected env's gates always read git afresh: what they judge must be current.
 */
export function readGitStateEarly(ctx: ToolContext): void {
  if (ctx.env.protected || earlyGit.has(ctx.signal)) return;
  const state = readGitState(ctx.appRoot, ctx.run);
  state.catch(() => {});
  earlyGit.set(ctx.signal, state);
}

function gitStateForRecord(ctx: ToolContext): ReturnType<typeof readGitState> {
  return earlyGit.get(ctx.signal) ?? readGitState(ctx.appRoot, ctx.run);
}
