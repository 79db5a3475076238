import { asEvidence, type PreflightCheck } from "./types.js";

/**
 * Which config the checks judged. With no deploy.config.json the built-in defaults aim at the
 * real VyapaarAI names (prod's function, bucket and distribution): worth a warning, since a
 * newcomer who meant a sandbox would otherwise only learn it from the plan.
 */
export function checkConfigSource(configPath: string | null): PreflightCheck {
  if (configPath === null) {
    return {
      name: "config",
      status: "warn",
      detail:
        "No deploy.config.json was found from the app root upward, so the built-in defaults are in use: they name VyapaarAI's real resources (prod: vyaparai-api-prod, www.vyapaarai.com).",
      remedy:
        "Run `npx vyaparai-deploy init` in the app repository to create deploy.config.json, then set the names that differ; or pass --config PATH / VYAPARAI_DEPLOY_CONFIG.",
    };
  }
  return {
    name: "config",
    status: "pass",
    detail: "The config file in use is named in evidence.",
    evidence: asEvidence([configPath]),
  };
}
