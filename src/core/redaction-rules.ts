/**
 * The credential shapes redact.ts hides, modelled on gitleaks' default rules and GitHub secret
 * scanning's provider patterns (the shapes are public facts; the expressions are our own).
 * Prefixed tokens are matched with a lenient minimum length so that a token cut short by
 * someone else's truncation is still hidden.
 *
 * Every rule's replacement keeps the number of line breaks of what it replaces (redact.ts
 * enforces it), so text redacted as a whole can be split back into its lines.
 */
export const REDACTED = "[REDACTED]";

export type Replacement = (match: string, ...groups: string[]) => string;

export interface RedactionRule {
  /** A gitleaks-style id, e.g. "github-pat". */
  id: string;
  /** The provider or shape, as listed in the README's safety model. */
  shape: string;
  pattern: RegExp;
  /** Default: the whole match becomes [REDACTED]. */
  replace?: Replacement;
  /** A substring the text must contain for the rule to run (cheap guard for costly patterns). */
  hint?: string;
  /** A rule written as code instead of `pattern` (which then only documents it); keeps line breaks. */
  apply?: (text: string) => string;
}

/** Not preceded by a letter or digit: where a prefixed token may start. */
const START = "(?<![A-Za-z0-9])";

function prefixed(id: string, shape: string, body: string, flags = "g"): RedactionRule {
  return { id, shape, pattern: new RegExp(`${START}${body}`, flags) };
}

/** Keeps group 1 (a label, a URL prefix) and hides the rest of the match. */
const keepFirst = (_m: string, first: string): string => `${first}${REDACTED}`;

/** Every line of a multi-line match becomes [REDACTED]: each piece of a split block says so. */
export function redactEveryLine(match: string): string {
  return match
    .split("\n")
    .map((line) => (line.endsWith("\r") ? `${REDACTED}\r` : REDACTED))
    .join("\n");
}

/**
 * An END line whose BEGIN line was cut off (an output tail): the base64 lines right before it
 * (raw or JSON-escaped line breaks) and the END line are hidden. Scanned backwards line by
 * line, so a long text without a key costs linear time.
 */
function redactOrphanKeyEnds(text: string): string {
  const END = /-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----/g;
  const BODY = /^[ \t]*[A-Za-z0-9+/=]+[ \t]*$/;
  let out = "";
  let copied = 0;
  for (const m of text.matchAll(END)) {
    const floor = Math.max(copied, m.index - 64 * 1024);
    let start = m.index;
    let pos = m.index;
    for (let first = true; pos > floor; first = false) {
      // The previous line break, raw or JSON-escaped, no further back than the floor.
      let sep = pos - 1;
      let width = 1;
      while (
        sep >= floor &&
        text[sep] !== "\n" &&
        !(text[sep] === "n" && text[sep - 1] === "\\" && sep - 1 >= floor)
      )
        sep--;
      if (sep >= floor && text[sep] === "n") {
        sep--;
        width = 2;
      }
      const pieceStart = sep < floor ? floor : sep + width;
      const piece = text.slice(pieceStart, pos).replace(/\r$|\\r$/, "");
      if ((first && piece.trim() === "") || BODY.test(piece)) {
        start = pieceStart;
        pos = Math.max(sep, floor);
        continue;
      }
      // The line holding the body's first characters after other text: take its base64 tail.
      const trimmed = piece.trimEnd();
      let t = trimmed.length;
      while (t > 0 && /[A-Za-z0-9+/=]/.test(trimmed[t - 1] as string)) t--;
      if (trimmed.length - t >= 16) start = pieceStart + t;
      break;
    }
    const end = m.index + m[0].length;
    out += text.slice(copied, start) + redactEveryLine(text.slice(start, end));
    copied = end;
  }
  return out + text.slice(copied);
}

const AWS_KEY_ID = "(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}";

/** Private key blocks: the whole block, and a block without its END line to the end of the text. */
export const BLOCK_RULES: RedactionRule[] = [
  {
    id: "private-key",
    shape: "PEM private key block (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP)",
    pattern:
      /-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|$)/g,
    replace: redactEveryLine,
    hint: "PRIVATE KEY",
  },
  {
    id: "private-key-tail",
    shape: "PEM private key body whose BEGIN line was cut off (the lines before an END line)",
    pattern: /-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----/g,
    hint: "-----END",
    apply: redactOrphanKeyEnds,
  },
  {
    id: "putty-private-key",
    shape: "PuTTY private key file",
    pattern: /PuTTY-User-Key-File-\d+:[\s\S]*?(?:Private-MAC:[^\n]*|$)/g,
    replace: redactEveryLine,
    hint: "PuTTY-User-Key-File",
  },
];

/** Provider tokens with a recognisable prefix or structure. Order matters only where noted. */
export const PROVIDER_RULES: RedactionRule[] = [
  // AWS. The pair rule runs before the key-id rule so the secret next to an id is seen.
  {
    id: "aws-access-key-pair",
    shape: "AWS secret access key next to its access key id (any separator, any name)",
    pattern: new RegExp(
      `${START}${AWS_KEY_ID}([^A-Za-z0-9/+=\\n]{1,8})[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])`,
      "g",
    ),
    replace: (_m, sep) => `${REDACTED}${sep}${REDACTED}`,
  },
  prefixed(
    "aws-access-key-id",
    "AWS access key id (AKIA, ASIA, ABIA, ACCA, A3T…, AGPA, AIDA, AROA, …)",
    `${AWS_KEY_ID}(?![A-Za-z0-9])`,
  ),
  {
    id: "aws-secret-key-named",
    shape: "AWS secret access key after an aws/key/secret/cred(s) name",
    pattern:
      /((?:aws|key|secret|creds?|credentials?)[\w.-]{0,30}\\{0,3}["']?[ \t]{0,16}(?:=>|:=|[:=,])[ \t]{0,16}\\{0,3}["']?)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi,
    replace: (m, head, value) =>
      /[A-Z]/.test(value) && /[a-z]/.test(value) && !isPathLike(value) ? `${head}${REDACTED}` : m,
  },
  prefixed(
    "aws-session-token",
    "AWS STS session token (IQoJb3JpZ2lu…, FwoGZXIvYXdz…)",
    "(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+=]{16,}",
  ),
  prefixed(
    "aws-mws-key",
    "Amazon MWS auth token",
    "amzn\\.mws\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
  ),
  // GitHub
  prefixed(
    "github-token",
    "GitHub token: classic PAT ghp_, OAuth gho_, user-to-server ghu_, server-to-server ghs_, refresh ghr_",
    "gh[pousr]_[A-Za-z0-9]{16,255}",
  ),
  prefixed(
    "github-fine-grained-pat",
    "GitHub fine-grained PAT github_pat_",
    "github_pat_[A-Za-z0-9_]{16,255}",
  ),
  // GitLab
  prefixed(
    "gitlab-token",
    "GitLab tokens: glpat-, glptt-, gldt-, glrt-, glsoat-, glcbt-, glimt-, glagent-, gloas-, glft-, glffct-, glwt-",
    "gl(?:pat|ptt|dt|rt|soat|cbt|imt|agent|oas|ft|ffct|wt)-[\\w-]{16,}",
  ),
  prefixed(
    "gitlab-runner-registration",
    "GitLab runner registration token GR1348941…",
    "GR1348941[\\w-]{16,}",
  ),
  // Slack
  prefixed(
    "slack-config-token",
    "Slack configuration token xoxe.xoxb-/xoxe.xoxp-",
    "xoxe\\.xox[bp]-\\d-[A-Za-z0-9]{20,}",
  ),
  prefixed(
    "slack-token",
    "Slack bot/user/workspace/legacy/refresh tokens xoxb-, xoxp-, xoxa-, xoxo-, xoxs-, xoxr-, xoxe-",
    "xox[abposre]-[A-Za-z0-9-]{10,}",
  ),
  prefixed("slack-app-token", "Slack app-level token xapp-", "xapp-\\d-[A-Za-z0-9-]{10,}", "gi"),
  {
    id: "slack-webhook-url",
    shape: "Slack incoming webhook / workflow URL hooks.slack.com/services/…",
    pattern: /((?:https?:\/\/)?hooks\.slack\.com\/(?:services|workflows|triggers)\/)[A-Za-z0-9+/_-]{8,}/gi,
    replace: keepFirst,
  },
  {
    id: "discord-webhook-url",
    shape: "Discord webhook URL",
    pattern: /(discord(?:app)?\.com\/api\/webhooks\/)\d+\/[\w-]{16,}/gi,
    replace: keepFirst,
  },
  // Google
  prefixed("gcp-api-key", "Google API key AIza…", "AIza[\\w-]{30,}"),
  prefixed("google-oauth-client-secret", "Google OAuth client secret GOCSPX-", "GOCSPX-[\\w-]{20,}"),
  prefixed("google-oauth-access-token", "Google OAuth access token ya29.", "ya29\\.[\\w-]{20,}"),
  {
    id: "google-oauth-refresh-token",
    shape: "Google OAuth refresh token 1//0…",
    pattern: /(?<![\w/])1\/\/0[\w-]{30,}/g,
  },
  // Payments and messaging
  prefixed("sendgrid-api-key", "SendGrid API key SG.x.y", "SG\\.[\\w-]{16,}\\.[\\w-]{30,}"),
  prefixed(
    "stripe-key",
    "Stripe secret/restricted/publishable keys sk_live_, rk_live_, pk_live_ (and _test_)",
    "(?:sk|rk|pk)_(?:live|test|prod)_[A-Za-z0-9]{10,}",
  ),
  prefixed("stripe-webhook-secret", "Stripe webhook signing secret whsec_", "whsec_[A-Za-z0-9+/=]{24,}"),
  prefixed("twilio-api-key", "Twilio API key SK…", "SK[0-9a-fA-F]{32}(?![A-Za-z0-9])"),
  prefixed("twilio-account-sid", "Twilio account SID AC…", "AC[0-9a-f]{32}(?![A-Za-z0-9])"),
  prefixed(
    "mailgun-key",
    "Mailgun private/public API key key-…, pubkey-…",
    "(?:key|pubkey)-[0-9a-f]{32}(?![A-Za-z0-9])",
  ),
  prefixed(
    "mailgun-signing-key",
    "Mailgun webhook signing key",
    "[0-9a-h]{32}-[0-9a-h]{8}-[0-9a-h]{8}(?![A-Za-z0-9])",
  ),
  prefixed("mailchimp-api-key", "Mailchimp API key …-usN", "[0-9a-f]{32}-us\\d{1,2}(?![A-Za-z0-9])"),
  prefixed(
    "square-token",
    "Square access token EAAA…, sq0atp-, sq0csp-",
    "(?:EAAA[\\w-]{60,}|sq0atp-[\\w-]{22,}|sq0csp-[\\w-]{43,})",
  ),
  prefixed("telegram-bot-token", "Telegram bot token", "\\d{8,10}:AA[\\w-]{33}(?![\\w-])"),
  prefixed("facebook-access-token", "Facebook/Meta access token EAAC…/EAAM…", "EAA[MC][A-Za-z0-9]{80,}"),
  // Package registries
  prefixed("npm-token", "npm access token npm_", "npm_[A-Za-z0-9]{30,}"),
  prefixed("pypi-token", "PyPI upload token pypi-AgE…", "pypi-AgE[\\w-]{30,}"),
  prefixed("rubygems-api-key", "RubyGems API key rubygems_", "rubygems_[a-f0-9]{48}"),
  prefixed("nuget-api-key", "NuGet API key oy2…", "oy2[a-z0-9]{43}(?![a-z0-9])"),
  prefixed(
    "docker-hub-token",
    "Docker Hub personal/organisation access token dckr_pat_, dckr_oat_",
    "dckr_(?:pat|oat)_[\\w-]{20,}",
  ),
  // Cloud and platforms
  {
    id: "azure-storage-account-key",
    shape: "Azure storage AccountKey= / SharedAccessKey= in a connection string",
    pattern: /((?:AccountKey|SharedAccessKey|SharedAccessSignature)[ \t]{0,16}=[ \t]{0,16})[^;\s"'<]+/gi,
    replace: keepFirst,
  },
  {
    id: "azure-sas-signature",
    shape: "Azure SAS token signature sig= in a URL or SAS string",
    pattern: /([?&;]sig=)[^&\s"'<#]+/gi,
    replace: keepFirst,
  },
  {
    id: "azure-ad-client-secret",
    shape: "Azure AD (Entra) client secret …Q~…",
    pattern: /(?<![A-Za-z0-9_~.])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])/g,
  },
  prefixed("heroku-api-key-v2", "Heroku API key HRKU-", "HRKU-[\\w-]{20,}"),
  {
    id: "heroku-api-key",
    shape: "Heroku API key (a UUID after a heroku name)",
    pattern:
      /(heroku[\w.-]{0,30}\\{0,3}["']?[ \t]{0,16}(?:=>|:=|[:=])[ \t]{0,16}\\{0,3}["']?)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi,
    replace: keepFirst,
  },
  prefixed("digitalocean-token", "DigitalOcean token dop_v1_, doo_v1_, dor_v1_", "do[opr]_v1_[a-f0-9]{32,}"),
  prefixed(
    "shopify-token",
    "Shopify token shpat_, shpca_, shppa_, shpss_",
    "shp(?:at|ca|pa|ss)_[a-fA-F0-9]{20,}",
  ),
  prefixed("databricks-token", "Databricks token dapi…", "dapi[a-f0-9]{32}(?:-\\d)?"),
  prefixed("vault-token", "HashiCorp Vault token hvs., hvb., hvr.", "hv[sbr]\\.[\\w-]{24,}"),
  prefixed(
    "terraform-cloud-token",
    "Terraform Cloud / Enterprise API token ….atlasv1.…",
    "[a-z0-9]{14}\\.atlasv1\\.[\\w=-]{60,}",
  ),
  prefixed("pulumi-token", "Pulumi access token pul-", "pul-[a-f0-9]{40}"),
  prefixed(
    "doppler-token",
    "Doppler token dp.pt., dp.st., …",
    "dp\\.(?:pt|st|sa|ct|scim|audit)\\.[A-Za-z0-9]{40,}",
  ),
  prefixed("dynatrace-token", "Dynatrace API token dt0c01.", "dt0c01\\.[A-Z0-9]{24}\\.[A-Z0-9]{64}"),
  prefixed(
    "grafana-token",
    "Grafana cloud / service account token glc_, glsa_",
    "(?:glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})",
  ),
  prefixed("new-relic-key", "New Relic keys NRAK-, NRJS-, NRII-", "NR(?:AK|JS|II)-[A-Za-z0-9]{19,}"),
  prefixed("sentry-token", "Sentry org/user auth token sntrys_, sntryu_", "sntry[su]_[\\w+/=-]{40,}"),
  prefixed("atlassian-api-token", "Atlassian API token ATATT3…", "ATATT3[\\w=-]{100,}"),
  prefixed("postman-api-key", "Postman API key PMAK-", "PMAK-[a-f0-9]{24}-[a-f0-9]{34}", "gi"),
  prefixed("linear-api-key", "Linear API key lin_api_", "lin_api_[A-Za-z0-9]{30,}"),
  prefixed("supabase-token", "Supabase access token sbp_", "sbp_[a-f0-9]{40}"),
  prefixed(
    "planetscale-token",
    "PlanetScale token/password pscale_tkn_, pscale_pw_",
    "pscale_(?:tkn|pw|oauth)_[\\w=.-]{32,}",
  ),
  prefixed("alibaba-access-key-id", "Alibaba Cloud AccessKey id LTAI…", "LTAI[A-Za-z0-9]{20}(?![A-Za-z0-9])"),
  prefixed(
    "cloudflare-origin-ca-key",
    "Cloudflare origin CA key v1.0-…",
    "v1\\.0-[a-f0-9]{24}-[a-f0-9]{146}",
  ),
  prefixed(
    "onepassword-service-token",
    "1Password service account token ops_eyJ…",
    "ops_eyJ[A-Za-z0-9+/]{100,}={0,3}",
  ),
  prefixed(
    "age-secret-key",
    "age encryption secret key",
    "AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
  ),
  // AI providers (Anthropic first: its keys also have OpenAI's sk- prefix).
  prefixed("anthropic-api-key", "Anthropic API/admin key sk-ant-", "sk-ant-[a-z0-9]+-[\\w-]{20,}"),
  {
    id: "openai-api-key",
    shape: "OpenAI API key sk-, sk-proj-, sk-svcacct-, sk-admin- (…T3BlbkFJ…)",
    pattern: /(?<![A-Za-z0-9-])sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9][\w-]{19,}/g,
    // A long kebab-case name that happens to start with sk- is not a key: a key has digits or capitals.
    replace: (m) => (/[0-9A-Z]/.test(m.slice(3)) ? REDACTED : m),
  },
  prefixed(
    "huggingface-token",
    "Hugging Face token hf_, api_org_",
    "(?:hf_[A-Za-z0-9]{30,}|api_org_[A-Za-z0-9]{30,})",
  ),
  // JSON Web Tokens: the header must decode to a JOSE header, so dotted ids are left alone.
  {
    id: "jwt",
    shape: "JSON Web Token (eyJ….….…)",
    pattern: /(?<![\w-])eyJ[\w-]{5,}\.[\w-]{8,}\.[\w-]*/g,
    replace: (m) => (isJoseHeader(m.slice(0, m.indexOf("."))) ? REDACTED : m),
  },
];

/** Authorization schemes in use (IANA registry and common vendor schemes); any other value is hidden whole. */
const AUTH_SCHEMES =
  "Bearer|Basic|Token|Digest|Negotiate|NTLM|AWS4-HMAC-SHA256|AWS|HOBA|Mutual|OAuth|SSWS|Bot|Api-?Key|SCRAM-SHA-(?:1|256)|vapid|Splunk|GenieKey|DSN|JWT|Key|Hawk|Signature|SharedKey(?:Lite)?|Private-Token|PVEAPIToken|EG1-HMAC-SHA256|GoogleLogin";

/** Headers and connection strings: the credential goes, the scheme or key name stays readable. */
export const HEADER_RULES: RedactionRule[] = [
  {
    id: "authorization-header",
    shape:
      "Authorization / Proxy-Authorization header of any scheme (Bearer, Basic, Token, Digest, AWS4-HMAC-SHA256 …)",
    pattern: new RegExp(
      `\\b((?:Proxy-)?Authorization\\\\{0,3}["']?[ \\t]*(?:=>|[:=])[ \\t]*\\\\{0,3}["']?)(?:(${AUTH_SCHEMES})[ \\t]+)?([^\\s"'\\\\][^\\n"'\\\\]*)`,
      "gi",
    ),
    replace: (_m, head, scheme) => (scheme ? `${head}${scheme} ${REDACTED}` : `${head}${REDACTED}`),
  },
  {
    id: "bearer-token",
    shape: "Bearer / Basic credentials outside a header",
    pattern: /\b(Bearer|Basic)[ \t]+([A-Za-z0-9._~+/=-]{8,})/gi,
    replace: (m, scheme, value) => (/^[a-z]+$/.test(value) ? m : `${scheme} ${REDACTED}`),
  },
  {
    id: "cookie-header",
    shape: "Cookie / Set-Cookie header values",
    pattern: /\b((?:Set-)?Cookie[ \t]{0,16}:[ \t]{0,16})[^\n"'\\]+/gi,
    replace: keepFirst,
  },
  {
    id: "url-credentials",
    shape:
      "URL or connection string with user:password@ (postgres://, mysql://, mongodb+srv://, redis://:pass@, amqp://, https://)",
    // The password part may hold unencoded ? # @: it runs to the last @ before the path.
    pattern: /\b([a-z][a-z0-9+.-]{0,30}:\/\/)[^\s/?#@"'<>]{0,256}:[^\s/"'<>]{0,512}@/gi,
    replace: (_m, scheme) => `${scheme}${REDACTED}@`,
  },
  {
    id: "url-token-userinfo",
    shape: "URL with a bare token as its user (https://TOKEN@host)",
    pattern: /\b([a-z][a-z0-9+.-]{0,30}:\/\/)[A-Za-z0-9_\-.~%]{20,256}@/gi,
    replace: (_m, scheme) => `${scheme}${REDACTED}@`,
  },
  {
    id: "ado-connection-string-password",
    shape: "Password=…; / Pwd=…; in ADO.NET / ODBC / JDBC connection strings",
    pattern:
      /((?:^|[;"'])[ \t]{0,16}(?:Password|Pwd)[ \t]{0,16}=[ \t]{0,16})(?:"[^"\n]{0,512}"|'[^'\n]{0,512}'|[^;\n"']{0,512})(?=;)|(;[ \t]{0,16}(?:Password|Pwd)[ \t]{0,16}=[ \t]{0,16})(?:"[^"\n]*"|'[^'\n]*'|[^;\n"']*)/gim,
    replace: (_m, a, b) => `${a ?? b}${REDACTED}`,
  },
];

/** Standalone high-entropy runs, applied last: AWS secret keys and PEM body lines out of context. */
export const ENTROPY_RULES: RedactionRule[] = [
  {
    id: "aws-secret-key-standalone",
    shape: "AWS secret access key standing alone (40 base64 characters, mixed case)",
    pattern: /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g,
    replace: (m) => (looksLikeSecretKey(m, 3.6) ? REDACTED : m),
  },
  {
    id: "base64-secret-run",
    shape: "long base64 run (a private key body line, a session token) standing alone",
    pattern: /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{56,}={0,2}(?![A-Za-z0-9/+=])/g,
    replace: (m) => (looksLikeSecretKey(m.replace(/=+$/, ""), 4.2) ? REDACTED : m),
  },
];

/** Shannon entropy in bits per character. */
export function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** A path like com/Org/Repo/blob: two or more slash-separated segments that are words. */
function isPathLike(run: string): boolean {
  if (!run.includes("/")) return false;
  return (
    run.split("/").filter((seg) => /^(?:[A-Z]?[a-z]{2,}|[a-z0-9]+-?)$/.test(seg) && seg.length >= 3).length >=
    2
  );
}

/** A base64 run is a secret when it mixes cases with digits or symbols and is random enough. */
export function looksLikeSecretKey(run: string, minEntropy: number): boolean {
  if (/^[0-9a-f]+$/i.test(run)) return false;
  if (!/[A-Z]/.test(run) || !/[a-z]/.test(run) || !/[0-9/+]/.test(run)) return false;
  if (isPathLike(run)) return false;
  return entropy(run) >= minEntropy;
}

function isJoseHeader(segment: string): boolean {
  try {
    const header = JSON.parse(Buffer.from(segment, "base64url").toString("utf8")) as unknown;
    return (
      typeof header === "object" &&
      header !== null &&
      ("alg" in header || "typ" in header || "enc" in header || "kid" in header)
    );
  } catch {
    // A header cut short still starts like one: err on the side of hiding.
    return /^eyJ(?:hbGci|0eXAi|lbmMi|raWQi)/.test(segment);
  }
}

// ---------------------------------------------------------------------------------------------
// Generic assignments: `name = value` in JSON (escaped too), YAML, env files, query strings,
// XML, CLI flags. The name decides; the value's syntax decides where it ends.
// ---------------------------------------------------------------------------------------------

export type SecretNameKind = "strong" | "weak" | null;

/** Our own outputs carry these names on purpose: a confirmation token is not a credential. */
const ALLOWED_NAMES = new Set(["confirmationtoken", "tokenexpiresat", "tokenttlminutes"]);

const STRONG_SUBSTRINGS =
  /password|passwd|passphrase|secret|token|apikey|accesskey|privatekey|accountkey|masterkey|signingkey|encryptionkey|sessionkey|clientkey|credential|cookie|signature|authorization|connectionstring/;
const STRONG_WORDS = new Set(["pwd", "pass", "auth", "creds", "sig", "psk", "apitoken"]);

/**
 * How secret a name sounds. Only the last dotted part counts (`spring.datasource.password`
 * is, `aws_secretsmanager_secret.db` and `secret.txt` are not). "strong": any value is hidden;
 * "weak" (…key, …Key, KEY): only a value that looks random is.
 */
export function secretNameKind(name: string): SecretNameKind {
  const last = (name.split(".").pop() ?? name).replace(/^[-$@]+/, "");
  if (!last) return null;
  const compact = last.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (ALLOWED_NAMES.has(compact)) return null;
  if (STRONG_SUBSTRINGS.test(compact)) return "strong";
  const words = last
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  if (words.some((w) => STRONG_WORDS.has(w))) return "strong";
  if (words.includes("key") || compact.endsWith("key")) return "weak";
  return null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RELEASE_ID = /^\d{8}T\d{6}(?:\d{3})?Z-[0-9a-f]{6}$/;

/** A value under a weak name is hidden only when it looks generated (gitleaks' generic rule). */
export function looksRandom(raw: string): boolean {
  const value = raw.trim();
  if (value.length < 16 || value.length > 2048 || /\s/.test(value)) return false;
  if (/^[0-9a-f]{40}$|^[0-9a-f]{64}$/i.test(value) || UUID.test(value) || RELEASE_ID.test(value))
    return false;
  if (/^[A-Za-z0-9+/]{43}=$/.test(value)) return false; // a base64 SHA-256 (CodeSha256)
  if (value.includes("/") && !/^[A-Za-z0-9/+]{40}$/.test(value)) return false; // a path or URL
  if (/\.[a-z]{1,5}$/i.test(value) || value.includes(":")) return false; // a file name, an ARN
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(value)).length;
  return classes >= 2 && /[0-9]/.test(value) && entropy(value) >= 3.5;
}

/** Values that are not credentials even under a secret name. */
function isHarmlessValue(value: string): boolean {
  const v = value.trim();
  if (v === "" || v === REDACTED || v.startsWith("\uE000")) return true;
  if (/^(?:true|false|null|none|nil|undefined|yes|no)$/i.test(v)) return true;
  if (/^-?\d{1,5}(?:\.\d+)?$/.test(v)) return true; // counts, ports, durations
  if (/^\((?:sensitive(?: value)?|known after apply)\)?$|^<sensitive>$|^\*+$/.test(v)) return true; // terraform, masks
  // References, not values: $VAR, ${VAR}, ${VAR:-}, {{ secrets.X }}, ${{ secrets.X }}, $(command).
  if (
    /^\$[A-Za-z_][\w.]*$|^\$\{[A-Za-z_][\w.]*(?::?[-=?+][^}]*)?\}$|^\$?\{\{[^}]*\}\}$|^\$\([^)]*\)?$/.test(v)
  )
    return true;
  return false;
}

/** `name` + optional closing quote (escaped too) + separator. The value is parsed by hand. */
const ASSIGNMENT =
  /(?<![\w.$@-])((?:--?)?[A-Za-z_$@][\w.$@-]{0,100})(\\{0,3}["']?)([ \t]{0,40}(?:=>|:=|[:=])[ \t]{0,40})/g;
/** A CLI flag followed by its value: `--db-password hunter2`. */
const FLAG = /(?<![\w-])(--?[A-Za-z][\w-]{0,60})([ \t]+)(?=[^\s-])/g;
/** XML elements: <password>x</password>. */
const XML_ELEMENT = /<([\w:.-]{1,60})>([^<\n]*)<\/\1>/g;

/**
 * Finds where a value starting at `pos` ends. Quoted values end at their closing quote
 * (escaped quotes with the same number of backslashes as the opening one); unquoted values at
 * a delimiter, or at the end of the line when the assignment starts the line (env, YAML).
 */
function valueEnd(text: string, pos: number, lineStart: boolean, kind: "strong" | "weak"): number {
  // Values are read a bounded distance: a runaway value costs bounded time. A generated value
  // under a weak name is short; a strong name's value is hidden whatever its length.
  const stop = Math.min(text.length, pos + (kind === "strong" ? 8192 : 512));
  const eol = (from: number) => {
    const nl = text.indexOf("\n", from);
    return nl === -1 || nl > stop ? stop : nl;
  };
  const open = /^(\\{0,3})(["'`])/.exec(text.slice(pos, pos + 4));
  if (open) {
    // Scanned one character at a time up to the closing quote or the end of the line: never
    // past the line, so many quotes on one line cost linear time.
    const [head, slashes = "", quote = '"'] = open;
    const close = `${slashes}${quote}`;
    let i = pos + head.length;
    while (i < stop && text[i] !== "\n") {
      if (slashes === "") {
        if (text[i] === "\\") i += 2;
        else if (text[i] === quote) return i + 1;
        else i++;
        continue;
      }
      if (text.startsWith(close, i) && text[i - 1] !== "\\") return i + close.length;
      i++;
    }
    return Math.min(i, stop);
  }
  if (lineStart && kind === "strong") {
    let end = eol(pos);
    while (end > pos && /[ \t\r,]/.test(text[end - 1] as string)) end--;
    return end;
  }
  // Under a weak name only a token-like value counts: it ends at the next = or : as well.
  const delimiters = kind === "strong" ? /[\s,;&"'`<>}\]\\]/ : /[\s,;&"'`<>}\]\\=:]/;
  let i = pos;
  for (;;) {
    // A marker left by an earlier rule is part of the value (its "]" does not end it).
    if (text.startsWith(REDACTED, i)) {
      i += REDACTED.length;
      continue;
    }
    if (i >= stop || delimiters.test(text[i] as string)) return Math.min(i, stop);
    i++;
  }
}

function startsLine(text: string, index: number): boolean {
  // Only a short prefix can be indentation and `export `: look back a bounded distance.
  const from = Math.max(0, index - 120);
  const window = text.slice(from, index);
  const nl = window.lastIndexOf("\n");
  if (nl === -1 && from > 0) return false;
  // Leading indentation, terraform's box drawing, a quote mark, `export`, `set`, a list dash.
  return /^[ \t│╷╵|>]*(?:export[ \t]+|set[ \t]+|-[ \t]+|#[ \t]*)?$/.test(window.slice(nl + 1));
}

/** `arn:aws:secretsmanager:…:secret:db-AbCd` names a resource; its `secret:` is no assignment. */
function insideArn(text: string, index: number): boolean {
  const before = text.slice(Math.max(0, index - 200), index);
  return /(?:^|[\s"'=(,[])arn:[^\s"']*$/.test(before);
}

function unquote(value: string): string {
  return value.replace(/^\\{0,3}["'`]|\\{0,3}["'`]$/g, "");
}

function shouldHide(kind: SecretNameKind, name: string, value: string): boolean {
  const inner = unquote(value);
  if (!kind || isHarmlessValue(inner)) return false;
  // The authorization-header rule already kept the scheme and hid the credential.
  if (/authorization/i.test(name) && /^[A-Za-z][\w-]*[ \t]+\[REDACTED\]$/.test(inner)) return false;
  // A nested object or list: its own keys decide.
  if (/^[{[]/.test(inner.trim()) && !inner.startsWith(REDACTED) && !/^\\{0,3}["'`]/.test(value)) return false;
  return kind === "strong" || looksRandom(inner);
}

/** Replaces the values of secret-named assignments; everything else is copied as is. */
export function redactAssignments(text: string): string {
  let out = redactScan(text, ASSIGNMENT, (m) => ({
    name: m[1] as string,
    valueStart: m.index + m[0].length,
    lineStart: () => startsLine(text, m.index),
  }));
  out = redactScan(out, FLAG, (m) =>
    (m[1] as string).startsWith("--") || /^-[A-Za-z]{2,}/.test(m[1] as string)
      ? { name: m[1] as string, valueStart: m.index + m[0].length, lineStart: () => false }
      : null,
  );
  return out.replace(XML_ELEMENT, (m, tag: string, value: string) =>
    shouldHide(secretNameKind(tag), tag, value) ? `<${tag}>${REDACTED}</${tag}>` : m,
  );
}

function redactScan(
  text: string,
  pattern: RegExp,
  read: (m: RegExpExecArray) => { name: string; valueStart: number; lineStart: () => boolean } | null,
): string {
  const re = new RegExp(pattern.source, pattern.flags);
  let out = "";
  let copied = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const found = read(m);
    const name = found?.name ?? (m[1] as string);
    const kind = found && !insideArn(text, m.index) ? secretNameKind(name) : null;
    if (!found || !kind) {
      // Not a secret name: go on right after the name, so a value like `q=token=x` is still seen.
      re.lastIndex = m.index + Math.max(1, name.length);
      continue;
    }
    // The authorization-header rule already kept the scheme and hid the credential.
    if (
      /authorization/i.test(name) &&
      /^\\{0,3}["']?[A-Za-z][\w-]*[ \t]+\[REDACTED\]/.test(
        text.slice(found.valueStart, found.valueStart + 80),
      )
    ) {
      re.lastIndex = m.index + Math.max(1, name.length);
      continue;
    }
    const end = valueEnd(text, found.valueStart, found.lineStart(), kind);
    const value = text.slice(found.valueStart, end);
    if (!shouldHide(kind, name, value)) {
      // A harmless value (a reference, a count) is read as a whole; a value under a weak name
      // that does not look random may still hold an assignment of its own.
      const nested = /^[{[]/.test(value.trim()) && !value.startsWith(REDACTED);
      re.lastIndex = kind === "strong" && !nested ? Math.max(end, m.index + 1) : found.valueStart;
      continue;
    }
    const open = /^\\{0,3}["'`]/.exec(value)?.[0] ?? "";
    const close = open && value.length > open.length && value.endsWith(open.slice(-1)) ? open : "";
    out += text.slice(copied, found.valueStart) + open + REDACTED + close;
    copied = end;
    re.lastIndex = Math.max(end, m.index + 1);
  }
  return out + text.slice(copied);
}
