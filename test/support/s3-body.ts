import { gunzipSync } from "node:zlib";
import type { GetObjectCommandOutput } from "@aws-sdk/client-s3";

/**
 * An object's text as stored, decompressed when S3 says Content-Encoding gzip (large release
 * records are stored so). Independent of the product's decoder, so a test reads back what S3 holds.
 */
export async function bodyText(
  out: Pick<GetObjectCommandOutput, "Body" | "ContentEncoding">,
): Promise<string> {
  const bytes = (await out.Body?.transformToByteArray()) ?? new Uint8Array();
  return out.ContentEncoding === "gzip"
    ? gunzipSync(bytes).toString("utf8")
    : Buffer.from(bytes).toString("utf8");
}
