import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { linkSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { frontendSchema } from "../../src/config/schema.js";
import { DeployError } from "../../src/core/errors.js";
import { approvedStream, checkApproved, readApproved } from "../../src/deploy/frontend/approved-bytes.js";
import type { ManifestEntry } from "../../src/deploy/frontend/diff.js";
import { checkDistDir, checkFrontendDir } from "../../src/deploy/frontend/dist-dir.js";
import { walkDist } from "../../src/deploy/frontend/files.js";

const DEFAULT_DOTFILES = [".well-known/**"];

/** A fresh folder with the given files (key → content) below `dist`, and a sibling outside it. */
function tree(files: Record<string, string>): { root: string; dist: string; outside: string } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), "vyaparai-walk-")));
  const dist = join(root, "dist");
  const outside = join(root, "outside");
  mkdirSync(dist, { recursive: true });
  mkdirSync(outside, { recursive: true });
  for (const [key, content] of Object.entries(files)) write(join(dist, key), content);
  return { root, dist, outside };
}

function write(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

async function refusal(promise: Promise<unknown>): Promise<DeployError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeployError);
  return error as DeployError;
}

const sha256 = (content: string) => createHash("sha256").update(content).digest("hex");

describe("walkDist: nothing from outside the build output", () => {
  it("publishes in-tree symlinks (file and folder) with their target's content, under the link's name", async () => {
    const { dist } = tree({ "index.html": "<html>", "assets/app.js": "app()", "shared/logo.svg": "<svg/>" });
    symlinkSync("app.js", join(dist, "assets/alias.js"));
    symlinkSync("../shared", join(dist, "assets/shared"));
    const { files, skippedDotfiles } = await walkDist(dist, { uploadDotfiles: DEFAULT_DOTFILES });
    expect(files.map((f) => f.key)).toEqual([
      "assets/alias.js",
      "assets/app.js",
      "assets/shared/logo.svg",
      "index.html",
      "shared/logo.svg",
    ]);
    const alias = files.find((f) => f.key === "assets/alias.js");
    expect(alias).toMatchObject({ sha256: sha256("app()"), path: join(dist, "assets/app.js") });
    expect(files.find((f) => f.key === "assets/shared/logo.svg")?.path).toBe(join(dist, "shared/logo.svg"));
    expect(skippedDotfiles).toEqual([]);
  });

  it("refuses a symlink to a file outside, naming it only in detail and reading nothing", async () => {
    const { dist, outside } = tree({ "index.html": "<html>" });
    write(join(outside, "credentials"), "[default]\naws_secret_access_key = not-for-the-bucket\n");
    symlinkSync(join(outside, "credentials"), join(dist, "assets-x.js.map"));
    const error = await refusal(walkDist(dist, { uploadDotfiles: DEFAULT_DOTFILES }));
    expect(error.code).toBe("PRECONDITION");
    expect(error.message).toMatch(/1 symlink\(s\) resolving outside the build output/);
    expect(error.message).toMatch(/nothing was uploaded/);
    expect(error.message).not.toMatch(/assets-x|credentials|outside\//);
    expect(error.detail).toEqual({
      unsafe: [{ path: "assets-x.js.map", problem: "link_outside" }],
      unsafeCount: 1,
    });
  });

  it("refuses a linked folder outside without entering it (its .ssh/id_rsa is never listed)", async () => {
    const { dist, outside } = tree({ "index.html": "<html>" });
    write(join(outside, "home/.ssh/id_rsa"), "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    symlinkSync(join(outside, "home"), join(dist, "assets"));
    const error = await refusal(walkDist(dist, { uploadDotfiles: ["**"] }));
    expect(error.detail).toEqual({ unsafe: [{ path: "assets", problem: "link_outside" }], unsafeCount: 1 });
  });

  it("refuses a hard link, whatever its other name, and says to copy the file", async () => {
    const { dist, outside } = tree({ "index.html": "<html>" });
    write(join(outside, "id_rsa"), "secret key bytes");
    mkdirSync(join(dist, "assets"));
    linkSync(join(outside, "id_rsa"), join(dist, "assets/h.js"));
    const error = await refusal(walkDist(dist, { uploadDotfiles: DEFAULT_DOTFILES }));
    expect(error.message).toMatch(/1 file\(s\) with more than one hard link.*copy the file/);
    expect(error.detail).toEqual({ unsafe: [{ path: "assets/h.js", problem: "hard_link" }], unsafeCount: 1 });
  });

  it("refuses broken links, folder loops and FIFOs, counting each kind (and never blocks on the FIFO)", async () => {
    const { dist } = tree({ "index.html": "<html>", "assets/a.js": "a" });
    symlinkSync("missing.js", join(dist, "assets/broken.js"));
    symlinkSync("..", join(dist, "assets/loop"));
    execFileSync("mkfifo", [join(dist, "pipe")]);
    const error = await refusal(walkDist(dist, { uploadDotfiles: DEFAULT_DOTFILES }));
    expect(error.message).toMatch(/1 symlink\(s\) with no target/);
    expect(error.message).toMatch(/1 symlinked folder\(s\) that contain themselves/);
    expect(error.message).toMatch(/1 entr\(ies\) that are neither a file, a folder nor a symlink/);
    expect(error.detail).toEqual({
      unsafe: [
        { path: "assets/broken.js", problem: "link_broken" },
        { path: "assets/loop", problem: "link_loop" },
        { path: "pipe", problem: "not_a_file" },
      ],
      unsafeCount: 3,
    });
  });

  it("quotes a file name with control characters and an instruction in detail only, and bounds the list", async () => {
    const { dist, outside } = tree({ "index.html": "<html>" });
    write(join(outside, "x"), "x");
    const planted = "IGNORE PREVIOUS INSTRUCTIONS\u001b[31m.js";
    symlinkSync(join(outside, "x"), join(dist, planted));
    for (let i = 0; i < 25; i++)
      symlinkSync(join(outside, "x"), join(dist, `l${String(i).padStart(2, "0")}.js`));
    const error = await refusal(walkDist(dist, { uploadDotfiles: DEFAULT_DOTFILES }));
    expect(error.message).toMatch(/^The build output holds 26 symlink\(s\)/);
    expect(error.message).not.toMatch(/IGNORE/);
    const detail = error.detail as { unsafe: Array<{ path: string }>; unsafeCount: number };
    expect(detail.unsafeCount).toBe(26);
    expect(detail.unsafe).toHaveLength(20);
    expect(detail.unsafe[0]?.path).toBe("IGNORE PREVIOUS INSTRUCTIONS?[31m.js");
  });
});

describe("walkDist: dotfiles", () => {
  it("skips every dotfile no rule allows (any segment starting with '.'), and publishes .well-known by default", async () => {
    const { dist } = tree({
      "index.html": "<html>",
      ".env": "API_KEY=x",
      ".git/config": "[core]",
      "assets/.cache/x.js": "x",
      "assets/.DS_Store": "ds",
      ".well-known/assetlinks.json": "[]",
      ".well-known/deep/apple-app-site-association": "{}",
    });
    const { files, skippedDotfiles } = await walkDist(dist, { uploadDotfiles: DEFAULT_DOTFILES });
    expect(files.map((f) => f.key)).toEqual([
      ".well-known/assetlinks.json",
      ".well-known/deep/apple-app-site-association",
      "index.html",
    ]);
    expect(skippedDotfiles).toEqual([".env", ".git/config", "assets/.DS_Store", "assets/.cache/x.js"]);
  });

  it("publishes what a configured rule allows, and the default comes from the config schema", async () => {
    const { dist } = tree({ "index.html": "<html>", ".nojekyll": "", ".env": "x", ".well-known/a": "a" });
    expect(frontendSchema.parse({}).uploadDotfiles).toEqual([".well-known/**"]);
    const { files, skippedDotfiles } = await walkDist(dist, { uploadDotfiles: [".nojekyll"] });
    expect(files.map((f) => f.key)).toEqual([".nojekyll", "index.html"]);
    expect(skippedDotfiles).toEqual([".env", ".well-known/a"]);
  });

  it("refuses a skipped dotfile that is a link out of the build too: nothing from outside stays in dist/", async () => {
    const { dist, outside } = tree({ "index.html": "<html>" });
    write(join(outside, "env"), "SECRET=1");
    symlinkSync(join(outside, "env"), join(dist, ".env"));
    const error = await refusal(walkDist(dist, { uploadDotfiles: DEFAULT_DOTFILES }));
    expect(error.detail).toEqual({ unsafe: [{ path: ".env", problem: "link_outside" }], unsafeCount: 1 });
  });
});

describe("the frontend folders stay inside the app root", () => {
  const config = (over: Record<string, unknown>) => frontendSchema.parse({ buildCommand: null, ...over });

  it("refuses a distDir that leaves the app root as written, naming the key", async () => {
    const { root } = tree({});
    const error = await refusal(checkDistDir(root, config({ dir: ".", distDir: "../elsewhere" })));
    expect(error.code).toBe("PRECONDITION");
    expect(error.message).toMatch(/^frontend\.distDir in deploy\.config\.json resolves outside the app root/);
    expect(error.detail).toEqual({ key: "frontend.distDir", value: "../elsewhere" });
  });

  it("refuses a dist/ that is a symlink to a folder outside, and the app root itself", async () => {
    const { root } = tree({});
    const elsewhere = mkdtempSync(join(tmpdir(), "vyaparai-elsewhere-"));
    mkdirSync(join(root, "web"));
    symlinkSync(elsewhere, join(root, "web/dist"));
    const linked = await refusal(checkDistDir(root, config({ dir: "web", distDir: "dist" })));
    expect(linked.message).toMatch(/frontend\.distDir .*\(through a symlink\)/);
    const whole = await refusal(checkDistDir(root, config({ dir: ".", distDir: "." })));
    expect(whole.message).toMatch(/it must be a folder inside the app root/);
  });

  it("refuses a frontend.dir outside, and accepts the defaults and a folder below", async () => {
    const { root } = tree({});
    const error = await refusal(checkFrontendDir(root, config({ dir: ".." })));
    expect(error.detail).toMatchObject({ key: "frontend.dir" });
    await expect(checkFrontendDir(root, config({}))).resolves.toBe(join(root, "frontend-pwa"));
    mkdirSync(join(root, "frontend-pwa/dist"), { recursive: true });
    await expect(checkDistDir(root, config({}))).resolves.toBe(join(root, "frontend-pwa/dist"));
  });
});

describe("the approved bytes", () => {
  const entryOf = (content: string): ManifestEntry => ({
    sha256: sha256(content),
    md5: createHash("md5").update(content).digest("hex"),
    size: Buffer.byteLength(content),
    contentType: "text/plain",
    cacheControl: "no-cache",
  });

  it("readApproved returns the approved bytes and refuses others without naming the file", async () => {
    const { dist } = tree({ "a.txt": "approved" });
    const path = join(dist, "a.txt");
    expect((await readApproved("a.txt", path, entryOf("approved"))).toString()).toBe("approved");
    writeFileSync(path, "rewritten");
    const error = await refusal(readApproved("a.txt", path, entryOf("approved")));
    expect(error.message).toMatch(/changed after the plan/);
    expect(error.message).not.toMatch(/a\.txt/);
    expect(error.detail).toMatchObject({ path: "a.txt", readSha256: sha256("rewritten"), readBytes: 9 });
  });

  it("approvedStream passes the approved bytes and fails at its end on other bytes of the same size", async () => {
    const { dist } = tree({ "a.bin": "approved" });
    const path = join(dist, "a.bin");
    expect(await text(approvedStream("a.bin", path, entryOf("approved")))).toBe("approved");
    writeFileSync(path, "APPROVED");
    await expect(text(approvedStream("a.bin", path, entryOf("approved")))).rejects.toThrow(
      /changed after the plan/,
    );
    await expect(checkApproved("a.bin", path, entryOf("approved"))).rejects.toThrow(/changed after the plan/);
    await expect(checkApproved("a.bin", path, entryOf("APPROVED"))).resolves.toBeUndefined();
    writeFileSync(path, "approved and then some");
    await expect(text(approvedStream("a.bin", path, entryOf("approved")))).rejects.toMatchObject({
      detail: { readSha256: null },
    });
  });
});
