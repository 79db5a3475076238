import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

/**
 * The user's private state folder (XDG Base Directory; LOCALAPPDATA on Windows): where saved
 * terraform plans and the backend hash cache live, each under `vyaparai-deploy/`.
 */
export function stateHome(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_STATE_HOME;
  // The spec says a relative XDG path is invalid and must be ignored.
  if (xdg && isAbsolute(xdg)) return xdg;
  if (process.platform === "win32" && env.LOCALAPPDATA) return env.LOCALAPPDATA;
  return join(homedir(), ".local", "state");
}
