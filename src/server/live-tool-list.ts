import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { createMcpServer } from "./mcp-server.js";
import type { Runtime } from "./runtime.js";

/** The tools/list answer of a server with every tool, asked the way a client asks (build time). */
export async function liveToolList(runtime: Runtime): Promise<Tool[]> {
  const server = createMcpServer({ runtime, readOnly: false });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "vyaparai-deploy-build", version: "0.0.0" });
  await client.connect(clientSide);
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
    await server.close();
  }
}
