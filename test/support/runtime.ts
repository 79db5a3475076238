import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAwsClients } from "../../src/aws/clients.js";
import { CONFIG_FILE_NAME, loadConfig } from "../../src/config/load.js";
import { createRuntime, type Runtime, type RuntimeOptions } from "../../src/server/context.js";
import type { Moto } from "./moto.js";

export interface TestRuntimeOptions {
  moto: Moto;
  /** deploy.config.json content written into the app root. */
  config?: Record<string, unknown>;
  /** App root folder; a fresh temp dir when omitted. */
  appRoot?: string;
  now?: RuntimeOptions["now"];
  run?: RuntimeOptions["run"];
  secret?: string;
}

/** A runtime whose AWS clients talk to the given moto, with a config file in a temp app root. */
export function testRuntime(options: TestRuntimeOptions): Runtime {
  const appRoot = options.appRoot ?? mkdtempSync(join(tmpdir(), "vyaparai-app-"));
  writeFileSync(join(appRoot, CONFIG_FILE_NAME), JSON.stringify(options.config ?? {}, null, 2));
  const loaded = loadConfig({ cwd: appRoot, env: {} });
  return createRuntime({
    loaded,
    env: options.secret ? { VYAPARAI_DEPLOY_SECRET: options.secret } : {},
    ...(options.now ? { now: options.now } : {}),
    ...(options.run ? { run: options.run } : {}),
    makeClients: (envConfig) =>
      createAwsClients({ region: envConfig.region, endpoint: options.moto.endpoint }),
  });
}
