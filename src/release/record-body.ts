import { promisify } from "node:util";
import { gunzipSync, gzip } from "node:zlib";

/**
 * How a release record is stored. A record that carries a manifest is large — 2,000 frontend
 * files make ~620 KB of JSON — and its final write is on the release's critical path, at the
 * uplink's speed. Above COMPRESS_ABOVE_BYTES the JSON is stored gzip-compressed, with
 * `Content-Encoding: gzip` saying so (~4x smaller; the S3 console and browsers decompress it,
 * `aws s3 cp … - | gunzip` does by hand). Smaller records stay plain JSON.
 */
export const COMPRESS_ABOVE_BYTES = 64 * 1024;

/**
 * Safety: a record is read from S3, where anyone with write access can put anything; a small
 * gzip body can expand to gigabytes. Decompression stops at this bound.
 */
export const MAX_RECORD_TEXT_BYTES = 64 * 1024 * 1024;

const gzipAsync = promisify(gzip);

export interface EncodedRecord {
  body: string | Uint8Array;
  contentEncoding?: "gzip";
}

export async function encodeRecordBody(text: string): Promise<EncodedRecord> {
  if (Buffer.byteLength(text, "utf8") <= COMPRESS_ABOVE_BYTES) return { body: text };
  return { body: await gzipAsync(text), contentEncoding: "gzip" };
}

/** The record's JSON text from the stored bytes; throws RecordBodyError when they cannot be read. */
export function decodeRecordBody(bytes: Uint8Array, contentEncoding: string | undefined): string {
  if (!isGzip(contentEncoding)) return Buffer.from(bytes).toString("utf8");
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_RECORD_TEXT_BYTES }).toString("utf8");
  } catch (error) {
    const tooLarge = (error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE";
    throw new RecordBodyError(
      tooLarge
        ? `expands beyond ${MAX_RECORD_TEXT_BYTES / (1024 * 1024)} MiB when decompressed`
        : "says Content-Encoding gzip but is not valid gzip",
    );
  }
}

export class RecordBodyError extends Error {}

function isGzip(contentEncoding: string | undefined): boolean {
  return (contentEncoding ?? "").split(",").some((coding) => coding.trim().toLowerCase() === "gzip");
}
