import { inspectPackagedTree } from "../../src/deploy/lambda/tree.js";
import type { Runtime } from "../../src/server/runtime.js";

/**
 * Leaves in the runtime what a passing preflight of `gitSha` leaves behind, so the tests-first
 * gate opens (the preflight store is tested on its own). With the backend among `components`
 * it records the backend tree as it is now, as a real preflight would.
 */
export async function markPreflightPassed(
  runtime: Runtime,
  gitSha: string,
  components: string[],
  env = "prod",
): Promise<void> {
  // An app without a packageable backend (release-flow tests) records no tree, as preflight would.
  const treeDigest = components.includes("backend")
    ? await inspectPackagedTree({
        appRoot: runtime.loaded.appRoot,
        backend: runtime.loaded.config.backend,
        run: runtime.run,
      }).then(
        (tree) => (tree.problems.length === 0 ? tree.digest : null),
        () => null,
      )
    : null;
  runtime.session.preflights.set(env, {
    preflightId: "pf-20261125T130000Z-00000000",
    env,
    gitSha,
    clean: true,
    ok: true,
    at: new Date().toISOString(),
    components,
    treeDigest,
  });
}
