/** `CopySource` of a CopyObject: the bucket, then the key URL-encoded per segment. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
}
