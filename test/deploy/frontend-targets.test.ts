import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeViteDist } from "../support/dist-fixture.js";
import { freePort, useMoto } from "../support/moto.js";
import { createSite, deploy, getBytes, liveIndexIsWhole } from "./frontend-site.js";

const moto = useMoto();

describe("deploy_frontend to several buckets with a public URL", () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/html" });
      response.end("<!doctype html>");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("fills every bucket, switches index.html in all of them last, and checks the URL", async () => {
    const site = await createSite(moto.current, { extraBuckets: 1, url });
    const fixture = writeViteDist(site.distDir, { files: 60 });
    const { result, out } = await deploy(site);
    expect(result.isError, result.text).toBe(false);
    expect(out.status).toBe("deployed");
    expect(out.plan.buckets).toHaveLength(2);
    const puts = site.calls.filter(
      // Records and the report written after the release are the artifact bucket's, not the site's.
      (c) =>
        c.command === "PutObjectCommand" && !c.key?.startsWith("releases/") && !c.key?.startsWith("reports/"),
    );
    expect(puts.slice(-2).map((c) => c.key)).toEqual(["index.html", "index.html"]);
    for (const bucket of out.plan.buckets) {
      expect(await getBytes(site, bucket, "index.html")).toEqual(fixture.files.get("index.html"));
      expect((await liveIndexIsWhole(site, bucket)).missing).toEqual([]);
    }
    expect(out.integrity).toMatchObject({ ok: true, url: { url, status: 200, ok: true }, missing: [] });
  });

  it("reports an unreachable URL as a warning, not a failure", async () => {
    const closed = `http://127.0.0.1:${await freePort()}/`;
    const site = await createSite(moto.current, { url: closed });
    writeViteDist(site.distDir, { files: 20 });
    const { out } = await deploy(site);
    expect(out.status).toBe("deployed");
    expect(out.integrity).toMatchObject({ ok: true, url: { url: closed, status: null, ok: false } });
    expect(out.warnings?.join(" ")).toMatch(/was not reachable from here/);
  });
});
