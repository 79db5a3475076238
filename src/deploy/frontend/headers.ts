import mime from "mime";
import type { FrontendConfig } from "../../config/schema.js";

/** The two headers every uploaded object carries. */
export interface ObjectHeaders {
  contentType: string;
  cacheControl: string;
}

export const ENTRY_POINT_CACHE_CONTROL = "no-cache";

/**
 * Entry points are the files a browser fetches by a fixed name (index.html, sw.js, the web
 * manifest, registerSW.js, any other HTML). They are uploaded last and never cached, because
 * they decide which hashed assets a visitor loads.
 */
export function isEntryPoint(key: string, frontend: Pick<FrontendConfig, "entryPoints">): boolean {
  return frontend.entryPoints.includes(key) || key.endsWith(".html");
}

/** Content-Type from the maintained `mime` database; text gets an explicit UTF-8 charset. */
export function contentTypeFor(key: string): string {
  const type = mime.getType(key) ?? "application/octet-stream";
  // Browsers guess the charset of text without one; Vite emits UTF-8.
  return type.startsWith("text/") ? `${type}; charset=utf-8` : type;
}

/** Cache-Control: entry points `no-cache`, else the first matching rule, else the default. */
export function cacheControlFor(
  key: string,
  frontend: Pick<FrontendConfig, "entryPoints" | "cacheRules" | "defaultCacheControl">,
): string {
  if (isEntryPoint(key, frontend)) return ENTRY_POINT_CACHE_CONTROL;
  const rule = frontend.cacheRules.find((candidate) => globToRegExp(candidate.match).test(key));
  return rule?.cacheControl ?? frontend.defaultCacheControl;
}

export function headersFor(
  key: string,
  frontend: Pick<FrontendConfig, "entryPoints" | "cacheRules" | "defaultCacheControl">,
): ObjectHeaders {
  return { contentType: contentTypeFor(key), cacheControl: cacheControlFor(key, frontend) };
}

/** An immutable object never needs a CloudFront invalidation: its name changes with its content. */
export function isImmutable(cacheControl: string): boolean {
  return /\bimmutable\b/i.test(cacheControl);
}

const globCache = new Map<string, RegExp>();

/**
 * Path globs as in the config's cacheRules: `**` any depth, `*` within one segment, `?` one
 * character, `{a,b}` alternatives. Written here rather than adding a matcher dependency.
 */
export function globToRegExp(glob: string): RegExp {
  const cached = globCache.get(glob);
  if (cached) return cached;
  let source = "";
  let inBraces = false;
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === "*") {
      if (glob[i + 1] === "*") {
        // `**/` also matches zero folders, so `assets/**/x.js` matches `assets/x.js`.
        const slashAfter = glob[i + 2] === "/";
        source += slashAfter ? "(?:.*/)?" : ".*";
        i += slashAfter ? 2 : 1;
      } else source += "[^/]*";
    } else if (char === "?") source += "[^/]";
    else if (char === "{") {
      inBraces = true;
      source += "(?:";
    } else if (char === "}" && inBraces) {
      inBraces = false;
      source += ")";
    } else if (char === "," && inBraces) source += "|";
    else source += char.replace(/[.+^$()|[\]\\]/g, "\\$&");
  }
  const regExp = new RegExp(`^${source}$`);
  globCache.set(glob, regExp);
  return regExp;
}
