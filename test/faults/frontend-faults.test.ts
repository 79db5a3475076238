import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ReleaseRecord } from "../../src/release/types.js";
import { type FaultProxy, type RequestRecord, startFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";
import {
  type Build,
  createFaultSite,
  type DeployCall,
  deployFrontend,
  type FaultSite,
  headersOf,
  invalidations,
  loadRecord,
  type ReadBack,
  readBack,
  runFixCommand,
  writeBuild,
} from "./frontend-fault-support.js";

/**
 * deploy_frontend under injected AWS faults. Each scenario deploys release A cleanly, then
 * release B through the fault proxy with one fault, and checks what moto was left with (read
 * straight from moto, compared byte for byte with the builds on disk) against what the tool
 * answered and what the release record says:
 *   (a) every live index.html (and sw.js) references only objects its bucket holds;
 *   (b) every entry point in every bucket belongs to ONE release, A or B;
 *   (c) no deploy lock is left behind;
 *   (d) the record's final status fits what is live (succeeded ↔ B, failed/rolled_back ↔ A);
 *   (e) the answer's status, live.entryPoints and isError fit what is live.
 */

const moto = useMoto();
let proxy: FaultProxy;
const sites: FaultSite[] = [];

const FILES = 200;
const ENTRY_KEY = /^(index\.html|sw\.js|manifest\.webmanifest|registerSW\.js)$/;
const InternalError = { kind: "fail", status: 500, code: "InternalError" } as const;

beforeAll(async () => {
  // Seeded: a probability rule fails the same arrivals on every run.
  proxy = await startFaultProxy(moto.current.endpoint, { seed: 20_240_917 });
  // The product's clients find their endpoint here (useMoto pointed it at moto; its afterAll unsets it).
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
});

afterEach(() => proxy.clear());

afterAll(async () => {
  for (const site of sites) site.runtime.close();
  await proxy?.stop();
});

interface Scenario {
  site: FaultSite;
  a: Build;
  b: Build;
}

/** A new site with release A live (deployed cleanly through the proxy) and build B in dist/. */
async function releaseALive(options: Parameters<typeof createFaultSite>[1] = {}): Promise<Scenario> {
  const site = await createFaultSite(moto.current, options);
  sites.push(site);
  const a = writeBuild(site.distDir, "A", `release-a-${site.name}`, FILES);
  const mark = proxy.log.length;
  const first = await deployFrontend(site);
  expect(first.result.isError, first.result.text).toBe(false);
  expect(first.out.status).toBe("deployed");
  // The tool's clients really go through the proxy, so the faults below reach them.
  expect(
    since(mark, (r) => r.operation === "PutObject" && r.bucket === site.buckets[0]).length,
  ).toBeGreaterThan(FILES - 10);
  const settledA = await readBack(site, a, a);
  expect(settledA.release).toBe("A");
  const b = writeBuild(site.distDir, "B", `release-b-${site.name}`, FILES);
  return { site, a, b };
}

function since(mark: number, where: (record: RequestRecord) => boolean): RequestRecord[] {
  return proxy.log.slice(mark).filter(where);
}

/** S3 requests into one of the site's buckets (not the artifact bucket). */
function inSite(site: FaultSite, record: RequestRecord): boolean {
  return record.bucket !== undefined && site.buckets.includes(record.bucket);
}

/** A path pattern matching keys in every site bucket of `site` (FaultRule.match.bucket takes one). */
function siteKeys(site: FaultSite, key: string): RegExp {
  return new RegExp(`^/site-${site.name}-\\d+/${key}$`);
}

const ANSWER_OF: Record<ReadBack["release"], string> = {
  A: "previous",
  B: "next",
  mixed: "mixed",
  other: "other",
};

function describeLive(live: ReadBack): string {
  return JSON.stringify({
    release: live.release,
    entryPoints: live.entryPoints,
    missing: live.missing.slice(0, 5),
  });
}

/**
 * (a), (c), (e) and (d) for one finished call: the read-back, the answer and the record agree.
 * (b) is left to the caller (expectOneRelease) because one scenario is mixed on purpose.
 */
async function expectTruthful(
  scenario: Scenario,
  call: DeployCall,
  options: { record?: "final" | "skip" } = {},
): Promise<{ live: ReadBack; record: ReleaseRecord | null }> {
  const { site, a, b } = scenario;
  const live = await readBack(site, a, b);
  // (a) nothing live points at an object that is not there.
  expect(live.missing, describeLive(live)).toEqual([]);
  // (c) the lock was released.
  expect(live.lockPresent, "locks/dev.json left in the artifact bucket").toBe(false);
  // (e) the answer says what the read-back shows.
  const { out, result } = call;
  expect(out.live?.entryPoints, `${out.summary}\n${describeLive(live)}`).toBe(ANSWER_OF[live.release]);
  expect(out.live?.indexHtml).toEqual(live.indexHtml);
  if (live.release === "B") {
    expect(out.status, out.summary).toBe("deployed");
    expect(result.isError).toBe(false);
  } else {
    expect(result.isError, out.summary).toBe(true);
    expect(live.release === "A" ? ["failed", "rolled_back"] : ["failed"]).toContain(out.status);
  }
  // (d) the record's final status fits what is live.
  const record = await loadRecord(site, out.releaseId);
  expect(record, `no release record ${out.releaseId}`).not.toBeNull();
  if (options.record !== "skip" && record) {
    expect(record.status).toBe(live.release === "B" ? "succeeded" : out.status);
    expect(record.finishedAt).not.toBeNull();
    expect(record.after).toMatchObject({
      entryPoints: ANSWER_OF[live.release],
      switched: live.release === "B",
      indexHtmlSha256: live.indexHtml[0]?.sha256 ?? null,
    });
  }
  return { live, record };
}

const CONTENT_TYPE: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "manifest.webmanifest": "application/manifest+json",
  "registerSW.js": "text/javascript; charset=utf-8",
  "sw.js": "text/javascript; charset=utf-8",
};

/** Entry points put back (by the undo or by hand) carry release A's headers, not just its bytes. */
async function expectEntryHeadersOf(site: FaultSite, build: Build): Promise<void> {
  for (const bucket of site.buckets) {
    for (const key of Object.keys(CONTENT_TYPE)) {
      expect(await headersOf(site, bucket, key), `${bucket}/${key}`).toEqual({
        contentType: CONTENT_TYPE[key],
        cacheControl: "no-cache",
        sha256: build.entrySha256.get(key),
      });
    }
  }
}

/** (b): every entry point in every bucket is one release's, byte for byte. */
function expectOneRelease(live: ReadBack): "A" | "B" {
  expect(["A", "B"], describeLive(live)).toContain(live.release);
  return live.release as "A" | "B";
}

describe("deploy_frontend under injected S3/CloudFront faults (read back from moto)", () => {
  it("1. each entry point failing in turn: A stays or comes back whole, never a mix", async () => {
    // Entry points go up in key order per bucket (manifest, registerSW, sw), then index.html.
    for (const key of ["sw.js", "manifest.webmanifest", "registerSW.js", "index.html"]) {
      const scenario = await releaseALive();
      const { site } = scenario;
      const mark = proxy.log.length;
      const rule = proxy.add({
        match: { service: "s3", operation: "PutObject", path: siteKeys(site, key.replace(".", "\\.")) },
        action: InternalError,
      });
      const call = await deployFrontend(scenario.site);
      rule.remove();
      expect(rule.hits, key).toBeGreaterThan(0);
      const { live } = await expectTruthful(scenario, call);
      expect(expectOneRelease(live), `${key}: ${call.out.summary}`).toBe("A");
      const entryWrites = since(
        mark,
        (r) =>
          inSite(site, r) && r.operation === "PutObject" && ENTRY_KEY.test(r.key ?? "") && r.status === 200,
      );
      // The failing key never landed anywhere; whatever landed before it was put back.
      expect(entryWrites.filter((r) => r.key === key)).toEqual([]);
      expect(call.out.status, `${key}: ${call.out.summary}`).toBe(
        entryWrites.length ? "rolled_back" : "failed",
      );
      expect(call.out.failure).toMatch(
        key === "index.html" ? /^publish-index-html: / : /^publish-other-entry-points: /,
      );
      expect(call.out.failure).toContain(key);
      console.info(
        `scenario 1 (${key}): ${call.out.status}, live ${live.release}, ${entryWrites.length} entry point write(s) before the failure, undo ${JSON.stringify(call.out.undo ?? null)}`,
      );
      if (entryWrites.length) {
        expect(call.out.undo).toMatchObject({ ok: true, result: "undone" });
        const restores = since(
          mark,
          (r) => inSite(site, r) && r.operation === "CopyObject" && r.status === 200,
        );
        expect(restores.map((r) => `${r.bucket}/${r.key}`).sort()).toEqual(
          entryWrites.map((r) => `${r.bucket}/${r.key}`).sort(),
        );
      }
      if (key === "index.html") {
        // index.html failed after every other entry point was written in both buckets.
        expect(entryWrites.map((r) => `${r.bucket}/${r.key}`).sort()).toEqual(
          site.buckets
            .flatMap((bucket) =>
              ["manifest.webmanifest", "registerSW.js", "sw.js"].map((k) => `${bucket}/${k}`),
            )
            .sort(),
        );
        expect(call.out.status).toBe("rolled_back");
      }
    }
  }, 300_000);

  it("2. asset PutObject failing with probability 0.5: B whole (SDK retries) or failed with A whole", async () => {
    const scenario = await releaseALive();
    const { site, b } = scenario;
    const mark = proxy.log.length;
    const rule = proxy.add({
      match: { service: "s3", operation: "PutObject", key: /^assets\// },
      action: InternalError,
      probability: 0.5,
    });
    const call = await deployFrontend(scenario.site);
    rule.remove();
    expect(rule.hits).toBeGreaterThan(0);
    const { live } = await expectTruthful(scenario, call);
    const which = expectOneRelease(live);
    const entryWrites = since(
      mark,
      (r) => inSite(site, r) && r.operation === "PutObject" && ENTRY_KEY.test(r.key ?? ""),
    );
    if (which === "B") {
      expect(call.out.status).toBe("deployed");
    } else {
      // An upload that ran out of retries stops before any entry point is written.
      expect(call.out.status, call.out.summary).toBe("failed");
      expect(call.out.failure).toMatch(/^upload-assets: /);
      expect(entryWrites).toEqual([]);
      expect(call.out.undo).toBeUndefined();
    }
    if (which === "A") {
      // The env is free and the next call (no faults) finishes the job.
      const retry = await deployFrontend(site);
      const after = await expectTruthful(scenario, retry);
      expect(expectOneRelease(after.live)).toBe("B");
      expect(b.fixture.files.size).toBe(FILES);
    }
    console.info(
      `scenario 2: ${call.out.status} with ${rule.hits} injected fault(s); ${call.out.failure ?? ""}`,
    );
  }, 180_000);

  it("3. every asset PutObject failing: failed, A whole, index.html never written", async () => {
    const scenario = await releaseALive();
    const { site } = scenario;
    const mark = proxy.log.length;
    const rule = proxy.add({
      // Every non-entry key in either site bucket.
      match: {
        service: "s3",
        operation: "PutObject",
        path: new RegExp(
          `^/site-${site.name}-\\d+/(?!(index\\.html|sw\\.js|manifest\\.webmanifest|registerSW\\.js)$)`,
        ),
      },
      action: InternalError,
    });
    const call = await deployFrontend(scenario.site);
    rule.remove();
    expect(rule.hits).toBeGreaterThan(0);
    const { live } = await expectTruthful(scenario, call);
    expect(expectOneRelease(live)).toBe("A");
    expect(call.out.status).toBe("failed");
    expect(call.out.failure).toMatch(/^upload-assets: /);
    expect(call.out.undo).toBeUndefined();
    expect(since(mark, (r) => inSite(site, r) && r.key === "index.html" && r.method === "PUT")).toEqual([]);
    expect(since(mark, (r) => inSite(site, r) && r.method === "PUT" && ENTRY_KEY.test(r.key ?? ""))).toEqual(
      [],
    );
    expect(since(mark, (r) => inSite(site, r) && r.operation === "PutObject" && r.status === 200)).toEqual(
      [],
    );
  }, 120_000);

  it("4. the undo's CopyObject failing for ~0.5 s after index.html failed: rolled_back, A whole", async () => {
    const scenario = await releaseALive();
    const { site } = scenario;
    const mark = proxy.log.length;
    // index.html fails in the second bucket only: the first bucket's index.html is B's by then.
    const indexFails = proxy.add({
      match: { service: "s3", operation: "PutObject", bucket: site.buckets[1], key: "index.html" },
      action: InternalError,
    });
    const copyFails = proxy.add({
      match: { service: "s3", operation: "CopyObject", path: siteKeys(site, "[^/]+") },
      action: InternalError,
      forMs: 500,
    });
    const call = await deployFrontend(scenario.site);
    expect(indexFails.hits).toBeGreaterThan(0);
    expect(copyFails.hits, "the undo's restore never met the fault").toBeGreaterThan(0);
    const switched = since(
      mark,
      (r) =>
        r.bucket === site.buckets[0] &&
        r.key === "index.html" &&
        r.operation === "PutObject" &&
        r.status === 200,
    );
    expect(switched, "B's index.html went live in the first bucket before the failure").toHaveLength(1);
    const { live } = await expectTruthful(scenario, call);
    expect(expectOneRelease(live)).toBe("A");
    expect(call.out.status, call.out.summary).toBe("rolled_back");
    expect(call.out.failure).toMatch(/^publish-index-html: /);
    expect(call.out.undo).toMatchObject({ ok: true, result: "undone" });
    const restored = since(mark, (r) => inSite(site, r) && r.operation === "CopyObject" && r.status === 200);
    expect(restored.map((r) => `${r.bucket}/${r.key}`)).toContain(`${site.buckets[0]}/index.html`);
    await expectEntryHeadersOf(site, scenario.a);
    console.info(
      `scenario 4: ${copyFails.hits} CopyObject fault(s), undo attempts ${call.out.undo?.attempts}, ${call.elapsedMs} ms`,
    );
  }, 120_000);

  it("5. an undo failing longer than undoBudgetSeconds: failed, undo.ok false, a fixCommand that works, a truthful live", async () => {
    const scenario = await releaseALive({ release: { undoBudgetSeconds: 3 } });
    const { site, a, b } = scenario;
    const mark = proxy.log.length;
    proxy.add({
      match: { service: "s3", operation: "PutObject", bucket: site.buckets[1], key: "index.html" },
      action: InternalError,
    });
    const copyFails = proxy.add({
      match: { service: "s3", operation: "CopyObject", path: siteKeys(site, "[^/]+") },
      action: InternalError,
    });
    const call = await deployFrontend(scenario.site);
    expect(copyFails.hits).toBeGreaterThan(0);
    const { live, record } = await expectTruthful(scenario, call);
    // The switch stopped half way and could not be undone: B's page in the first bucket, A's in
    // the second, B's other entry points in both. The answer must say so, not "previous".
    expect(live.release, describeLive(live)).toBe("mixed");
    expect(call.out.live?.entryPoints).toBe("mixed");
    expect(call.out.status).toBe("failed");
    expect(record?.status).toBe("failed");
    expect(call.out.undo?.ok).toBe(false);
    expect(call.out.undo?.error).toMatch(/gave up after \d+ attempt\(s\) in 3 s/);
    const fix = call.out.undo?.fixCommand ?? "";
    expect(fix).toMatch(/^aws s3 cp s3:\/\/artifacts-/);
    expect(call.out.summary).toMatch(/BOTH releases/);
    // The undo gave up within its 3 s budget (plus the attempt in flight), not the 45 s default.
    const undoFaults = since(
      mark,
      (r) => inSite(site, r) && r.operation === "CopyObject" && r.fault === "fail",
    );
    const undoSpanMs = (undoFaults.at(-1) as RequestRecord).at - (undoFaults[0] as RequestRecord).at;
    expect(undoSpanMs).toBeGreaterThanOrEqual(2_000);
    expect(undoSpanMs).toBeLessThan(10_000);
    // The person's way out: the fixCommand, run as given with the aws CLI, brings A back whole.
    console.info(`scenario 5: live ${live.release}; undo.error ${call.out.undo?.error}; fixCommand ${fix}`);
    runFixCommand(site, fix);
    const fixed = await readBack(site, a, b);
    expect(fixed.missing).toEqual([]);
    expect(fixed.release, describeLive(fixed)).toBe("A");
    await expectEntryHeadersOf(site, a);
  }, 180_000);

  it("6. the final record write failing: B live whole, deployed with a warning, invalidation created, lock released", async () => {
    const scenario = await releaseALive();
    const { site } = scenario;
    const mark = proxy.log.length;
    // Only the final write: the journal's in_progress writes (finishedAt null) go through.
    const finalFails = proxy.add({
      match: {
        service: "s3",
        operation: "PutObject",
        bucket: site.artifactBucket,
        key: /^releases\/dev\/frontend\//,
        bodyIncludes: '"finishedAt": "',
      },
      action: InternalError,
    });
    const call = await deployFrontend(scenario.site);
    finalFails.remove();
    expect(finalFails.hits).toBeGreaterThan(0);
    const journalled = since(
      mark,
      (r) =>
        r.bucket === site.artifactBucket &&
        /^releases\/dev\/frontend\//.test(r.key ?? "") &&
        r.status === 200,
    );
    expect(journalled.length, "the record's first (in_progress) writes").toBeGreaterThanOrEqual(2);
    const releaseId = call.out.releaseId as string;
    const { live, record } = await expectTruthful(scenario, call, { record: "skip" });
    expect(expectOneRelease(live)).toBe("B");
    expect(call.out.status).toBe("deployed");
    expect(call.out.warnings?.join("\n")).toContain(`releases/dev/frontend/${releaseId}.json`);
    console.info(`scenario 6: ${call.out.status}; warnings ${JSON.stringify(call.out.warnings)}`);
    // The record says what the warning says: still in_progress.
    expect(record?.status).toBe("in_progress");
    // The CloudFront invalidation was still created, read back from moto.
    const created = (await invalidations(site)).filter((i) => i.callerReference === releaseId);
    expect(created).toHaveLength(1);
    expect(created[0]?.id).toBe(call.out.invalidation?.id);
    expect(created[0]?.paths).toEqual(
      expect.arrayContaining(["/index.html", "/sw.js", "/manifest.webmanifest", "/registerSW.js"]),
    );
    // The next call settles the record from live state: B stays, the record ends recovered/kept.
    const next = await deployFrontend(scenario.site);
    expect(next.result.isError, next.result.text).toBe(false);
    expect(next.out.recovered).toEqual([expect.objectContaining({ releaseId, outcome: "kept" })]);
    const settled = await readBack(site, scenario.a, scenario.b);
    expect(settled.release).toBe("B");
    expect(settled.missing).toEqual([]);
    expect(settled.lockPresent).toBe(false);
    expect(await loadRecord(site, releaseId)).toMatchObject({
      status: "recovered",
      recovery: { outcome: "kept" },
    });
  }, 120_000);
});

describe("7. one asset PutObject never answered, release.requestTimeoutSeconds 1", () => {
  /** How long the call may take: 1 s per unanswered attempt, the SDK's retries, the rest of the deploy. */
  const FINISH_WITHIN_MS = 30_000;
  let scenario: Scenario;
  let key: string;
  let mark: number;
  let call: DeployCall | undefined;
  let finishedInTime = false;
  let attemptsWhileWaiting = 0;
  let hits = 0;

  beforeAll(async () => {
    scenario = await releaseALive({ release: { requestTimeoutSeconds: 1 } });
    key = scenario.b.fixture.chunks[7] as string;
  }, 120_000);

  // Regression: release.requestTimeoutSeconds must end an unanswered request (the client's
  // socketTimeout; requestTimeout alone only logs a warning in @smithy/node-http-handler 4.x),
  // so the SDK retries it instead of holding the deploy and its lock until the step deadline.
  it("the call finishes within seconds: the silent request is abandoned after 1 s and sent again", async () => {
    const { site } = scenario;
    mark = proxy.log.length;
    const hang = proxy.add({
      match: { service: "s3", operation: "PutObject", bucket: site.buckets[0], key },
      action: { kind: "hang" },
      times: 1,
    });
    const pending = deployFrontend(site).then((done) => {
      call = done;
      return done;
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      // A deadline, not a sleep: the call is expected to be done long before it.
      finishedInTime = await Promise.race([
        pending.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), FINISH_WITHIN_MS);
        }),
      ]);
      attemptsWhileWaiting = since(
        mark,
        (r) => r.bucket === site.buckets[0] && r.key === key && r.operation === "PutObject",
      ).length;
    } finally {
      clearTimeout(timer);
      hits = hang.hits;
      // Nothing may run on behind the next test's back: answer the held request, let the call end.
      hang.release();
      await pending;
    }
    expect(
      finishedInTime,
      `deploy_frontend still running after ${FINISH_WITHIN_MS} ms; ${attemptsWhileWaiting} attempt(s) of ${key} reached the proxy`,
    ).toBe(true);
    expect(attemptsWhileWaiting).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it("the call finishes, no lock is left, A or B is whole and the answer says which", async () => {
    expect(hits).toBe(1);
    expect(call, "the deploy call never returned").toBeDefined();
    const done = call as DeployCall;
    const { live } = await expectTruthful(scenario, done);
    const which = expectOneRelease(live);
    const attempts = since(
      mark,
      (r) => r.bucket === scenario.site.buckets[0] && r.key === key && r.operation === "PutObject",
    );
    if (which === "B") {
      // The asset arrived: by a retry after the timeout, or (today) when the held request was answered.
      expect(attempts.some((r) => r.status === 200)).toBe(true);
    } else {
      expect(done.out.failure).toMatch(/^upload-assets: /);
    }
    console.info(
      `scenario 7: ${done.out.status} in ${done.elapsedMs} ms (finished in time: ${finishedInTime}), ${attempts.length} attempt(s) of ${key}`,
    );
  }, 60_000);
});
