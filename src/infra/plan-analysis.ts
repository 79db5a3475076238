/**
 * Turns `terraform show -json <planfile>` into what a reviewer needs: every change with its
 * actions and reason, summary counts, and the changes that can destroy data.
 */

export interface PlannedChange {
  address: string;
  type: string;
  /** Terraform's actions, e.g. ["update"], ["delete","create"] (replace, destroy first). */
  actions: string[];
  /** Why terraform chose these actions, e.g. "replace_because_cannot_update". */
  actionReason?: string;
  /** Delete or replace of a stateful type: the data in it would be lost. */
  dataLossRisk: boolean;
}

export interface ChangeCounts {
  create: number;
  update: number;
  delete: number;
  replace: number;
}

export interface PlanAnalysis {
  changes: PlannedChange[];
  counts: ChangeCounts;
  /** Addresses of the changes with dataLossRisk. */
  dataLossRisks: string[];
}

interface ResourceChangeJson {
  address?: unknown;
  type?: unknown;
  mode?: unknown;
  action_reason?: unknown;
  change?: { actions?: unknown };
}

export type ChangeKind = keyof ChangeCounts | "other";

/** Classifies terraform's action list; replace is either order of delete and create. */
export function changeKind(actions: readonly string[]): ChangeKind {
  const has = (action: string) => actions.includes(action);
  if (has("delete") && has("create")) return "replace";
  if (actions.length === 1) {
    if (has("create")) return "create";
    if (has("update")) return "update";
    if (has("delete")) return "delete";
  }
  return "other";
}

export function analysePlan(showJson: unknown, statefulTypes: readonly string[]): PlanAnalysis {
  const stateful = new Set(statefulTypes);
  const raw = (showJson as { resource_changes?: unknown })?.resource_changes;
  const resourceChanges = Array.isArray(raw) ? (raw as ResourceChangeJson[]) : [];
  const counts: ChangeCounts = { create: 0, update: 0, delete: 0, replace: 0 };
  const changes: PlannedChange[] = [];
  for (const entry of resourceChanges) {
    const actions = Array.isArray(entry.change?.actions)
      ? (entry.change.actions as unknown[]).filter((a): a is string => typeof a === "string")
      : [];
    // Data sources being read and unchanged resources are not changes anyone reviews.
    if (entry.mode === "data" || actions.length === 0 || actions.every((a) => a === "no-op" || a === "read"))
      continue;
    const kind = changeKind(actions);
    if (kind !== "other") counts[kind]++;
    const type = typeof entry.type === "string" ? entry.type : "";
    const change: PlannedChange = {
      address: typeof entry.address === "string" ? entry.address : "",
      type,
      actions,
      dataLossRisk: actions.includes("delete") && stateful.has(type),
    };
    if (typeof entry.action_reason === "string") change.actionReason = entry.action_reason;
    changes.push(change);
  }
  return {
    changes,
    counts,
    dataLossRisks: changes.filter((c) => c.dataLossRisk).map((c) => c.address),
  };
}

export function describeCounts(counts: ChangeCounts): string {
  return `${counts.create} to create, ${counts.update} to update, ${counts.replace} to replace, ${counts.delete} to delete`;
}
