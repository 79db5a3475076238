#!/usr/bin/env node
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

/**
 * The start-up floor: a stdio MCP server with one trivial tool and nothing else. The
 * `startup` scenario compares our server's spawn → first tools/list answer against this.
 */
const server = new McpServer({ name: "bench-bare", version: "0.0.0" });
server.registerTool("ping", { title: "Ping", description: "Answers pong." }, async () => ({
  content: [{ type: "text" as const, text: "pong" }],
}));
await server.connect(new StdioServerTransport());
