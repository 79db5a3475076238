import type { AnyToolDefinition } from "./definition.js";
import { deployFrontendTool } from "./deploy-frontend.js";
import { deployLambdaTool } from "./deploy-lambda.js";
import { deployStatusTool } from "./deploy-status.js";
import { healthCheckTool } from "./health-check.js";
import { listTablesTool } from "./list-tables.js";
import { preflightTool } from "./preflight.js";
import { rollbackTool } from "./rollback.js";
import { tailLogsTool } from "./tail-logs.js";
import { terraformApplyTool } from "./terraform-apply.js";
import { terraformPlanTool } from "./terraform-plan.js";

/** The one flat list of tools. Filters (read-only mode) act on it before registration. */
export const allTools: readonly AnyToolDefinition[] = [
  preflightTool,
  deployLambdaTool,
  deployFrontendTool,
  terraformPlanTool,
  terraformApplyTool,
  healthCheckTool,
  tailLogsTool,
  listTablesTool,
  rollbackTool,
  deployStatusTool,
];
