import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { ToolContext } from "../../src/release/context.js";
import { readGitState } from "../../src/release/git.js";
import {
  evaluateTestsFirstGate,
  findPassingPreflight,
  readLatestPreflight,
  recordPreflight,
  type StoredPreflight,
} from "../../src/release/preflight-records.js";
import type { Runtime } from "../../src/server/runtime.js";
import { createGitRepo, type GitFixture } from "../support/git-fixtures.js";
import type { Moto } from "../support/moto.js";
import { testRuntime, toolContextFor } from "../support/runtime.js";

// These tests touch no AWS: the runtime's clients are never used.
const NO_MOTO = { endpoint: "http://127.0.0.1:9", port: 9 } as unknown as Moto;

let clock: Date;
let repo: GitFixture;

function runtimeAt(appRoot: string, config: Record<string, unknown> = {}): Runtime {
  return testRuntime({ moto: NO_MOTO, appRoot, config, now: () => clock });
}

function contextFor(rt: Runtime, envName = "prod"): ToolContext {
  return toolContextFor(rt, { toolName: "preflight", envName });
}

function passing(patch: Partial<StoredPreflight> = {}): StoredPreflight {
  return {
    preflightId: "pf-20261125T130000Z-00000001",
    env: "prod",
    gitSha: repo.head(),
    clean: true,
    ok: true,
    at: clock.toISOString(),
    components: ["backend", "frontend"],
    ...patch,
  };
}

beforeEach(() => {
  clock = new Date("2026-11-25T13:00:00.000Z");
  repo = createGitRepo();
});

describe("preflight store", () => {
  it("keeps a result in memory and in .git/vyaparai-deploy/preflight-<env>.json", async () => {
    const rt = runtimeAt(repo.dir);
    repo.commitAll("config");
    const result = passing();
    await recordPreflight(contextFor(rt), result);
    expect(rt.session.preflights.get("prod")).toEqual(result);
    const file = join(repo.dir, ".git", "vyaparai-deploy", "preflight-prod.json");
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(result);
    // The file lives in the git dir: the working tree stays clean.
    expect((await readGitState(repo.dir, rt.run)).clean).toBe(true);
  });

  it("another process (the CLI) finds it through the file", async () => {
    const server = runtimeAt(repo.dir);
    repo.commitAll("config");
    await recordPreflight(contextFor(server), passing());
    const cli = runtimeAt(repo.dir);
    expect(await findPassingPreflight(contextFor(cli), repo.head())).toEqual(passing());
    expect(await findPassingPreflight(contextFor(cli, "staging"), repo.head())).toBeNull();
  });

  it("only an ok, clean, same-commit, young enough preflight passes", async () => {
    const rt = runtimeAt(repo.dir);
    const ctx = contextFor(rt);
    const head = repo.head();
    await recordPreflight(ctx, passing({ ok: false }));
    expect(await findPassingPreflight(ctx, head)).toBeNull();
    await recordPreflight(ctx, passing({ clean: false }));
    expect(await findPassingPreflight(ctx, head)).toBeNull();
    await recordPreflight(ctx, passing({ gitSha: "0".repeat(40) }));
    expect(await findPassingPreflight(ctx, head)).toBeNull();
    await recordPreflight(ctx, passing());
    expect(await findPassingPreflight(ctx, head)).not.toBeNull();
    clock = new Date(clock.getTime() + 30 * 60_000);
    expect(await findPassingPreflight(ctx, head)).not.toBeNull();
    clock = new Date(clock.getTime() + 60_001);
    expect(await findPassingPreflight(ctx, head)).toBeNull();
  });

  it("honours preflightMaxAgeMinutes from the config", async () => {
    const rt = runtimeAt(repo.dir, { preflightMaxAgeMinutes: 5 });
    const ctx = contextFor(rt);
    await recordPreflight(ctx, passing());
    clock = new Date(clock.getTime() + 6 * 60_000);
    expect(await findPassingPreflight(ctx, repo.head())).toBeNull();
  });

  it("a time in the future or an unreadable file vouches for nothing", async () => {
    const rt = runtimeAt(repo.dir);
    const ctx = contextFor(rt);
    await recordPreflight(ctx, passing({ at: new Date(clock.getTime() + 10 * 60_000).toISOString() }));
    expect(await findPassingPreflight(ctx, repo.head())).toBeNull();
    writeFileSync(join(repo.dir, ".git", "vyaparai-deploy", "preflight-prod.json"), "{broken");
    expect(await readLatestPreflight(contextFor(runtimeAt(repo.dir)))).toBeNull();
  });

  it("the newest result wins: a later failure replaces an earlier pass", async () => {
    const rt = runtimeAt(repo.dir);
    const ctx = contextFor(rt);
    await recordPreflight(ctx, passing({ preflightId: "pf-20261125T130000Z-0000aaaa" }));
    clock = new Date(clock.getTime() + 60_000);
    await recordPreflight(
      contextFor(runtimeAt(repo.dir)),
      passing({ preflightId: "pf-20261125T130100Z-0000bbbb", ok: false, at: clock.toISOString() }),
    );
    expect((await readLatestPreflight(ctx))?.preflightId).toBe("pf-20261125T130100Z-0000bbbb");
    expect(await findPassingPreflight(ctx, repo.head())).toBeNull();
  });

  it("outside a git repository only memory holds it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vyaparai-nogit-"));
    const rt = runtimeAt(dir);
    const ctx = contextFor(rt);
    await recordPreflight(ctx, passing({ gitSha: null }));
    expect(existsSync(join(dir, ".git"))).toBe(false);
    expect(await readLatestPreflight(ctx)).toMatchObject({ gitSha: null });
    const verdict = await evaluateTestsFirstGate(ctx, await readGitState(dir, rt.run));
    expect(verdict).toMatchObject({ ok: false, reason: "not_a_repo" });
  });

  it("the gate: no commit, then a pass for the right component", async () => {
    const empty = createGitRepo({ commit: false });
    const rtEmpty = runtimeAt(empty.dir);
    const emptyVerdict = await evaluateTestsFirstGate(
      contextFor(rtEmpty),
      await readGitState(empty.dir, rtEmpty.run),
    );
    expect(emptyVerdict).toMatchObject({ ok: false, reason: "no_commit" });

    const rt = runtimeAt(repo.dir);
    repo.commitAll("config");
    const ctx = contextFor(rt);
    await recordPreflight(ctx, passing({ components: ["frontend"] }));
    const git = await readGitState(repo.dir, rt.run);
    expect(await evaluateTestsFirstGate(ctx, git, "frontend")).toMatchObject({ ok: true });
    expect(await evaluateTestsFirstGate(ctx, git, "lambda")).toMatchObject({
      ok: false,
      reason: "preflight_other_components",
    });
    // A preflight that lists no components vouches for none.
    await recordPreflight(ctx, passing({ components: [] }));
    expect(await evaluateTestsFirstGate(ctx, git, "infra")).toMatchObject({
      ok: false,
      reason: "preflight_other_components",
    });
    expect(await evaluateTestsFirstGate(ctx, git)).toMatchObject({ ok: true });
  });
});
