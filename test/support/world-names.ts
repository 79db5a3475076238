import type { WorldNames } from "../../src/demo/world.js";

/** The names of a seeded env by VyapaarAI's convention, sharing one artifact bucket. */
export function worldNames(env: string, tables: string[]): WorldNames {
  return {
    env,
    functionName: `vyaparai-api-${env}`,
    artifactBucket: "vyaparai-lambda-deployments",
    artifactPrefix: env === "prod" ? "backend/" : `backend/${env}/`,
    siteBucket: `vyaparai-frontend-${env}`,
    tablePrefix: "vyaparai-",
    tableSuffix: `-${env}`,
    tables,
  };
}
