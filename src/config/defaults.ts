/**
 * Built-in VyapaarAI defaults: a deploy.config.json only holds what differs from these.
 * Envs follow the `vyaparai-{resource}-{env}` convention; prod carries today's real names.
 */

/** The API's DynamoDB resources, named `vyaparai-{resource}-{env}`; list_tables checks each is there. */
export const EXPECTED_TABLES = [
  "orders",
  "stores",
  "products",
  "sessions",
  "metrics",
  "khata-transactions",
  "customer-balances",
  "products-catalog",
  "translation-cache",
];

export function conventionalEnv(env: string, isProtected: boolean): Record<string, unknown> {
  return {
    region: "ap-south-1",
    profile: null,
    accountId: null,
    protected: isProtected,
    lambda: {
      functionName: `vyaparai-api-${env}`,
      alias: null,
      artifactBucket: "vyaparai-lambda-deployments",
      artifactPrefix: env === "prod" ? "backend/" : `backend/${env}/`,
    },
    frontend: { buckets: [`vyaparai-frontend-${env}`], distributionId: null, url: null },
    health: [],
    logGroup: null,
    tables: { prefix: "vyaparai-", suffix: `-${env}`, expected: EXPECTED_TABLES },
    terraform: { dir: "infrastructure/terraform", backendConfig: {}, vars: { env } },
  };
}

export function builtInDefaults(): Record<string, unknown> {
  const prod = conventionalEnv("prod", true);
  prod.frontend = {
    buckets: ["www.vyapaarai.com"],
    distributionId: "E1UY93SVXV8QOF",
    url: "https://www.vyapaarai.com",
  };
  prod.health = [
    { name: "api", url: "https://jxxi8dtx1f.execute-api.ap-south-1.amazonaws.com/health", expectStatus: 200 },
  ];
  return {
    environments: { dev: conventionalEnv("dev", false), staging: conventionalEnv("staging", false), prod },
  };
}
