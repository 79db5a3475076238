import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { afterAll, beforeAll } from "vitest";
import { type AwsClients, createAwsClients } from "../../src/aws/clients.js";
import { motoServerPath } from "./real-parts.js";

export interface Moto {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
  /** AWS clients of the product's factory, pointed at this emulator. */
  clients(region?: string): AwsClients;
}

export async function freePort(): Promise<number> {
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
      const response = await fetch(`${endpoint}/moto-api/data.json`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`moto_server did not become ready at ${endpoint}:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts a private moto_server on a free loopback port. */
export async function startMoto(): Promise<Moto> {
  const binary = motoServerPath();
  if (!binary)
    throw new Error(
      'moto_server not found: python3 -m venv .venv && .venv/bin/pip install "moto[server]==5.2.1"',
    );
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
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
      // Another process may have taken the port between our probe and moto's bind.
      if (attempt < 2) continue;
      throw error;
    }
    const made: AwsClients[] = [];
    return {
      endpoint,
      port,
      clients(region = "ap-south-1") {
        const clients = createAwsClients({ region, endpoint });
        made.push(clients);
        return clients;
      },
      async stop() {
        for (const c of made) c.destroy();
        if (child.exitCode !== null) return;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      },
    };
  }
}

/**
 * Gives the calling test file its own moto for all its tests, and points the SDK's
 * endpoint variables at it (each file runs in its own process, see vitest.config.ts).
 */
export function useMoto(): { readonly current: Moto } {
  const holder: { current: Moto } = { current: undefined as unknown as Moto };
  beforeAll(async () => {
    holder.current = await startMoto();
    process.env.AWS_ENDPOINT_URL = holder.current.endpoint;
  });
  afterAll(async () => {
    delete process.env.AWS_ENDPOINT_URL;
    await holder.current?.stop();
  });
  return holder;
}
