/**
 * The environment of every program the bench starts (our server, the bare server, the aws
 * CLI): this machine's env without any AWS setting, plus the emulator and dummy credentials.
 * Safety: nothing the bench runs may reach a real AWS account. With `scratch`, the XDG state
 * and cache folders point into it, so what the product keeps per user (the Lambda hash cache)
 * starts empty each run and never lands in this user's home.
 */
export function benchEnv(endpoint: string, scratch?: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith("AWS_") || key === "VYAPARAI_DEPLOY_CONFIG") continue;
    if (key === "CLAUDE_PROJECT_DIR") continue;
    env[key] = value;
  }
  return {
    ...env,
    ...(scratch ? { XDG_STATE_HOME: `${scratch}/xdg-state`, XDG_CACHE_HOME: `${scratch}/xdg-cache` } : {}),
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    AWS_SESSION_TOKEN: "testing",
    AWS_REGION: "ap-south-1",
    AWS_DEFAULT_REGION: "ap-south-1",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_PAGER: "",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
}
