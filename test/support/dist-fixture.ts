import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * A Vite + vite-plugin-pwa style dist/: content-hashed assets under assets/ (JS chunks, CSS,
 * SVG, fonts), index.html referencing the entry chunk, the CSS and a few preloaded chunks,
 * sw.js precaching every asset, registerSW.js, manifest.webmanifest, icons and robots.txt.
 * Every write gives fresh mtimes, like a real rebuild (which is what makes `aws s3 sync`
 * upload everything again).
 */
export interface DistFixture {
  dir: string;
  /** key → content of every file. */
  files: Map<string, Buffer>;
  /** Lazy route chunks (referenced by sw.js, some by index.html), in build order. */
  chunks: string[];
  /** What index.html references. */
  indexReferences: string[];
}

export interface DistOptions {
  /** Total number of files (hashed assets fill the rest). Default 300. */
  files?: number;
  /** Changes the content of every file (a different app build). */
  seed?: string;
  /** Chunk index → revision; a different revision is a changed chunk. */
  revisions?: Record<number, number>;
}

const FIXED_FILES = 8; // index.html, sw.js, registerSW.js, manifest, 2 icons, favicon, robots.txt

function shortHash(content: string | Buffer): string {
  return createHash("sha256").update(content).digest("base64url").replace(/[-_]/g, "x").slice(0, 8);
}

/** Deterministic filler so sizes vary like real chunks (0.5–12 KiB). */
function body(label: string, seed: string, revision: number): string {
  const digest = createHash("sha256").update(`${label}:${seed}`).digest();
  const repeat = 8 + ((digest[0] as number) % 180);
  const line = `export const ${label.replace(/\W/g, "_")}_v${revision} = "${digest.toString("hex")}";\n`;
  return `// ${label} revision ${revision}\n${line.repeat(repeat)}`;
}

export function writeViteDist(dir: string, options: DistOptions = {}): DistFixture {
  const total = options.files ?? 300;
  const seed = options.seed ?? "vyapaarai";
  const revisions = options.revisions ?? {};
  const files = new Map<string, Buffer>();
  const put = (key: string, content: string | Buffer) => files.set(key, Buffer.from(content));

  const assetCount = Math.max(4, total - FIXED_FILES);
  const chunks: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < assetCount - 2; i++) {
    const kind = i % 10;
    if (kind === 8) {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg"><title>${seed} ${i}</title><rect width="${i}" height="1"/></svg>`;
      const key = `assets/icon-${i}-${shortHash(svg)}.svg`;
      put(key, svg);
      others.push(key);
    } else if (kind === 9) {
      const font = Buffer.concat([
        Buffer.from("wOF2"),
        createHash("sha512").update(`${seed}:font:${i}`).digest(),
      ]);
      const key = `assets/font-${i}-${shortHash(font)}.woff2`;
      put(key, font);
      others.push(key);
    } else {
      const content = body(`chunk${i}`, seed, revisions[i] ?? 0);
      const key = `assets/route${i}-${shortHash(content)}.js`;
      put(key, content);
      chunks.push(key);
    }
  }
  const css = `:root{--brand:#f60}/* ${seed} */\n${".c{color:red}\n".repeat(200)}`;
  const cssKey = `assets/index-${shortHash(css)}.css`;
  put(cssKey, css);
  // The entry chunk loads routes by a map that sw.js and index.html also carry; it does not
  // embed chunk names, so one changed route chunk changes only itself and the entry points.
  const entry = body("entry", seed, 0);
  const entryKey = `assets/index-${shortHash(entry)}.js`;
  put(entryKey, entry);

  const preloaded = chunks.slice(0, 5);
  const indexReferences = [
    "favicon.ico",
    "manifest.webmanifest",
    "pwa-192x192.png",
    entryKey,
    cssKey,
    ...preloaded,
    "registerSW.js",
  ];
  const html = [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="UTF-8" />',
    '<link rel="icon" href="/favicon.ico" />',
    '<link rel="manifest" href="/manifest.webmanifest">',
    '<link rel="apple-touch-icon" href="/pwa-192x192.png">',
    '<link rel="preconnect" href="https://jxxi8dtx1f.execute-api.ap-south-1.amazonaws.com">',
    `<script type="module" crossorigin src="/${entryKey}"></script>`,
    ...preloaded.map((key) => `<link rel="modulepreload" crossorigin href="/${key}">`),
    `<link rel="stylesheet" crossorigin href="/${cssKey}">`,
    `<script id="vite-plugin-pwa:register-sw" src="/registerSW.js"></script>`,
    `<script>window.__ROUTES__=${JSON.stringify(chunks)}</script>`,
    "</head>",
    `<body><div id="root"></div><a href="#main">skip</a><a href="mailto:help@vyapaarai.com">help</a></body>`,
    "</html>",
  ].join("\n");
  put("index.html", html);
  const precache = [...chunks, ...others, cssKey, entryKey, "index.html"].map((url) => ({
    url,
    revision: url.startsWith("assets/") ? null : shortHash(files.get(url) as Buffer),
  }));
  put("sw.js", `self.__WB_MANIFEST=${JSON.stringify(precache)};\nself.addEventListener("fetch",()=>{});\n`);
  put(
    "registerSW.js",
    "if('serviceWorker' in navigator){window.addEventListener('load',()=>{navigator.serviceWorker.register('/sw.js',{scope:'/'})})}",
  );
  put(
    "manifest.webmanifest",
    JSON.stringify({ name: "VyapaarAI", short_name: "VyapaarAI", start_url: "/", display: "standalone" }),
  );
  put("pwa-192x192.png", Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.alloc(1200, 7)]));
  put("pwa-512x512.png", Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.alloc(5000, 9)]));
  put("favicon.ico", Buffer.alloc(600, 1));
  put("robots.txt", "User-agent: *\nAllow: /\n");

  // A real build empties dist/ first, so files of the previous build disappear.
  rmSync(dir, { recursive: true, force: true });
  for (const [key, content] of files) {
    const path = join(dir, key);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
  return { dir, files, chunks, indexReferences };
}

/**
 * Rebuilds `previous` with one route chunk changed (by default one index.html preloads, so
 * both the chunk and index.html change): every file is rewritten with a fresh mtime.
 */
export function rebuildWithOneChunkChanged(
  previous: DistFixture,
  options: DistOptions & { chunkIndex?: number } = {},
): { fixture: DistFixture; oldChunk: string; newChunk: string } {
  const chunkIndex = options.chunkIndex ?? 1;
  const revisions = {
    ...(options.revisions ?? {}),
    [chunkIndex]: (options.revisions?.[chunkIndex] ?? 0) + 1,
  };
  const fixture = writeViteDist(previous.dir, {
    files: options.files ?? previous.files.size,
    ...(options.seed ? { seed: options.seed } : {}),
    revisions,
  });
  const oldChunk = previous.chunks.find((key) => key.startsWith(`assets/route${chunkIndex}-`)) as string;
  const newChunk = fixture.chunks.find((key) => key.startsWith(`assets/route${chunkIndex}-`)) as string;
  return { fixture, oldChunk, newChunk };
}
