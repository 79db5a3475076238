import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

/**
 * A private moto_server on a free loopback port: the AWS emulator behind the demo, the
 * benchmarks and the tests. Never a fixed port, always stopped by whoever started it.
 */
export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export const MOTO_INSTALL_HINT = 'python3 -m venv .venv && .venv/bin/pip install "moto[server]==5.2.1"';

/** moto_server from the project's .venv, else PATH; null when neither has it. */
export function findMotoServer(projectRoot = process.cwd()): string | null {
  const venv = join(projectRoot, ".venv", "bin", "moto_server");
  if (existsSync(venv)) return venv;
  try {
    return execFileSync("sh", ["-c", "command -v moto_server"], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}:\n${output()}`);
    try {
      if ((await fetch(`${endpoint}/moto-api/data.json`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`moto_server did not become ready at ${endpoint}:\n${output()}`);
    // moto has no readiness event; it is ready ~0.4 s after spawn.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startMotoServer(options: { binary?: string } = {}): Promise<MotoServer> {
  const binary = options.binary ?? findMotoServer();
  if (!binary) throw new Error(`moto_server not found. Install it with: ${MOTO_INSTALL_HINT}`);
  for (let attempt = 0; ; attempt++) {
    const port = await freeLoopbackPort();
    const endpoint = `http://127.0.0.1:${port}`;
    const child = spawn(binary, ["-H", "127.0.0.1", "-p", String(port)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    try {
      await waitUntilReady(endpoint, child, () => output);
    } catch (error) {
      child.kill("SIGKILL");
      // Another process may have taken the port between the probe and moto's bind.
      if (attempt < 2) continue;
      throw error;
    }
    return {
      endpoint,
      port,
      pid: child.pid as number,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      },
    };
  }
}
