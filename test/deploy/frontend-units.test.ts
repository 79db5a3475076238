import { describe, expect, it } from "vitest";
import { frontendSchema } from "../../src/config/schema.js";
import { forEachBounded } from "../../src/deploy/frontend/bounded.js";
import type { RemoteObject } from "../../src/deploy/frontend/diff.js";
import {
  cacheControlFor,
  contentTypeFor,
  globToRegExp,
  isEntryPoint,
} from "../../src/deploy/frontend/headers.js";
import { referencedKeys } from "../../src/deploy/frontend/integrity.js";
import { invalidationPaths } from "../../src/deploy/frontend/invalidation.js";
import { decideStale, type LiveRelease } from "../../src/deploy/frontend/stale.js";

const frontend = frontendSchema.parse({});
const IMMUTABLE = "public, max-age=31536000, immutable";

describe("headers by rule", () => {
  it("gives Content-Type from the mime database and Cache-Control by the default rules", () => {
    expect(contentTypeFor("manifest.webmanifest")).toBe("application/manifest+json");
    expect(contentTypeFor("assets/index-abc.js")).toBe("text/javascript; charset=utf-8");
    expect(contentTypeFor("assets/font-abc.woff2")).toBe("font/woff2");
    expect(contentTypeFor("LICENSE")).toBe("application/octet-stream");
    expect(cacheControlFor("assets/index-abc.js", frontend)).toBe(IMMUTABLE);
    for (const key of ["index.html", "sw.js", "manifest.webmanifest", "registerSW.js", "offline/index.html"])
      expect(cacheControlFor(key, frontend), key).toBe("no-cache");
    expect(cacheControlFor("robots.txt", frontend)).toBe("public, max-age=300");
    expect(isEntryPoint("about.html", frontend)).toBe(true);
    expect(isEntryPoint("assets/x.js", frontend)).toBe(false);
  });

  it("applies the first matching configured rule", () => {
    const custom = frontendSchema.parse({
      cacheRules: [
        { match: "assets/**/*.{png,svg}", cacheControl: "public, max-age=86400" },
        { match: "assets/**", cacheControl: IMMUTABLE },
        { match: "*.png", cacheControl: "public, max-age=600" },
      ],
    });
    expect(cacheControlFor("assets/img/logo.svg", custom)).toBe("public, max-age=86400");
    expect(cacheControlFor("assets/logo.png", custom)).toBe("public, max-age=86400");
    expect(cacheControlFor("assets/index-1.js", custom)).toBe(IMMUTABLE);
    expect(cacheControlFor("pwa-192x192.png", custom)).toBe("public, max-age=600");
    expect(cacheControlFor("icons/pwa.png", custom)).toBe("public, max-age=300");
    expect(globToRegExp("a?.js").test("ab.js")).toBe(true);
    expect(globToRegExp("a?.js").test("a/.js")).toBe(false);
  });
});

describe("invalidation paths", () => {
  it("skips immutable assets, adds / with index.html, and collapses to /* past the threshold", () => {
    expect(
      invalidationPaths(
        [
          { key: "assets/index-abc.js", cacheControl: IMMUTABLE },
          { key: "index.html", cacheControl: "no-cache" },
          { key: "sw.js", cacheControl: "no-cache" },
          { key: "img/a b.png", cacheControl: "public, max-age=300" },
        ],
        15,
      ),
    ).toEqual(["/", "/img/a%20b.png", "/index.html", "/sw.js"]);
    const many = Array.from({ length: 16 }, (_, i) => ({ key: `page${i}.html`, cacheControl: "no-cache" }));
    expect(invalidationPaths(many, 15)).toEqual(["/*"]);
    expect(invalidationPaths([{ key: "assets/x.js", cacheControl: IMMUTABLE }], 15)).toEqual([]);
  });
});

describe("asset references of index.html", () => {
  it("finds local src/href targets and ignores external, data and fragment links", () => {
    const html = `<link rel="icon" href="/favicon.ico"><link rel=manifest href=manifest.webmanifest>
      <script type="module" src="./assets/index-a1.js?v=2"></script><link href='/assets/index-b2.css' rel=stylesheet>
      <link rel="preconnect" href="https://api.example.com"><script src="//cdn.example.com/x.js"></script>
      <a href="#main">skip</a><a href="mailto:x@y.z">m</a><img src="data:image/png;base64,AAA"><a href="/">home</a>
      <img src="/img/a%20b.png">`;
    expect(referencedKeys(html)).toEqual([
      "assets/index-a1.js",
      "assets/index-b2.css",
      "favicon.ico",
      "img/a b.png",
      "manifest.webmanifest",
    ]);
  });
});

describe("stale files", () => {
  const now = new Date("2026-11-25T12:00:00Z");
  const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
  const object = (key: string, modified: Date): RemoteObject => ({
    key,
    etag: "e",
    size: 1,
    lastModified: modified,
  });
  const release = (id: string, finished: Date, keys: string[]): LiveRelease => ({
    releaseId: id,
    startedAt: finished.toISOString(),
    finishedAt: finished.toISOString(),
    manifest: Object.fromEntries(
      keys.map((k) => [k, { sha256: "s", md5: "e", size: 1, contentType: "t", cacheControl: "c" }]),
    ),
  });
  const history = [
    release("r3", hoursAgo(10), ["c.js"]), // live now
    release("r2", hoursAgo(100), ["b.js"]), // replaced 10 h ago
    release("r1", hoursAgo(200), ["a.js"]), // replaced 100 h ago
  ];

  it("counts the grace from when a file stopped being live, not from when it was uploaded", () => {
    const decision = decideStale(
      [
        object("c.js", hoursAgo(500)), // in the live release: stops now
        object("b.js", hoursAgo(500)), // left 10 h ago
        object("a.js", hoursAgo(500)), // left 100 h ago
        object("old.js", hoursAgo(900)), // in no record read: no later than the oldest one (200 h)
        object("fresh.js", hoursAgo(1)), // written an hour ago: LastModified is the floor
      ],
      history,
      { now, graceHours: 72, prune: false },
    );
    expect(decision.delete.map((o) => o.key).sort()).toEqual(["a.js", "old.js"]);
    expect(decision.keep.map((k) => k.key).sort()).toEqual(["b.js", "c.js", "fresh.js"]);
    expect(decision.keep.find((k) => k.key === "b.js")?.deletableAfter).toBe(hoursAgo(10 - 72).toISOString());
  });

  it("deletes every stale file with prune, and none in the grace without a history", () => {
    const stale = [object("x.js", hoursAgo(1000))];
    expect(decideStale(stale, history, { now, graceHours: 72, prune: true }).delete).toHaveLength(1);
    expect(decideStale(stale, [], { now, graceHours: 72, prune: false }).delete).toHaveLength(0);
  });
});

describe("bounded concurrency", () => {
  it("starts nothing after the first failure and waits for calls in flight", async () => {
    const started: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const finished: number[] = [];
    const run = forEachBounded(
      Array.from({ length: 50 }, (_, i) => i),
      4,
      async (i) => {
        started.push(i);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        if (i === 5) throw new Error("boom");
        finished.push(i);
      },
    );
    await expect(run).rejects.toThrow("boom");
    expect(inFlight).toBe(0);
    expect(maxInFlight).toBe(4);
    expect(started.length).toBeLessThan(12);
  });
});
