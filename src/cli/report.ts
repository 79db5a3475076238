import { resolveEnv } from "../config/load.js";
import { describeError } from "../core/errors.js";
import { isReleaseId, loadReleaseRecord } from "../release/records.js";
import { renderReleaseReport } from "../release/report.js";
import { readStoredReport, reportKeys } from "../release/report-store.js";
import { renderTimelineSvg } from "../release/report-svg.js";
import type { Component, ReleaseRecord } from "../release/types.js";
import { startRuntime } from "../server/startup.js";

export const REPORT_USAGE = `Usage: vyaparai-deploy report RELEASE_ID [--env ENV] [--component lambda|frontend|infra] [--svg]

Prints a release's report (Markdown, with a Mermaid timeline), or with --svg its timeline as
SVG: the one stored beside the release record, else rendered from the record. ENV defaults to
prod; without --component the release is looked up in each component.`;

interface ReportArgs {
  releaseId: string;
  env: string;
  component: Component | null;
  svg: boolean;
}

function parseReportArgs(argv: string[]): ReportArgs | string {
  const args: ReportArgs = { releaseId: "", env: "prod", component: null, svg: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--svg") args.svg = true;
    else if (arg === "--env" || arg === "--component") {
      const value = argv[++i];
      if (!value) return `${arg} needs a value.`;
      if (arg === "--env") args.env = value;
      else if (value === "lambda" || value === "frontend" || value === "infra") args.component = value;
      else return `--component must be lambda, frontend or infra.`;
    } else if (arg.startsWith("-"))
      return `Unknown flag ${JSON.stringify(arg.slice(0, 40))} for report. Known flags: --env, --component, --svg.`;
    else if (args.releaseId) return "report takes one release id.";
    else args.releaseId = arg;
  }
  if (!isReleaseId(args.releaseId))
    return "Pass a release id (e.g. 20261125T130512345Z-3fa9c1; deploy_status lists them).";
  return args;
}

export async function runReport(argv: string[], configPath: string | undefined): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${REPORT_USAGE}\n`);
    return 0;
  }
  const args = parseReportArgs(argv);
  if (typeof args === "string") {
    process.stderr.write(`${args}\n${REPORT_USAGE}\n`);
    return 2;
  }
  const { runtime } = startRuntime({ configPath, readOnlyFlag: true });
  try {
    if (runtime.configError) throw runtime.configError;
    const env = resolveEnv(runtime.loaded.config, args.env);
    const s3 = await runtime.clientsFor(args.env).s3();
    const bucket = env.lambda.artifactBucket;
    const components: Component[] = args.component ? [args.component] : ["lambda", "frontend", "infra"];
    let record: ReleaseRecord | null = null;
    for (const component of components) {
      record = await loadReleaseRecord(s3, bucket, args.env, component, args.releaseId);
      if (record) break;
    }
    if (!record) {
      process.stderr.write(
        `Release ${args.releaseId} is not recorded for ${components.join(", ")} of "${args.env}" in s3://${bucket}/releases/${args.env}/. deploy_status lists the releases.\n`,
      );
      return 1;
    }
    const stored = await readStoredReport(s3, bucket, record, args.svg ? "svg" : "markdown");
    const svgName = reportKeys(record.env, record.component, record.releaseId).svg.split("/").at(-1);
    process.stdout.write(
      stored ??
        (args.svg
          ? renderTimelineSvg(record)
          : renderReleaseReport(record, svgName ? { timelineSvgName: svgName } : {})),
    );
    return 0;
  } catch (error) {
    process.stderr.write(`vyaparai-deploy report: ${describeError(error)}\n`);
    return 1;
  } finally {
    runtime.close();
  }
}
