import { DeployError } from "../core/errors.js";
import { RELEASE_ID } from "./types.js";

const SAFE_SEGMENT = /^[a-z][a-z0-9-]{0,39}$/;

/**
 * Beside the records, under their own prefix (`reports/<env>/<component>/<releaseId>.md` and
 * `.svg`): `releases/` holds records only, so listings, lifecycle rules and the recovery scan
 * never meet a report. No SDK import: the MCP resources name these keys at start-up cost zero.
 */
export function reportKeys(
  env: string,
  component: string,
  releaseId: string,
): { markdown: string; svg: string } {
  // Safety: the id can come from a resource URI; it must never address another prefix.
  if (!SAFE_SEGMENT.test(env) || !SAFE_SEGMENT.test(component) || !RELEASE_ID.test(releaseId)) {
    throw new DeployError(
      "INPUT_INVALID",
      "A report key needs an env, a component and a release id of their usual shape.",
    );
  }
  const base = `reports/${env}/${component}/${releaseId}`;
  return { markdown: `${base}.md`, svg: `${base}.svg` };
}
