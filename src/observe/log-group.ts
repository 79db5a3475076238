import { GetFunctionConfigurationCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { isAwsErrorNamed, mapAwsError } from "../aws/errors.js";
import type { EnvConfig } from "../config/schema.js";

/**
 * The function's log group: the config's `logGroup`, else the function's
 * `LoggingConfig.LogGroup` (the truth when a custom group is set; an old doc names a wrong
 * one), else the runtime default `/aws/lambda/<functionName>`.
 */
export async function resolveLogGroup(env: EnvConfig, lambda: LambdaClient): Promise<string> {
  if (env.logGroup) return env.logGroup;
  const fallback = `/aws/lambda/${env.lambda.functionName}`;
  try {
    const out = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: env.lambda.functionName }),
    );
    // moto 5.2.1 drops LoggingConfig, so against it this always falls through to the default.
    return out.LoggingConfig?.LogGroup || fallback;
  } catch (error) {
    // A logs-only role may not read the function, and a deleted function still has its logs:
    // the runtime's default group is then the best answer, not a failure.
    if (isAwsErrorNamed(error, "ResourceNotFoundException", "AccessDeniedException", "AccessDenied")) {
      return fallback;
    }
    throw mapAwsError(error, "lambda:GetFunctionConfiguration", env.lambda.functionName);
  }
}
