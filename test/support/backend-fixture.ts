import { chmodSync, existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runGit } from "./git-fixtures.js";

export interface BackendFixtureOptions {
  /** App root to write into; a fresh temp dir when omitted. */
  appRoot?: string;
  /** Changes the handler's content so two fixtures package differently. */
  variant?: string;
  /** Number of extra dependency modules (to make a bigger tree for benchmarks). */
  extraDependencyFiles?: number;
  /** Bytes per extra dependency file. */
  extraDependencyBytes?: number;
  /**
   * Commit the app root to git afterwards (a repo is created when there is none): a deploy
   * only packages a tree that git HEAD vouches for.
   */
  commit?: boolean;
}

/** A backend tree shaped like VyapaarAI's: app/**, lambda_handler.py, lambda_deps/<pkgs>. */
export function writeBackendFixture(options: BackendFixtureOptions = {}): {
  appRoot: string;
  files: string[];
} {
  const appRoot = options.appRoot ?? mkdtempSync(join(tmpdir(), "vyaparai-backend-"));
  const variant = options.variant ?? "v1";
  const files: Record<string, string> = {
    "backend/lambda_handler.py": `from app.main import handle\n\nVARIANT = "${variant}"\n\ndef handler(event, context):\n    return handle(event)\n`,
    "backend/app/__init__.py": "",
    "backend/app/main.py": 'def handle(event):\n    return {"statusCode": 200, "body": "ok"}\n',
    "backend/app/api/__init__.py": "",
    "backend/app/api/orders.py": "def list_orders():\n    return []\n",
    "backend/app/api/__pycache__/orders.cpython-311.pyc": "\u0000compiled",
    "backend/app/__pycache__/main.cpython-311.pyc": "\u0000compiled",
    "backend/app/stray.pyc": "\u0000compiled",
    "backend/lambda_deps/pydantic/__init__.py": "VERSION = '2.7.0'\n",
    "backend/lambda_deps/pydantic/main.py": "class BaseModel: ...\n".repeat(200),
    "backend/lambda_deps/pydantic/__pycache__/main.cpython-311.pyc": "\u0000compiled",
    "backend/lambda_deps/mangum/__init__.py": "from .adapter import Mangum\n",
    "backend/lambda_deps/mangum/adapter.py": "class Mangum: ...\n",
    "backend/lambda_deps/bin/uvicorn": "#!/usr/bin/env python3\nprint('run')\n",
    "backend/tests/test_main.py": "def test_ok():\n    assert True\n",
    "backend/README.md": "not packaged\n",
  };
  const extra = options.extraDependencyFiles ?? 0;
  const extraBytes = options.extraDependencyBytes ?? 4096;
  for (let i = 0; i < extra; i++) {
    const line = `value_${i} = "${"x".repeat(60)}"  # generated module ${i}\n`;
    files[`backend/lambda_deps/bigpkg/mod_${String(i).padStart(5, "0")}.py`] = line.repeat(
      Math.max(1, Math.ceil(extraBytes / line.length)),
    );
  }
  for (const [name, body] of Object.entries(files)) {
    const path = join(appRoot, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
    chmodSync(path, 0o644);
  }
  chmodSync(join(appRoot, "backend/lambda_deps/bin/uvicorn"), 0o755);
  if (options.commit) commitFixture(appRoot, `backend ${variant}`);
  return { appRoot, files: Object.keys(files) };
}

/** Stages and commits everything under appRoot, creating the repo first when needed. */
export function commitFixture(appRoot: string, message = "backend"): string {
  if (!existsSync(join(appRoot, ".git"))) {
    runGit(appRoot, "init", "--quiet", "--initial-branch=main");
    runGit(appRoot, "config", "commit.gpgsign", "false");
  }
  runGit(appRoot, "add", "-A");
  runGit(appRoot, "commit", "--quiet", "--allow-empty", "-m", message);
  return runGit(appRoot, "rev-parse", "HEAD");
}

/** Sets every fixture file's mtime to `when` (to prove mtimes do not change the zip). */
export function touchAll(appRoot: string, files: string[], when: Date): void {
  for (const name of files) utimesSync(join(appRoot, name), when, when);
}

/** Zip names the default backend config must produce for the fixture (sorted). */
export const EXPECTED_FIXTURE_ENTRIES = [
  "app/__init__.py",
  "app/api/__init__.py",
  "app/api/orders.py",
  "app/main.py",
  "bin/uvicorn",
  "lambda_handler.py",
  "mangum/__init__.py",
  "mangum/adapter.py",
  "pydantic/__init__.py",
  "pydantic/main.py",
];
