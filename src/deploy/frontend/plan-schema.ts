import * as z from "zod";

/**
 * The frontend plan, integrity report and invalidation as zod schemas: the output schemas of
 * deploy_frontend and the frontend rollback. Only zod here, so tool files can import it.
 */
export const frontendPlanSchema = z.object({
  upload: z.number(),
  unchanged: z.number(),
  delete: z.number(),
  bytes: z.number().describe("Bytes sent to S3 (headers-only fixes are server-side copies and send none)."),
  uploadFiles: z.array(z.string()),
  deleteFiles: z.array(z.string()),
  files: z.number().describe("Files in the new release."),
  keptStale: z.number().describe("Files no longer in the release, kept for the grace period."),
  buckets: z.array(z.string()),
  skippedDotfiles: z
    .number()
    .describe("Dotfiles in dist/ not uploaded: no frontend.uploadDotfiles rule allows them."),
  skippedDotfileList: z
    .array(z.string())
    .describe("The first 50 skipped dotfiles (file names from the repo)."),
  truncated: z.boolean().describe("uploadFiles/deleteFiles/skippedDotfileList list only the first 50."),
});

export const integrityReportSchema = z.object({
  ok: z.boolean(),
  checked: z.number().describe("Asset references in the live index.html checked per bucket."),
  missing: z.array(z.object({ bucket: z.string(), key: z.string() })),
  url: z.object({ url: z.string(), status: z.number().nullable(), ok: z.boolean() }).nullable(),
  warnings: z.array(z.string()),
});

export const invalidationSchema = z.object({
  id: z.string(),
  paths: z.array(z.string()),
  status: z.string(),
});
