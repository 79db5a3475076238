import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { liveToolList } from "../../src/server/live-tool-list.js";
import { prebuiltToolList, type ToolListFile } from "../../src/server/prebuilt-tool-list.js";
import { selectTools } from "../../src/server/registry.js";
import { createRuntime } from "../../src/server/runtime.js";
import { allTools } from "../../src/tools/index.js";
import { connectStdio, type StdioSession } from "../support/stdio.js";

/**
 * The bundled server answers tools/list from the list its build wrote (dist/tool-list.json):
 * it must be exactly what the SDK answers when it converts the tools itself, in full and in
 * read-only mode, and it must belong to that very bundle.
 */
const ROOT = resolve(import.meta.dirname, "../..");
const file = JSON.parse(readFileSync(join(ROOT, "dist/tool-list.json"), "utf8")) as ToolListFile;
let session: StdioSession | undefined;
afterEach(async () => {
  await session?.close();
  session = undefined;
});

describe("the prebuilt tools/list answer", () => {
  it("belongs to the bundle beside it (the bundle carries its build id)", () => {
    expect(file.buildId).toMatch(/^[0-9a-f-]{36}$/);
    const bundled = ["dist/main.js", ...bundleOutputs()].some((path) =>
      readFileSync(join(ROOT, path), "utf8").includes(JSON.stringify(file.buildId)),
    );
    expect(bundled).toBe(true);
    // From src/ (no bundle) there is no prebuilt answer: the SDK converts.
    expect(prebuiltToolList(allTools.map((t) => t.name))).toBeNull();
  });

  it("is what the SDK answers itself, in full and in read-only mode", async () => {
    const runtime = createRuntime({
      loaded: loadConfig({ cwd: mkdtempSync(join(tmpdir(), "vyaparai-toollist-")), env: {} }),
      env: {},
    });
    const live = await liveToolList(runtime);
    runtime.close();
    expect(file.tools).toEqual(live);

    const cwd = mkdtempSync(join(tmpdir(), "vyaparai-toollist-app-"));
    session = await connectStdio({ cwd });
    expect((await session.client.listTools()).tools).toEqual(live);
    await session.close();

    session = await connectStdio({ cwd, args: ["--read-only"] });
    const readOnly = new Set(selectTools(allTools, { readOnly: true }).map((t) => t.name));
    expect((await session.client.listTools()).tools).toEqual(live.filter((tool) => readOnly.has(tool.name)));
  });
});

function bundleOutputs(): string[] {
  const meta = JSON.parse(readFileSync(join(ROOT, "dist/bundle-meta.json"), "utf8")) as {
    outputs: Record<string, unknown>;
  };
  return Object.keys(meta.outputs).filter((path) => path.endsWith(".js"));
}
