import type { ToolCallResult } from "../server/invoke.js";
import {
  bullets,
  clean,
  compact,
  cut,
  isRecord,
  isScalar,
  objectTable,
  table,
  text,
  VALUE_CHARS,
} from "./table.js";

/**
 * Human output of a tool result: a first line with the outcome mark (✓ done, ! needs action,
 * ✗ failed), the tool and its summary; then the structured fields as `key: value` lines,
 * aligned tables and short lists. Nothing is added that is not in the (already redacted)
 * result; long text is cut and no object is dumped as multi-line JSON. `--json` prints it all.
 */
export function formatHuman(toolName: string, result: ToolCallResult): string {
  const fields = (isRecord(result.structured) ? result.structured : {}) as Fields;
  const error = isRecord(fields.error) ? fields.error : undefined;
  const code = result.isError && typeof error?.code === "string" ? ` [${clean(error.code)}]` : "";
  const summary = typeof fields.summary === "string" ? `: ${clean(fields.summary)}` : "";
  const head = `${outcomeMark(fields, result.isError)} ${toolName}${code}${summary}`;
  // An error's `error` field repeats the summary; its code is on the first line instead.
  const skip = new Set(["summary", ...(code ? ["error"] : [])]);
  const order = [
    ...(Object.hasOwn(ORDER, toolName) ? (ORDER[toolName] ?? []) : []),
    ...Object.keys(fields).filter((k) => !TAIL.includes(k)),
    ...TAIL,
  ];
  const keys = [...new Set(order)].filter((key) => !skip.has(key) && Object.hasOwn(fields, key));
  const body = assemble(
    keys.flatMap((key) => entriesOf(key, fields[key], 0)),
    true,
  );
  return body.length ? [head, "", ...body].join("\n") : head;
}

type Fields = Record<string, unknown>;
type Mark = "✓" | "✗" | "!";

function outcomeMark(fields: Fields, isError: boolean): Mark {
  const { status, verdict } = fields;
  // isError carries the tool's own verdict: "rolled_back" fails a deploy but is a rollback's success.
  if (isError || status === "failed" || status === "error") return "✗";
  if (fields.ok === false || verdict === "unhealthy") return "✗";
  if (status === "confirmation_required" || verdict === "degraded") return "!";
  return "✓";
}

/** The fields each tool shows first, in this order; the rest follow, then TAIL. */
const ORDER: Record<string, string[]> = Object.fromEntries(
  Object.entries({
    preflight: "ok env components gitSha preflightId at durationMs counts checks",
    deploy_lambda:
      "status phase releaseId version previousVersion codeSha256 confirmationToken expiresAt blockedBy " +
      "failure liveError live plan health",
    deploy_frontend:
      "status phase releaseId confirmationToken expiresAt blockedBy failure liveError live uploaded " +
      "invalidation plan integrity",
    rollback: "status phase from to releaseId confirmationToken expiresAt failure liveError live plan health",
    terraform_plan:
      "status planDigest terraformVersion confirmationToken expiresAt planFile phase counts changes " +
      "dataLossRisks errors lock outputTail",
    terraform_apply:
      "status releaseId planDigest terraformVersion confirmationToken expiresAt stale planned applied " +
      "dataLossRisks errors lock outputTail",
    health_check: "verdict lambda targets",
    deploy_status: "lambda frontend lock drift releases interrupted",
    tail_logs: "logGroup window scanned matched truncated narrowHint follow stats events",
    list_tables: "env region missing unexpected tables",
  }).map(([tool, keys]) => [tool, keys.split(" ")]),
);
/** Shown last, next to the prompt: what went wrong on the way and how to undo it by hand. */
const TAIL = ["warnings", "undo"];

/** Values printed whole (a cut token or command is useless); all are bounded by their schemas. */
const VERBATIM = new Set(["confirmationToken", "fixCommand", "planDigest", "releaseId", "treeDigest"]);

type Entry = { key: string; value: string } | { key: string; lines: string[] };

const KEY_WIDTH = 20;
const TAIL_LINES = 15;
const INLINE_CHARS = 80;
const SHORT_ITEM = 24;

/** Aligned `key: value` groups and titled, indented blocks (blank lines between them at the top). */
function assemble(entries: readonly Entry[], gap: boolean): string[] {
  const out: string[] = [];
  let group: { key: string; value: string }[] = [];
  const separate = () => {
    if (gap && out.length) out.push("");
  };
  const flush = () => {
    if (!group.length) return;
    separate();
    const width = Math.min(KEY_WIDTH, Math.max(...group.map((e) => e.key.length + 1)));
    out.push(...group.map((e) => `${`${e.key}:`.padEnd(width)} ${e.value}`.trimEnd()));
    group = [];
  };
  for (const entry of entries) {
    if ("value" in entry) {
      group.push(entry);
      continue;
    }
    flush();
    separate();
    out.push(`${entry.key}:`, ...entry.lines.map((line) => `  ${line}`));
  }
  flush();
  return out;
}

/** One field as entries: its own layout when it has one, else by shape. */
function entriesOf(key: string, value: unknown, depth: number): Entry[] {
  if (value === undefined) return [];
  const own = Object.hasOwn(SPECIAL, key) ? SPECIAL[key]?.(value) : undefined;
  if (own) return own;
  if (isScalar(value)) return [{ key, value: scalar(key, value) }];
  if (Array.isArray(value)) {
    if (value.length === 0) return [{ key, value: "none" }];
    if (value.every(isRecord)) {
      return [depth > 1 ? { key, value: compact(value) } : { key, lines: objectTable(value) }];
    }
    if (!value.every(isScalar)) return [{ key, value: compact(value) }];
    // Inside a block a list is counted and previewed; at the top a few short words share a
    // line (components, missing tables) and anything else is listed.
    if (depth > 0) return [{ key, value: `${value.length} (${text(value)})` }];
    const words = value.every((v) => String(v).length <= SHORT_ITEM) && text(value).length <= INLINE_CHARS;
    return [words ? { key, value: text(value) } : { key, lines: bullets(value) }];
  }
  if (isRecord(value)) {
    const flat = inline(value);
    if (depth > 0 || (Object.values(value).every(isScalar) && flat.length <= INLINE_CHARS)) {
      return [{ key, value: flat }];
    }
    const inner = Object.entries(value).flatMap(([k, v]) => entriesOf(k, v, depth + 1));
    return [{ key, lines: assemble(inner, false) }];
  }
  return [{ key, value: compact(value) }];
}

function scalar(key: string, value: string | number | boolean | null): string {
  if (value === null) return "none";
  return typeof value === "string" && VERBATIM.has(key) ? clean(value) : text(value);
}

/** A small object on one line: `key=value` pairs when flat, else compact JSON. */
function inline(value: Fields): string {
  const pairs = Object.entries(value).filter(([, v]) => v !== undefined);
  if (pairs.length === 0) return "none";
  if (!pairs.every(([, v]) => isScalar(v))) return compact(value);
  return cut(pairs.map(([k, v]) => `${k}=${text(v)}`).join(" "), VALUE_CHARS);
}

const records = (value: unknown): Fields[] | undefined =>
  Array.isArray(value) && value.every(isRecord) ? value : undefined;

const ms = (value: unknown) => (typeof value === "number" ? `${value} ms` : value);

/** Fields with their own layout; each returns undefined for a shape it does not know. */
const SPECIAL: Record<string, (value: unknown) => Entry[] | undefined> = {
  checks: (value) => {
    const checks = records(value);
    if (!checks) return undefined;
    const rows = checks.map((c) => [
      c.name,
      c.status,
      c.detail ?? c.message,
      Array.isArray(c.evidence) ? c.evidence.length : undefined,
      testsOf(c.testCounts),
    ]);
    const entries: Entry[] = [
      { key: "checks", lines: table(["name", "status", "detail", "evidence", "tests"], rows) },
    ];
    const remedies = checks.filter((c) => typeof c.remedy === "string");
    if (remedies.length) {
      entries.push({ key: "remedies", lines: remedies.map((c) => `${text(c.name)}: ${text(c.remedy)}`) });
    }
    for (const c of checks.filter((c) => c.status === "fail" && typeof c.output === "string")) {
      entries.push({ key: `output of ${text(c.name, 60)}`, lines: lastLines(c.output as string, 5) });
    }
    return entries;
  },
  targets: (value) => {
    const targets = records(value);
    if (!targets) return undefined;
    const rows = targets.map((t) => [
      t.name,
      t.verdict,
      t.ok,
      t.status,
      ms(t.p50Ms),
      ms(t.p95Ms),
      t.attempts === undefined ? t.passed : `${text(t.passed)}/${text(t.attempts)}`,
      t.url,
      t.error,
    ]);
    const headers = ["name", "verdict", "ok", "status", "p50", "p95", "passed", "url", "error"];
    return [{ key: "targets", lines: table(headers, rows) }];
  },
  changes: (value) => {
    const changes = records(value);
    if (!changes) return undefined;
    const rows = changes.map((c) => [
      c.address,
      c.actions,
      c.actionReason,
      c.dataLossRisk === true ? "DATA LOSS" : c.dataLossRisk === false ? "" : undefined,
    ]);
    return [{ key: "changes", lines: table(["address", "actions", "reason", "risk"], rows) }];
  },
  releases: (value) => {
    const releases = records(value);
    if (!releases) return undefined;
    const rows = releases.map((r) => [
      r.releaseId,
      r.component,
      r.tool,
      r.status,
      r.phase,
      r.startedAt ?? r.at,
      r.version,
      r.error,
    ]);
    const headers = ["releaseId", "component", "tool", "status", "phase", "startedAt", "version", "error"];
    return [{ key: "releases", lines: table(headers, rows) }];
  },
  tables: (value) => {
    const tables = records(value);
    if (!tables) return undefined;
    const rows = tables.map((t) => [
      t.name,
      t.status,
      t.itemCount,
      t.sizeBytes,
      t.billingMode,
      t.pitr,
      t.encryption,
      t.expected,
    ]);
    const headers = ["name", "status", "items", "bytes", "billing", "pitr", "encryption", "expected"];
    return [{ key: "tables", lines: table(headers, rows) }];
  },
  events: (value) => logEntries("events", value),
  errorLogs: (value) => logEntries("errorLogs", value),
  outputTail: (value) =>
    typeof value === "string" ? [{ key: "outputTail", lines: lastLines(value, TAIL_LINES) }] : undefined,
};

function testsOf(counts: unknown): string | undefined {
  if (!isRecord(counts)) return undefined;
  const failed = typeof counts.failed === "number" && counts.failed > 0 ? `, ${counts.failed} failed` : "";
  return `${text(counts.passed)}/${text(counts.total)} passed${failed}`;
}

/** Log events as `time level message` lines: the newest MAX_ROWS, the earlier ones counted. */
function logEntries(key: string, value: unknown): Entry[] | undefined {
  const events = records(value);
  if (!events) return undefined;
  if (events.length === 0) return [{ key, value: "none" }];
  const shown = events.slice(-MAX_LOG_LINES);
  const width = Math.max(...shown.map((e) => text(e.level, 10).length));
  const lines = shown.map((e) =>
    `${text(e.timestamp, 40)} ${text(e.level, 10).padEnd(width)} ${text(e.message)}`.trimEnd(),
  );
  const earlier = events.length - shown.length;
  return [{ key, lines: earlier > 0 ? [`… ${earlier} earlier`, ...lines] : lines }];
}

const MAX_LOG_LINES = 40;

/** The last `count` non-empty lines of untrusted output, each cleaned and cut. */
function lastLines(output: string, count: number): string[] {
  const lines = output.split(/\r?\n/).filter((line) => line.trim() !== "");
  const shown = lines.slice(-count).map((line) => cut(clean(line), VALUE_CHARS));
  return lines.length > count ? [`… ${lines.length - count} earlier lines`, ...shown] : shown;
}
