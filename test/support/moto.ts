import { afterAll, beforeAll } from "vitest";
import { type AwsClients, createAwsClients } from "../../src/aws/clients.js";
import { freeLoopbackPort, type MotoServer, startMotoServer } from "../../src/emulator/moto.js";

export interface Moto extends MotoServer {
  /** AWS clients of the product's factory, pointed at this emulator. */
  clients(region?: string): AwsClients;
}

export const freePort = freeLoopbackPort;

/** Starts a private moto_server on a free loopback port. */
export async function startMoto(): Promise<Moto> {
  const server = await startMotoServer();
  const made: AwsClients[] = [];
  return {
    endpoint: server.endpoint,
    port: server.port,
    pid: server.pid,
    clients(region = "ap-south-1") {
      const clients = createAwsClients({ region, endpoint: server.endpoint });
      made.push(clients);
      return clients;
    },
    async stop() {
      for (const c of made) c.destroy();
      await server.stop();
    },
  };
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
