import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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

/** The secret a server and a CLI share (VYAPARAI_DEPLOY_SECRET) when they trust each other's files. */
const SHARED_SECRET = "shared-secret-for-the-preflight-store";

function runtimeAt(
  appRoot: string,
  config: Record<string, unknown> = {},
  secret: string | undefined = SHARED_SECRET,
): Runtime {
  return testRuntime({ moto: NO_MOTO, appRoot, config, now: () => clock, ...(secret ? { secret } : {}) });
}

function preflightFile(): string {
  return join(repo.dir, ".git", "vyaparai-deploy", "preflight-prod.json");
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
    const file = preflightFile();
    // Signed with the server's secret: a hand-written file does not count.
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ record: result, mac: expect.any(String) });
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

  it("a forged file does not unlock the gate: unsigned, signed with another secret, or edited", async () => {
    const server = runtimeAt(repo.dir);
    repo.commitAll("config");
    const head = repo.head();
    // The assistant's shell writes what a passing preflight would leave.
    mkdirSync(join(repo.dir, ".git", "vyaparai-deploy"), { recursive: true });
    writeFileSync(preflightFile(), JSON.stringify(passing()));
    expect(await findPassingPreflight(contextFor(server), head)).toBeNull();
    writeFileSync(preflightFile(), JSON.stringify({ record: passing(), mac: "A".repeat(43) }));
    expect(await findPassingPreflight(contextFor(server), head)).toBeNull();
    // A process with its own random secret signs; this server does not trust it.
    await recordPreflight(contextFor(runtimeAt(repo.dir, {}, "")), passing());
    expect(await findPassingPreflight(contextFor(server), head)).toBeNull();
    const verdict = await evaluateTestsFirstGate(
      contextFor(server),
      await readGitState(repo.dir, server.run),
      "lambda",
    );
    expect(verdict).toMatchObject({ ok: false, reason: "no_preflight" });
    expect(verdict.ok ? "" : verdict.message).toMatch(
      /not signed with this server's secret, so it was ignored/,
    );
    // A failed record signed by us, edited to ok: true, no longer verifies.
    await recordPreflight(contextFor(server), passing({ ok: false }));
    const file = JSON.parse(readFileSync(preflightFile(), "utf8"));
    file.record.ok = true;
    writeFileSync(preflightFile(), JSON.stringify(file));
    expect(await findPassingPreflight(contextFor(runtimeAt(repo.dir)), head)).toBeNull();
  });

  it("a failure this server saw for a HEAD is not outvoted by a newer file for the same HEAD", async () => {
    const server = runtimeAt(repo.dir);
    repo.commitAll("config");
    const head = repo.head();
    await recordPreflight(contextFor(server), passing({ ok: false }));
    clock = new Date(clock.getTime() + 60_000);
    // Another process sharing the secret records a pass for the same HEAD afterwards.
    await recordPreflight(contextFor(runtimeAt(repo.dir)), passing({ at: clock.toISOString() }));
    expect(await findPassingPreflight(contextFor(server), head)).toBeNull();
    // A process that saw no failure honours the signed pass.
    expect(await findPassingPreflight(contextFor(runtimeAt(repo.dir)), head)).not.toBeNull();
    // A pass this server runs itself for that HEAD counts.
    await recordPreflight(contextFor(server), passing({ at: clock.toISOString() }));
    expect(await findPassingPreflight(contextFor(server), head)).not.toBeNull();
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
    writeFileSync(preflightFile(), "{broken");
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
