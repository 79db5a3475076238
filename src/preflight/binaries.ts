import { constants } from "node:fs";
import { access, readdir, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import type { PreflightDeps } from "./deps.js";
import type { PreflightCheck, PreflightComponent } from "./types.js";

/** What `binaries` reads: the test/build commands, their folders and the env's terraform binary. */
export type BinariesDeps = Pick<PreflightDeps, "appRoot" | "envName" | "env"> & {
  config: Pick<Config, "backend" | "frontend">;
};

/** What `terraform-dir` reads. */
export type TerraformDirDeps = Pick<PreflightDeps, "appRoot" | "envName" | "env">;

/** A program some step needs; any one of `alternatives` will do (terraform or tofu). */
interface Requirement {
  alternatives: string[];
  /** What needs it, e.g. "backend.testCommand". */
  neededBy: string;
  /** Folder a relative program path (./run-tests.sh) is resolved against. */
  cwd: string;
}

const INSTALL_HINTS: Record<string, string> = {
  node: "install Node.js 20+ (it brings npm)",
  npm: "install Node.js 20+ (it brings npm)",
  python3: "install Python 3.11",
  python: "install Python 3.11",
  terraform: "install Terraform (https://developer.hashicorp.com/terraform/install) or OpenTofu",
  tofu: "install OpenTofu (https://opentofu.org/docs/intro/install/) or Terraform",
};

// Shell words that are not programs on PATH; a command starting with one is not checked.
const SHELL_BUILTINS = new Set([
  "cd",
  "exec",
  ".",
  "source",
  "set",
  "export",
  "true",
  ":",
  "test",
  "[",
  "if",
]);

/**
 * The program a shell command line starts: skips `VAR=value` prefixes and `env`; null when
 * the line starts with a shell builtin (then the shell decides at run time).
 */
export function commandProgram(command: string): string | null {
  const words = command.trim().split(/\s+/);
  for (const raw of words) {
    const word = raw.replace(/^["']|["']$/g, "");
    if (!word || /^[A-Za-z_][A-Za-z0-9_]*=/.test(word) || word === "env") continue;
    return SHELL_BUILTINS.has(word) ? null : word;
  }
  return null;
}

/** Finds an executable the way a shell does: a path as given, else each PATH entry. */
export async function findExecutable(
  program: string,
  cwd: string,
  pathVariable: string | undefined,
): Promise<string | null> {
  const candidates = program.includes("/")
    ? [isAbsolute(program) ? program : resolve(cwd, program)]
    : (pathVariable ?? "")
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, program));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function requirementsFor(deps: BinariesDeps, components: PreflightComponent[]): Requirement[] {
  const needs: Requirement[] = [];
  const partDir = (dir: string) => resolve(deps.appRoot, dir);
  if (components.includes("backend") && deps.config.backend.testCommand) {
    const program = commandProgram(deps.config.backend.testCommand);
    if (program)
      needs.push({
        alternatives: [program],
        neededBy: "backend.testCommand",
        cwd: partDir(deps.config.backend.dir),
      });
  }
  if (components.includes("frontend")) {
    const cwd = partDir(deps.config.frontend.dir);
    needs.push({ alternatives: ["node"], neededBy: "the frontend build", cwd });
    needs.push({ alternatives: ["npm"], neededBy: "the frontend build", cwd });
    for (const key of ["testCommand", "buildCommand"] as const) {
      const command = deps.config.frontend[key];
      const program = command ? commandProgram(command) : null;
      if (program) needs.push({ alternatives: [program], neededBy: `frontend.${key}`, cwd });
    }
  }
  if (components.includes("infra")) {
    const forced = deps.env.terraform.binary;
    needs.push({
      alternatives: forced ? [forced] : ["terraform", "tofu"],
      neededBy: forced ? `environments.${deps.envName}.terraform.binary` : "terraform_plan / terraform_apply",
      cwd: deps.appRoot,
    });
  }
  // One line per program: the first requirement naming it says why it is needed.
  const seen = new Set<string>();
  return needs.filter((need) => {
    const key = need.alternatives.join("|");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `binaries`: every program the chosen components need is installed. */
export async function checkBinaries(
  deps: BinariesDeps,
  components: PreflightComponent[],
  pathVariable: string | undefined,
): Promise<PreflightCheck> {
  const needs = requirementsFor(deps, components);
  if (needs.length === 0) {
    return { name: "binaries", status: "pass", detail: "No local programs are needed for these components." };
  }
  const results = await Promise.all(
    needs.map(async (need) => {
      for (const program of need.alternatives) {
        const path = await findExecutable(program, need.cwd, pathVariable);
        if (path) return { need, program, path };
      }
      return { need, program: need.alternatives[0] as string, path: null };
    }),
  );
  const found = results.filter((r) => r.path);
  const missing = results.filter((r) => !r.path);
  const foundText = found.map((r) => `${r.program} (${r.path})`).join(", ");
  if (missing.length === 0) return { name: "binaries", status: "pass", detail: `Found ${foundText}.` };
  const missingText = missing
    .map((r) => `${r.need.alternatives.join(" or ")} (needed by ${r.need.neededBy})`)
    .join(", ");
  const hints = [...new Set(missing.map((r) => INSTALL_HINTS[r.program] ?? `install ${r.program}`))];
  return {
    name: "binaries",
    status: "fail",
    detail: `Not found on PATH: ${missingText}.${found.length ? ` Found ${foundText}.` : ""}`,
    remedy: `${capitalise(hints.join("; "))}, or fix the command in deploy.config.json; then rerun preflight.`,
  };
}

/** `terraform-dir`: the env's Terraform folder exists and holds .tf files. */
export async function checkTerraformDir(deps: TerraformDirDeps): Promise<PreflightCheck> {
  const relative = deps.env.terraform.dir;
  const dir = resolve(deps.appRoot, relative);
  const key = `environments.${deps.envName}.terraform.dir`;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return {
      name: "terraform-dir",
      status: "fail",
      detail: `The Terraform folder ${relative} does not exist under ${deps.appRoot}.`,
      remedy: `Set ${key} in deploy.config.json to the folder holding the .tf files.`,
    };
  }
  const tfFiles = entries.filter((e) => e.endsWith(".tf") || e.endsWith(".tf.json"));
  if (tfFiles.length === 0) {
    return {
      name: "terraform-dir",
      status: "fail",
      detail: `${relative} holds no .tf files.`,
      remedy: `Set ${key} in deploy.config.json to the folder holding the .tf files.`,
    };
  }
  return { name: "terraform-dir", status: "pass", detail: `${relative}: ${tfFiles.length} .tf file(s).` };
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
