import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * Generates a VyapaarAI-shaped app repository: a Python Lambda backend with pytest tests,
 * a frontend whose build writes a hashed Vite-like dist/, a terraform dir of built-in
 * `terraform_data` resources, and a deploy.config.json — committed in a fresh git repo so
 * preflight sees a clean tree. Used by the demo and the end-to-end tests.
 */
export interface SampleAppOptions {
  root: string;
  /** Merged into the generated deploy.config.json. */
  config: Record<string, unknown>;
  /** Text baked into the API code; change it to get a new CodeSha256. */
  apiVersion?: string;
  /** Text baked into the main chunk; change it to get a one-chunk rebuild. */
  frontendVersion?: string;
}

function write(root: string, path: string, content: string, mode?: number): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  if (mode !== undefined) chmodSync(file, mode);
}

export function writeBackend(root: string, apiVersion: string): void {
  write(
    root,
    "backend/lambda_handler.py",
    "from app.main import handle\n\n\ndef handler(event, context):\n    return handle(event)\n",
  );
  write(root, "backend/app/__init__.py", "");
  write(
    root,
    "backend/app/main.py",
    `API_VERSION = "${apiVersion}"\n\n\ndef handle(event):\n    return {"statusCode": 200, "body": API_VERSION}\n`,
  );
  write(
    root,
    "backend/app/orders.py",
    "def total(items):\n    return sum(i['qty'] * i['price'] for i in items)\n",
  );
  write(root, "backend/lambda_deps/tinyjson/__init__.py", "import json\n\ndumps = json.dumps\n");
  write(root, "backend/lambda_deps/bin/helper.sh", "#!/bin/sh\necho ok\n", 0o755);
  write(
    root,
    "backend/tests/test_orders.py",
    "import sys, os\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))\nfrom app.orders import total\n\n\ndef test_total():\n    assert total([{'qty': 2, 'price': 5}]) == 10\n\n\ndef test_empty():\n    assert total([]) == 0\n",
  );
}

const BUILD_SCRIPT = `// Writes a Vite-like dist/: content-hashed assets, index.html, sw.js, manifest.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
const version = readFileSync("src/version.txt", "utf8").trim();
rmSync("dist", { recursive: true, force: true });
mkdirSync("dist/assets", { recursive: true });
const hash = (s) => createHash("sha256").update(s).digest("hex").slice(0, 8);
const assets = [];
const emit = (name, ext, body) => { const file = \`assets/\${name}-\${hash(body)}.\${ext}\`; writeFileSync(\`dist/\${file}\`, body); assets.push(file); return file; };
const main = emit("index", "js", \`console.log("VyapaarAI \${version}");\\n\`);
const css = emit("index", "css", "body{font-family:sans-serif}\\n");
for (let i = 0; i < 40; i++) emit(\`chunk\${i}\`, "js", \`export const n\${i} = \${i};\\n\`);
writeFileSync("dist/index.html", \`<!doctype html><html><head><link rel="stylesheet" href="/\${css}"><link rel="manifest" href="/manifest.webmanifest"></head><body><div id="root"></div><script type="module" src="/\${main}"></script><script src="/registerSW.js"></script></body></html>\\n\`);
writeFileSync("dist/sw.js", \`const PRECACHE = \${JSON.stringify(assets)};\\n\`);
writeFileSync("dist/registerSW.js", "if('serviceWorker' in navigator)navigator.serviceWorker.register('/sw.js');\\n");
writeFileSync("dist/manifest.webmanifest", JSON.stringify({ name: "VyapaarAI", start_url: "/" }) + "\\n");
writeFileSync("dist/favicon.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>\\n");
console.log(\`built \${assets.length} assets\`);
`;

export function writeFrontend(root: string, frontendVersion: string): void {
  write(
    root,
    "frontend-pwa/package.json",
    `${JSON.stringify(
      {
        name: "vyapaarai-pwa",
        private: true,
        type: "module",
        scripts: { build: "node build.mjs", test: "node --test" },
      },
      null,
      2,
    )}\n`,
  );
  write(root, "frontend-pwa/build.mjs", BUILD_SCRIPT);
  write(root, "frontend-pwa/src/version.txt", `${frontendVersion}\n`);
  write(
    root,
    "frontend-pwa/test/version.test.mjs",
    'import { test } from "node:test";\nimport assert from "node:assert";\nimport { readFileSync } from "node:fs";\ntest("version is set", () => assert.ok(readFileSync("src/version.txt", "utf8").trim().length > 0));\n',
  );
}

/**
 * Built-in `terraform_data` resources only (no provider to download), state in an S3 backend
 * whose settings come from the env's `terraform.backendConfig`. A new `apiMemory` is an
 * in-place update of `api_config`.
 */
export function writeTerraform(root: string, apiMemory = 1024): void {
  write(
    root,
    "infrastructure/terraform/main.tf",
    `terraform {\n  backend "s3" {}\n}\n\nvariable "env" {\n  type = string\n}\n\nresource "terraform_data" "api_config" {\n  input = { env = var.env, memory = ${apiMemory} }\n}\n\nresource "terraform_data" "orders_table" {\n  input = "vyaparai-orders-\${var.env}"\n}\n`,
  );
}

export function git(root: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd: root,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "VyapaarAI Dev",
      GIT_AUTHOR_EMAIL: "dev@vyapaarai.invalid",
      GIT_COMMITTER_NAME: "VyapaarAI Dev",
      GIT_COMMITTER_EMAIL: "dev@vyapaarai.invalid",
    },
  }).trim();
}

export function commitAll(root: string, message: string): string {
  git(root, "add", "-A");
  git(root, "commit", "-q", "--allow-empty", "-m", message);
  return git(root, "rev-parse", "HEAD");
}

export function writeSampleApp(options: SampleAppOptions): string {
  const { root } = options;
  mkdirSync(root, { recursive: true });
  writeBackend(root, options.apiVersion ?? "1.0.0");
  writeFrontend(root, options.frontendVersion ?? "1.0.0");
  writeTerraform(root);
  write(root, "deploy.config.json", `${JSON.stringify(options.config, null, 2)}\n`);
  write(
    root,
    ".gitignore",
    "frontend-pwa/dist/\n.terraform/\n.vyaparai-deploy/\n__pycache__/\n.pytest_cache/\n",
  );
  git(root, "init", "-q", "-b", "main");
  return commitAll(root, "VyapaarAI sample app");
}
