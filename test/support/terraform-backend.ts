/**
 * terraform's S3 backend pointed at moto: path-style requests to the emulator, no credential,
 * account, metadata or region checks (moto has none to offer), and S3-native state locking.
 */
export function motoS3Backend(endpoint: string, bucket: string, key: string): Record<string, string> {
  return {
    bucket,
    key,
    region: "ap-south-1",
    endpoints: `{s3="${endpoint}"}`,
    use_path_style: "true",
    skip_credentials_validation: "true",
    skip_requesting_account_id: "true",
    skip_metadata_api_check: "true",
    skip_region_validation: "true",
    use_lockfile: "true",
  };
}
