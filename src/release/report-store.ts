import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { isAwsErrorNamed, mapAwsError } from "../aws/errors.js";
import { describeError } from "../core/errors.js";
import { redactText } from "../core/redact.js";
import { renderReleaseReport } from "./report.js";
import { reportKeys } from "./report-keys.js";
import { renderTimelineSvg } from "./report-svg.js";
import type { ReleaseRecord } from "./types.js";

export { reportKeys };

/** Renders and stores the report of a finished release. Never throws: a report is not worth a failed answer. */
export async function storeReleaseReport(
  s3: S3Client,
  bucket: string,
  record: ReleaseRecord,
): Promise<{ ok: true; key: string } | { ok: false; warning: string }> {
  const keys = reportKeys(record.env, record.component, record.releaseId);
  const svgName = keys.svg.slice(keys.svg.lastIndexOf("/") + 1);
  try {
    // Redacted like every record field that leaves the server.
    const markdown = redactText(renderReleaseReport(record, { timelineSvgName: svgName }));
    await Promise.all([
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: keys.markdown,
          Body: markdown,
          ContentType: "text/markdown; charset=utf-8",
        }),
      ),
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: keys.svg,
          Body: redactText(renderTimelineSvg(record)),
          ContentType: "image/svg+xml",
        }),
      ),
    ]);
    return { ok: true, key: keys.markdown };
  } catch (error) {
    return {
      ok: false,
      warning: `The release report s3://${bucket}/${keys.markdown} could not be written (${describeError(error)}); \`vyaparai-deploy report ${record.releaseId}\` renders it from the record instead.`,
    };
  }
}

/** The stored report (Markdown or SVG), or null when none was stored. */
export async function readStoredReport(
  s3: S3Client,
  bucket: string,
  record: Pick<ReleaseRecord, "env" | "component" | "releaseId">,
  kind: "markdown" | "svg",
): Promise<string | null> {
  const key = reportKeys(record.env, record.component, record.releaseId)[kind];
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await out.Body?.transformToString()) ?? null;
  } catch (error) {
    if (isAwsErrorNamed(error, "NoSuchKey", "NotFound")) return null;
    throw mapAwsError(error, "s3:GetObject", `s3://${bucket}/${key}`);
  }
}
