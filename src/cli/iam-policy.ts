import { loadConfig, resolveEnv } from "../config/load.js";
import { policiesFor } from "../iam/policy.js";

export const IAM_POLICY_USAGE = `Usage: vyaparai-deploy iam-policy [--env ENV] [--role read|deploy|trust] [--config PATH]

Prints the IAM policy documents the tools need for ENV (default prod), generated from the AWS
calls the code makes and scoped to the env's function, buckets, distribution, tables, log
group and artifact-bucket prefixes:
  read    for the person's own credentials: the read-only tools (and assuming the deploy role)
  deploy  for the deploy role: everything a guarded change sends
  trust   the deploy role's trust policy (MFA required); needs environments.ENV.deployRole
Without --role, all three as one JSON object. Notes on what they leave out go to stderr.`;

export interface IamPolicyIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: IamPolicyIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** The `iam-policy` subcommand. Exit codes: 0 printed, 1 config problem, 2 usage error. */
export function runIamPolicy(
  argv: string[],
  configPath: string | undefined,
  io: IamPolicyIo = defaultIo,
): number {
  let envName = "prod";
  let role: "read" | "deploy" | "trust" | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[i + 1];
    const name = arg.split("=")[0];
    if (name === "--help" || name === "-h") {
      io.stdout(`${IAM_POLICY_USAGE}\n`);
      return 0;
    }
    if (name !== "--env" && name !== "--role") {
      io.stderr(
        `Unknown flag ${JSON.stringify(arg.slice(0, 40))} for iam-policy. Known flags: --env, --role.\n`,
      );
      return 2;
    }
    if (value === undefined) {
      io.stderr(`${name} needs a value.\n`);
      return 2;
    }
    if (!arg.includes("=")) i++;
    if (name === "--env") envName = value;
    else if (value === "read" || value === "deploy" || value === "trust") role = value;
    else {
      io.stderr(`--role must be read, deploy or trust, got ${JSON.stringify(value.slice(0, 40))}.\n`);
      return 2;
    }
  }
  let policies: ReturnType<typeof policiesFor>;
  try {
    policies = policiesFor(resolveEnv(loadConfig({ configPath }).config, envName), envName);
  } catch (error) {
    io.stderr(`${(error as Error).message}\n`);
    return 1;
  }
  if (role === "trust" && !policies.trust) {
    io.stderr(
      `environments.${envName}.deployRole is not configured, so there is no trust policy to print.\n`,
    );
    return 1;
  }
  const output = role
    ? policies[role]
    : { read: policies.read, deploy: policies.deploy, trust: policies.trust };
  io.stdout(`${JSON.stringify(output, null, 2)}\n`);
  for (const note of policies.notes) io.stderr(`note: ${note}\n`);
  return 0;
}
