import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ListToolsRequestSchema, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { packageRoot } from "../core/package-root.js";

/**
 * The tools/list answer, written at build time by the very build that made the bundle
 * (build/bundle.ts), so a starting server does not convert ten tools' zod schemas to JSON
 * Schema before it can answer its first tools/list (~30 ms, a tenth of a start-up).
 *
 * It is the SDK's own answer — the build asks an in-memory client for it — and it is used only
 * by the bundle it was written with: esbuild puts the same build id into the bundle (define
 * `__VYAPARAI_BUILD_ID__`) and into the file. Run from src/ or from tsc's output, or beside
 * a file of another build, the SDK converts as always. test/e2e/prebuilt-tool-list.test.ts
 * compares the bundled server's answer with a live conversion.
 */
export const TOOL_LIST_FILE = "dist/tool-list.json";

declare const __VYAPARAI_BUILD_ID__: string | undefined;

export interface ToolListFile {
  buildId: string;
  tools: Tool[];
}

function ourBuildId(): string | null {
  // typeof: outside a bundle the name is not defined at all.
  return typeof __VYAPARAI_BUILD_ID__ === "string" ? __VYAPARAI_BUILD_ID__ : null;
}

/** The prebuilt answer for exactly these tools, or null when there is none for this build. */
export function prebuiltToolList(names: readonly string[]): Tool[] | null {
  const buildId = ourBuildId();
  if (!buildId) return null;
  try {
    const file = JSON.parse(readFileSync(join(packageRoot(), TOOL_LIST_FILE), "utf8")) as ToolListFile;
    if (file.buildId !== buildId || !Array.isArray(file.tools)) return null;
    const wanted = new Set(names);
    const tools = file.tools.filter((tool) => wanted.has(tool.name));
    return tools.length === wanted.size ? tools : null;
  } catch {
    return null;
  }
}

/** Answers tools/list from the prebuilt list (the tools themselves stay registered as usual). */
export function servePrebuiltToolList(server: McpServer, tools: Tool[]): void {
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
}
