import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Safety: tests must never reach a real AWS account. Dummy credentials, a fixed region,
// and no profile or config file from the developer's machine.
process.env.AWS_ACCESS_KEY_ID = "testing";
process.env.AWS_SECRET_ACCESS_KEY = "testing";
process.env.AWS_SESSION_TOKEN = "testing";
process.env.AWS_REGION = "ap-south-1";
process.env.AWS_DEFAULT_REGION = "ap-south-1";
process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_CONFIG_FILE = "/dev/null";
process.env.AWS_SHARED_CREDENTIALS_FILE = "/dev/null";
delete process.env.AWS_PROFILE;
delete process.env.VYAPARAI_DEPLOY_CONFIG;
delete process.env.CLAUDE_PROJECT_DIR;
// An endpoint is only ever set by startMoto() for the file's own emulator.
for (const key of Object.keys(process.env)) if (key.startsWith("AWS_ENDPOINT_URL")) delete process.env[key];
// The SDK's notice about its future Node 22 requirement is known; keep test output readable.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
// Saved terraform plans go to the user's state folder: a per-run temp one, never the real one.
process.env.XDG_STATE_HOME = mkdtempSync(join(tmpdir(), "vyaparai-state-"));
// The per-user token secret lives in the user's config folder: a per-run temp one here too.
process.env.XDG_CONFIG_HOME = mkdtempSync(join(tmpdir(), "vyaparai-config-"));
delete process.env.VYAPARAI_DEPLOY_SECRET;
delete process.env.VYAPARAI_DEPLOY_READ_ONLY;
