import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "vyaparai-deploy";

/**
 * The installed package's root folder (where its package.json, the slash command and the
 * plugin files are): the nearest folder above this file whose package.json is ours. Found by
 * walking up rather than by a fixed `../..`, because the same code runs from src/ (tests),
 * from tsc's dist/<folder>/ and from the bundle's dist/ and dist/chunks/ (build/bundle.ts).
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    if (isOurPackage(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) {
      throw new Error(
        `No ${PACKAGE_NAME} package.json above ${from}: the package is incomplete. Reinstall vyaparai-deploy.`,
      );
    }
  }
}

function isOurPackage(path: string): boolean {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    return false;
  }
}
