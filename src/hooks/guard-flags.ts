/**
 * The PreToolUse hook of the vyaparai-deploy Claude Code plugin (hooks/hooks.json runs
 * `node dist/hooks/guard-flags.js`). It refuses a destructive call that sets force, prune,
 * allowDataLoss or breakLock unless the person typed that flag in this conversation; other
 * calls get no opinion. Node built-ins only: it runs from the plugin cache, maybe without
 * node_modules. Always exits 0; a refusal is the JSON it prints.
 */
import { guard, MAX_INPUT_BYTES, readBounded } from "./hook-io.js";
import { hookOutput, refuseUnreadableInput } from "./typed-flags.js";

let stdin: { text: string } | { unreadable: string };
try {
  stdin = { text: await readBounded(process.stdin, MAX_INPUT_BYTES) };
} catch (error) {
  stdin = { unreadable: error instanceof Error ? error.message : String(error) };
  process.stdin.destroy();
}

let output: string;
try {
  output = guard(stdin).output;
} catch (error) {
  const why = error instanceof Error ? error.message : String(error);
  output = hookOutput(refuseUnreadableInput(`the guard itself failed (${why})`));
}
process.stdout.write(output);
process.exitCode = 0;
