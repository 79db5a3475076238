import { createHash } from "node:crypto";
import { mulberry32 } from "../../src/bench/fixtures/frontend-dist.js";

/**
 * The redaction corpus: every credential shape redaction must hide, planted in every kind of
 * outside text the server passes on, plus the values that must come through unchanged.
 *
 * No literal credential sits in this file: every secret is generated from a fixed seed at
 * load time (the same values on every run), so the repository itself never holds anything a
 * scanner or push protection would flag.
 */

const random = mulberry32(0x5eed_13);
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const HEX = "0123456789abcdef";
const B64 = `${ALNUM}+/`;
const B64URL = `${ALNUM}-_`;

function pick(alphabet: string, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
  return out;
}

/** A random run with at least one upper, one lower and one digit (what a real key has). */
function mixed(alphabet: string, length: number): string {
  for (;;) {
    const candidate = pick(alphabet, length);
    if (/[A-Z]/.test(candidate) && /[a-z]/.test(candidate) && /[0-9]/.test(candidate)) return candidate;
  }
}

/** A password-like value: letters, digits and a few symbols that survive URLs and JSON. */
function password(): string {
  return `${mixed(ALNUM, 10)}!${pick(ALNUM, 4)}#${pick(DIGITS, 2)}`;
}

const b64url = (text: string): string => Buffer.from(text).toString("base64url");

export interface PlantedSecret {
  id: string;
  /** The provider or shape, as the report lists it. */
  shape: string;
  /** The secret in its natural surroundings (one or more lines). */
  text: string;
  /** Substrings that must not survive redaction (the credential, each part of it). */
  secrets: string[];
}

const planted: PlantedSecret[] = [];
function plant(id: string, shape: string, text: string, ...secrets: string[]): void {
  planted.push({ id, shape, text, secrets });
}

// ------------------------------------------------------------------------------------ AWS
const akia = `AKIA${pick(UPPER + DIGITS, 16)}`;
const asia = `ASIA${pick(UPPER + DIGITS, 16)}`;
const awsSecret = mixed(B64, 40);
const awsSecret2 = mixed(B64, 40);
const awsSecret3 = mixed(B64, 40);
const sessionToken = `IQoJb3JpZ2luX2Vj${pick(B64, 360)}==`;
const sigV4 = pick(HEX, 64);
const presignSig = pick(HEX, 64);
plant("aws-access-key-id", "AWS access key id (AKIA)", `uploading with access key ${akia} to s3`, akia);
plant("aws-temporary-key-id", "AWS temporary access key id (ASIA)", `assumed role, key id ${asia}`, asia);
plant(
  "aws-secret-neutral-name",
  "AWS secret access key after a neutral name",
  `creds=${awsSecret}`,
  awsSecret,
);
plant(
  "aws-secret-next-to-key-id",
  "AWS secret access key next to its access key id",
  `loaded ${akia}:${awsSecret2} from the environment`,
  akia,
  awsSecret2,
);
plant(
  "aws-secret-after-key-word",
  "AWS secret access key after a key/secret word",
  `aws secret = "${awsSecret3}"`,
  awsSecret3,
);
plant(
  "aws-session-token",
  "AWS STS session token",
  `session ${sessionToken}`,
  sessionToken.slice(0, 40),
  sessionToken.slice(-60),
);
plant(
  "aws-sigv4-header",
  "Authorization: AWS4-HMAC-SHA256 Credential=…Signature=…",
  `Authorization: AWS4-HMAC-SHA256 Credential=${akia}/20261125/ap-south-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=${sigV4}`,
  akia,
  sigV4,
);
plant(
  "aws-presigned-url",
  "S3 presigned URL (X-Amz-Credential, X-Amz-Security-Token, X-Amz-Signature)",
  `GET https://vyaparai-lambda-deployments.s3.ap-south-1.amazonaws.com/backend/app.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${asia}%2F20261125%2Fap-south-1%2Fs3%2Faws4_request&X-Amz-Date=20261125T130512Z&X-Amz-Expires=900&X-Amz-Security-Token=${encodeURIComponent(sessionToken)}&X-Amz-SignedHeaders=host&X-Amz-Signature=${presignSig}`,
  asia,
  presignSig,
  encodeURIComponent(sessionToken).slice(20, 80),
);

// ------------------------------------------------------------------------------ Git hosts
for (const prefix of ["ghp", "gho", "ghu", "ghs", "ghr"]) {
  const token = `${prefix}_${pick(ALNUM, 36)}`;
  plant(`github-${prefix}`, `GitHub token ${prefix}_`, `remote: rejected token ${token} for push`, token);
}
const githubPat = `github_pat_${pick(ALNUM, 22)}_${pick(ALNUM, 59)}`;
plant("github-fine-grained-pat", "GitHub fine-grained PAT github_pat_", `using ${githubPat}`, githubPat);
const glpat = `glpat-${pick(B64URL, 20)}`;
plant("gitlab-pat", "GitLab personal access token glpat-", `CI_JOB_TOKEN fallback ${glpat}`, glpat);

// ---------------------------------------------------------------------------------- Slack
const xoxb = `xoxb-${pick(DIGITS, 12)}-${pick(DIGITS, 13)}-${pick(ALNUM, 24)}`;
const xoxp = `xoxp-${pick(DIGITS, 12)}-${pick(DIGITS, 12)}-${pick(DIGITS, 13)}-${pick(HEX, 32)}`;
const xapp = `xapp-1-A${pick(UPPER + DIGITS, 10)}-${pick(DIGITS, 13)}-${pick(HEX, 64)}`;
const slackHookPath = `T${pick(UPPER + DIGITS, 8)}/B${pick(UPPER + DIGITS, 10)}/${pick(ALNUM, 24)}`;
plant("slack-bot-token", "Slack bot token xoxb-", `posting as ${xoxb}`, xoxb);
plant("slack-user-token", "Slack user token xoxp-", `user token ${xoxp}`, xoxp);
plant("slack-app-token", "Slack app-level token xapp-", `socket mode ${xapp}`, xapp);
plant(
  "slack-webhook",
  "Slack webhook URL hooks.slack.com/services/…",
  `notify failed: POST https://hooks.slack.com/services/${slackHookPath} returned 404`,
  slackHookPath,
  slackHookPath.split("/")[2] as string,
);
const discordHook = `${pick(DIGITS, 18)}/${pick(B64URL, 68)}`;
plant(
  "discord-webhook",
  "Discord webhook URL",
  `webhook https://discord.com/api/webhooks/${discordHook}`,
  discordHook,
);

// --------------------------------------------------------------------------------- Google
const aiza = `AIza${pick(B64URL, 35)}`;
const gocspx = `GOCSPX-${pick(B64URL, 28)}`;
const ya29 = `ya29.${pick(B64URL, 120)}`;
const refresh = `1//0${pick(B64URL, 60)}`;
plant("google-api-key", "Google API key AIza…", `maps request ?libraries=places with ${aiza}`, aiza);
plant("google-oauth-client-secret", "Google OAuth client secret GOCSPX-", `client ${gocspx} loaded`, gocspx);
plant("google-oauth-access-token", "Google OAuth access token ya29.", `got ${ya29}`, ya29);
plant("google-oauth-refresh-token", "Google OAuth refresh token 1//0…", `refresh with ${refresh}`, refresh);

// --------------------------------------------------------------------- Payments, messaging
const sendgrid = `SG.${pick(B64URL, 22)}.${pick(B64URL, 43)}`;
const stripeSk = `sk_live_${pick(ALNUM, 99)}`;
const stripeRk = `rk_live_${pick(ALNUM, 24)}`;
const stripePk = `pk_live_${pick(ALNUM, 24)}`;
const whsec = `whsec_${pick(ALNUM, 32)}`;
const twilioSk = `SK${pick(HEX, 32)}`;
const twilioAc = `AC${pick(HEX, 32)}`;
const mailgun = `key-${pick(HEX, 32)}`;
const mailchimp = `${pick(HEX, 32)}-us${pick(DIGITS, 2)}`;
const telegram = `${pick(DIGITS, 10)}:AA${pick(B64URL, 33)}`;
const square = `EAAA${pick(B64URL, 60)}`;
plant("sendgrid", "SendGrid API key SG.x.y", `mailer init ${sendgrid}`, sendgrid);
plant("stripe-secret", "Stripe secret key sk_live_", `charge failed for ${stripeSk}`, stripeSk);
plant("stripe-restricted", "Stripe restricted key rk_live_", `restricted ${stripeRk}`, stripeRk);
plant("stripe-publishable", "Stripe publishable key pk_live_", `checkout with ${stripePk}`, stripePk);
plant("stripe-webhook-secret", "Stripe webhook secret whsec_", `verifying with ${whsec}`, whsec);
plant("twilio-api-key", "Twilio API key SK…", `twilio ${twilioSk}`, twilioSk);
plant("twilio-account-sid", "Twilio account SID AC…", `account ${twilioAc}`, twilioAc);
plant("mailgun", "Mailgun API key key-…", `mailgun api ${mailgun}`, mailgun);
plant("mailchimp", "Mailchimp API key …-usNN", `audience sync ${mailchimp}`, mailchimp);
plant("telegram-bot", "Telegram bot token", `bot ${telegram} polling`, telegram);
plant("square", "Square access token EAAA…", `square ${square}`, square);

// ------------------------------------------------------------------- Package registries
const npmToken = `npm_${pick(ALNUM, 36)}`;
const pypiToken = `pypi-AgEIcHlwaS5vcmc${pick(B64URL, 70)}`;
const rubygems = `rubygems_${pick(HEX, 48)}`;
const dockerPat = `dckr_pat_${pick(B64URL, 27)}`;
plant("npm", "npm token npm_", `//registry.npmjs.org/:_authToken ${npmToken}`, npmToken);
plant("pypi", "PyPI token pypi-AgE…", `twine upload using ${pypiToken}`, pypiToken);
plant("rubygems", "RubyGems API key rubygems_", `gem push ${rubygems}`, rubygems);
plant("docker-hub", "Docker Hub token dckr_pat_", `docker login -u ci -p ${dockerPat}`, dockerPat);

// ------------------------------------------------------------------------ Cloud platforms
const azureKey = `${mixed(B64, 86)}==`;
const sasSig = encodeURIComponent(`${mixed(B64, 43)}=`);
const azureAd = `${pick(ALNUM, 3)}8Q~${pick(`${ALNUM}_~.-`, 34)}`;
const herokuV2 = `HRKU-AA${pick(B64URL, 58)}`;
const herokuUuid = `${pick(HEX, 8)}-${pick(HEX, 4)}-4${pick(HEX, 3)}-a${pick(HEX, 3)}-${pick(HEX, 12)}`;
const dop = `dop_v1_${pick(HEX, 64)}`;
const shpat = `shpat_${pick(HEX, 32)}`;
const dapi = `dapi${pick(HEX, 32)}`;
const hvs = `hvs.${pick(B64URL, 90)}`;
const doppler = `dp.pt.${pick(ALNUM, 43)}`;
const glsa = `glsa_${pick(ALNUM, 32)}_${pick(HEX, 8)}`;
const nrak = `NRAK-${pick(UPPER + DIGITS, 27)}`;
const sentry = `sntryu_${pick(HEX, 64)}`;
const linear = `lin_api_${pick(ALNUM, 40)}`;
const postman = `PMAK-${pick(HEX, 24)}-${pick(HEX, 34)}`;
const supabase = `sbp_${pick(HEX, 40)}`;
const pulumi = `pul-${pick(HEX, 40)}`;
const alibaba = `LTAI${pick(ALNUM, 20)}`;
const age = `AGE-SECRET-KEY-1${pick("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)}`;
plant(
  "azure-storage-account-key",
  "Azure storage connection string AccountKey=",
  `DefaultEndpointsProtocol=https;AccountName=vyaparaistore;AccountKey=${azureKey};EndpointSuffix=core.windows.net`,
  azureKey,
  azureKey.slice(0, 30),
);
plant(
  "azure-sas",
  "Azure SAS URL sig=",
  `restore from https://vyaparaistore.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=co&sp=r&se=2026-12-01T00:00:00Z&spr=https&sig=${sasSig}`,
  sasSig,
);
plant(
  "azure-ad-client-secret",
  "Azure AD client secret …Q~…",
  `client secret ${azureAd} expires soon`,
  azureAd,
);
plant("heroku-v2", "Heroku API key HRKU-", `heroku releases ${herokuV2}`, herokuV2);
plant("heroku-uuid", "Heroku API key (UUID after a heroku name)", `heroku_api=${herokuUuid}`, herokuUuid);
plant("digitalocean", "DigitalOcean token dop_v1_", `doctl auth ${dop}`, dop);
plant("shopify", "Shopify token shpat_", `shop admin ${shpat}`, shpat);
plant("databricks", "Databricks token dapi…", `workspace ${dapi}`, dapi);
plant("vault", "HashiCorp Vault token hvs.", `vault login ${hvs}`, hvs);
plant("doppler", "Doppler token dp.pt.", `doppler ${doppler}`, doppler);
plant("grafana", "Grafana service account token glsa_", `grafana ${glsa}`, glsa);
plant("new-relic", "New Relic user key NRAK-", `newrelic ${nrak}`, nrak);
plant("sentry", "Sentry user token sntryu_", `sentry-cli ${sentry}`, sentry);
plant("linear", "Linear API key lin_api_", `linear ${linear}`, linear);
plant("postman", "Postman API key PMAK-", `newman ${postman}`, postman);
plant("supabase", "Supabase token sbp_", `supabase link ${supabase}`, supabase);
plant("pulumi", "Pulumi token pul-", `pulumi login ${pulumi}`, pulumi);
plant("alibaba", "Alibaba Cloud AccessKey id LTAI…", `aliyun ${alibaba}`, alibaba);
plant("age", "age secret key", `sops ${age}`, age);

// ------------------------------------------------------------------------- AI providers
const openaiProj = `sk-proj-${mixed(B64URL, 156)}`;
const openaiLegacy = `sk-${pick(ALNUM, 20)}T3BlbkFJ${pick(ALNUM, 20)}`;
const anthropic = `sk-ant-api03-${mixed(B64URL, 93)}AA`;
const hf = `hf_${pick(UPPER + LOWER, 34)}`;
plant(
  "openai-project",
  "OpenAI project key sk-proj-",
  `openai.AuthenticationError: Incorrect API key provided: ${openaiProj}`,
  openaiProj,
);
plant("openai-legacy", "OpenAI key sk-…T3BlbkFJ…", `using ${openaiLegacy}`, openaiLegacy);
plant("anthropic", "Anthropic API key sk-ant-api03-", `anthropic client ${anthropic}`, anthropic);
plant("huggingface", "Hugging Face token hf_", `hub download ${hf}`, hf);

// ------------------------------------------------------------------- JWTs and headers
const jwt = `${b64url('{"alg":"RS256","typ":"JWT","kid":"k1"}')}.${b64url(`{"sub":"user-${pick(DIGITS, 6)}","exp":1795000000}`)}.${pick(B64URL, 342)}`;
const bearer = pick(B64URL, 48);
const basicPassword = password();
const basic = Buffer.from(`deployer:${basicPassword}`).toString("base64");
const tokenScheme = pick(HEX, 40);
const ssws = `00${pick(B64URL, 40)}`;
const customScheme = mixed(ALNUM, 32);
plant("jwt", "JSON Web Token", `id_token ${jwt} accepted`, jwt, jwt.split(".")[2] as string);
plant("authorization-bearer", "Authorization: Bearer", `Authorization: Bearer ${bearer}`, bearer);
plant("authorization-basic", "Authorization: Basic", `authorization: Basic ${basic}`, basic);
plant(
  "authorization-token",
  "Authorization: token (GitHub style)",
  `Authorization: token ${tokenScheme}`,
  tokenScheme,
);
plant("authorization-ssws", "Authorization: SSWS (Okta)", `Authorization: SSWS ${ssws}`, ssws);
plant(
  "authorization-unknown-scheme",
  "Authorization: <unknown scheme> <token>",
  `Authorization: Vyapaar-Key ${customScheme}`,
  customScheme,
);
plant(
  "curl-header",
  "curl -H 'Authorization: …'",
  `+ curl -sS -H 'Authorization: Bearer ${bearer}' https://api.vyapaarai.com/health`,
  bearer,
);
const cookie = mixed(B64URL, 40);
plant(
  "cookie",
  "Cookie / Set-Cookie header",
  `Set-Cookie: sessionid=${cookie}; Path=/; HttpOnly; Secure`,
  cookie,
);

// ------------------------------------------------------ URLs and connection strings
const urlPw = password();
const pgPw = password();
const mongoPw = password();
const redisPw = password();
const amqpPw = password();
const adoPw = `${mixed(ALNUM, 8)} ${pick(ALNUM, 8)}`;
const jdbcPw = password();
plant(
  "url-credentials",
  "https URL with user:password@",
  `cloning https://deploy:${urlPw}@git.example.com/vyaparai/app.git`,
  urlPw,
);
plant(
  "postgres-url",
  "postgres://user:pass@",
  `DATABASE_URL postgres://app:${pgPw}@db.internal:5432/vyaparai`,
  pgPw,
);
plant(
  "mongodb-srv",
  "mongodb+srv://user:pass@",
  `connecting to mongodb+srv://admin:${mongoPw}@cluster0.ab1cd.mongodb.net/prod?retryWrites=true`,
  mongoPw,
);
plant("redis-url", "redis://:pass@", `cache at redis://:${redisPw}@cache.internal:6379/0`, redisPw);
plant("amqp-url", "amqp://user:pass@", `broker amqp://worker:${amqpPw}@mq.internal:5672/`, amqpPw);
plant(
  "ado-connection-string",
  "ADO.NET connection string Password=…;",
  `Server=tcp:sql.example.net,1433;Initial Catalog=app;User ID=app;Password=${adoPw};Encrypt=True;`,
  adoPw,
  adoPw.split(" ")[1] as string,
);
plant(
  "jdbc-query",
  "JDBC URL ?password=",
  `jdbc:mysql://db.internal:3306/app?user=app&password=${jdbcPw}&useSSL=true`,
  jdbcPw,
);

// ------------------------------------------------------------------ Private key blocks
function pemBody(lines: number, lastLength: number): string[] {
  const body = Array.from({ length: lines }, (_, i) => (i === 0 ? `MII${mixed(B64, 61)}` : mixed(B64, 64)));
  body.push(`${mixed(B64, lastLength)}==`);
  return body;
}
const rsaBody = pemBody(6, 18);
const ecBody = pemBody(2, 10);
const pkcs8Body = pemBody(4, 30);
const sshBody = pemBody(5, 22);
const cutBody = pemBody(3, 12);
const pem = (label: string, body: string[], end = true) =>
  [`-----BEGIN ${label}-----`, ...body, ...(end ? [`-----END ${label}-----`] : [])].join("\n");
plant("pem-rsa", "PEM RSA private key block", pem("RSA PRIVATE KEY", rsaBody), ...rsaBody);
plant("pem-ec", "PEM EC private key block", `key file:\n${pem("EC PRIVATE KEY", ecBody)}\nloaded`, ...ecBody);
plant("pem-pkcs8", "PEM PKCS#8 private key block", pem("PRIVATE KEY", pkcs8Body), ...pkcs8Body);
plant("pem-openssh", "OpenSSH private key block", pem("OPENSSH PRIVATE KEY", sshBody), ...sshBody);
plant(
  "pem-without-end",
  "PEM block without its END line",
  pem("RSA PRIVATE KEY", cutBody, false),
  ...cutBody,
);

// -------------------------------------------------------------- Generic assignments
const g = () => password();
const generic: Array<[string, string, (v: string) => string]> = [
  ["json-password", 'JSON "password": "…"', (v) => `{"user":"deploy","password":"${v}"}`],
  [
    "json-escaped-password",
    'JSON-escaped \\"password\\":\\"…\\"',
    (v) => `payload="{\\"db_password\\":\\"${v}\\",\\"port\\":5432}"`,
  ],
  ["json-secret-spaced", 'JSON "client_secret" : "…"', (v) => `{ "client_secret" : "${v}" }`],
  ["python-dict", "Python dict {'password': '…'}", (v) => `settings={'host': 'db', 'password': '${v}'}`],
  [
    "yaml-password",
    "YAML password: …",
    (v) => `database:\n  host: db.internal\n  password: ${v}\n  port: 5432`,
  ],
  ["yaml-quoted", 'YAML token: "…"', (v) => `slack:\n  token: "${v}"`],
  ["env-secret-key", "env SECRET_KEY=…", (v) => `SECRET_KEY=${v}`],
  ["env-export-token", "env export TOKEN=…", (v) => `export TOKEN=${v}`],
  ["env-quoted", 'env API_KEY="…"', (v) => `API_KEY="${v}"`],
  ["query-token", "query string ?token=…&", (v) => `GET /callback?code=42&token=${v}&state=xyz HTTP/1.1`],
  ["api-key-colon", "api_key: …", (v) => `api_key: ${v}`],
  ["apikey-equals", "apikey=…", (v) => `request apikey=${v} rejected`],
  ["access-key", 'access_key = "…"', (v) => `access_key = "${v}"`],
  ["auth-equals", "auth=…", (v) => `proxy auth=${v} user=ci`],
  ["passwd", "passwd=…", (v) => `mysql passwd=${v} host=db`],
  ["pwd", "pwd=…", (v) => `login pwd=${v}`],
  [
    "xml-password",
    "XML <password>…</password>",
    (v) => `<datasource><user>app</user><password>${v}</password></datasource>`,
  ],
  ["cli-flag", "CLI flag --password …", (v) => `+ mysqldump --user app --password ${v} --host db vyaparai`],
  ["terraform-env", 'terraform "DB_PASSWORD" = "…"', (v) => `      + "DB_PASSWORD" = "${v}"`],
  ["weak-key-random", "key: <random> (a key name with a generated value)", () => ""],
];
for (const [id, shape, render] of generic) {
  if (id === "weak-key-random") {
    const value = mixed(ALNUM, 32);
    plant(`generic-${id}`, shape, `signing key: ${value}`, value);
    continue;
  }
  const value = g();
  plant(`generic-${id}`, shape, render(value), value);
}

export const PLANTED: readonly PlantedSecret[] = planted;

// ------------------------------------------------------------ Controls (never redacted)
const sha256b64 = (s: string) => createHash("sha256").update(s).digest("base64");
const sha256hex = (s: string) => createHash("sha256").update(s).digest("hex");
const sha1hex = (s: string) => createHash("sha1").update(s).digest("hex");
const uuidOf = (s: string) => {
  const h = sha256hex(s);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};
/** CodeSha256 values with + and / in them (they appear in every Lambda answer). */
const codeShas = Array.from({ length: 200 }, (_, i) => sha256b64(`vyaparai-api-build-${i}`))
  .filter((s) => s.includes("/") && s.includes("+"))
  .slice(0, 3);

export const CONTROLS = {
  codeSha256: [...codeShas, "q6t5xHbe2yXjOI8lJBbsyxDBVk0HRu6mT5lB/sxGUrk="],
  gitSha: [sha1hex("HEAD"), sha1hex("origin/main")],
  releaseId: ["20261125T130512345Z-3fa9c1", "20261125T130512Z-0b7e2d"],
  artifactKey: [
    `backend/${sha256hex("zip-1")}.zip`,
    `frontend-objects/${sha256hex("asset-1")}`,
    "releases/prod/lambda/20261125T130512345Z-3fa9c1.json",
  ],
  uuid: [uuidOf("request-1"), uuidOf("revision-1")],
  other: [
    "arn:aws:lambda:ap-south-1:123456789012:function:vyaparai-api-prod:42",
    "arn:aws:secretsmanager:ap-south-1:123456789012:secret:vyaparai/prod/db-AbCdEf",
    "assets/index-4f3c2a1b.js",
    "E1UY93SVXV8QOF",
    `planDigest ${sha256hex("plan")}`,
  ],
  prose: [
    "Deployed version 42 of vyaparai-api-prod to alias live: 3 assets uploaded, 1 invalidation created, health checks passed (p95 212 ms).",
    "Key rotation is scheduled; the secret store and the token service were not touched by this release.",
    "Tests: 118 passed, 2 skipped in 14.2s",
  ],
};

export const CONTROL_VALUES: readonly string[] = Object.values(CONTROLS).flat();

// ---------------------------------------------------------------- Sources (outside text)
const [requestId = "", revisionId = ""] = CONTROLS.uuid;
const [codeSha = "", codeSha2 = "", codeSha3 = "", codeSha4 = ""] = CONTROLS.codeSha256;
const [gitSha = "", gitSha2 = ""] = CONTROLS.gitSha;
const [releaseId = "", releaseId2 = ""] = CONTROLS.releaseId;
const [zipKey = "", objectKey = "", recordKey = ""] = CONTROLS.artifactKey;
const [lambdaArn = "", secretArn = "", asset = "", distribution = "", planDigest = ""] = CONTROLS.other;
const [prose1 = "", prose2 = "", prose3 = ""] = CONTROLS.prose;

export interface Source {
  kind: string;
  /** The outside text with `planted` somewhere in it ("" gives the controls alone). */
  render(planted: string): string;
}

export const SOURCES: readonly Source[] = [
  {
    kind: "log line",
    render: (p) =>
      [
        `START RequestId: ${requestId} Version: 42`,
        `2026-11-25T13:05:12.345Z\t${requestId}\tINFO\tcode ${codeSha} release ${releaseId} git ${gitSha}`,
        `2026-11-25T13:05:12.346Z\t${requestId}\tERROR\tupstream call failed: ${p}`,
        `2026-11-25T13:05:12.347Z\t${requestId}\tINFO\t${prose1}`,
        `END RequestId: ${requestId}`,
        `REPORT RequestId: ${requestId}\tDuration: 12.31 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\tMax Memory Used: 88 MB`,
      ].join("\n"),
  },
  {
    kind: "JSON log line",
    render: (p) =>
      JSON.stringify({
        level: "ERROR",
        location: "app.handlers.payments:charge:88",
        message: `upstream call failed: ${p}`,
        timestamp: "2026-11-25 13:05:12,346+0000",
        service: "vyaparai-api",
        cold_start: false,
        function_request_id: requestId,
        xray_trace_id: "1-6744e0a8-3f1c2b9d4e5f60718293a4b5",
        code_sha256: codeSha2,
        release: releaseId2,
        note: prose2,
      }),
  },
  {
    kind: "test output",
    render: (p) =>
      [
        "============================= test session starts ==============================",
        "platform linux -- Python 3.11.6, pytest-7.4.3, pluggy-1.3.0",
        `rootdir: /work/app/backend, commit ${gitSha2}`,
        "collected 120 items",
        "",
        "tests/test_payments.py ..F.......                                        [100%]",
        "",
        "=================================== FAILURES ===================================",
        "___________________________ test_charge_uses_config ____________________________",
        '>       assert client.charge(100) == "ok"',
        "E       AssertionError: assert 'error' == 'ok'",
        "----------------------------- Captured stdout call -----------------------------",
        p,
        "----------------------------- Captured log call --------------------------------",
        `INFO     app.deploy:deploy.py:12 artifact ${zipKey} revision ${revisionId}`,
        prose3,
      ].join("\n"),
  },
  {
    kind: "build output",
    render: (p) =>
      [
        "> vyaparai-pwa@1.4.0 build",
        "> tsc && vite build",
        "",
        "vite v5.4.2 building for production...",
        "transforming...",
        "✓ 312 modules transformed.",
        "(!) build config echoed by a plugin:",
        p,
        "rendering chunks...",
        `dist/${asset}   142.31 kB │ gzip: 45.12 kB`,
        `uploading dist/index.html as ${objectKey}`,
        `✓ built in 6.21s (commit ${gitSha})`,
      ].join("\n"),
  },
  {
    kind: "HTTP body (JSON)",
    render: (p) =>
      JSON.stringify({
        error: "InternalServerError",
        detail: p,
        requestId,
        build: { codeSha256: codeSha3, gitSha, releaseId },
      }),
  },
  {
    kind: "HTTP body (HTML)",
    render: (p) =>
      `<!doctype html><html><head><title>500</title></head><body><h1>Internal Server Error</h1><pre>\n${p}\n</pre><p>request ${requestId} on ${distribution}</p></body></html>`,
  },
  {
    kind: "terraform output",
    render: (p) =>
      [
        "aws_lambda_function.api: Modifying... [id=vyaparai-api-prod]",
        `aws_secretsmanager_secret_version.db: Refreshing state... [id=${secretArn}]`,
        "╷",
        `│ Error: updating Lambda Function (vyaparai-api-prod) configuration: operation error Lambda: UpdateFunctionConfiguration, https response error StatusCode: 400, RequestID: ${requestId}, InvalidParameterValueException:`,
        ...p.split("\n").map((line) => `│ ${line}`),
        "│ ",
        "│   with aws_lambda_function.api,",
        '│   on lambda.tf line 12, in resource "aws_lambda_function" "api":',
        '│   12: resource "aws_lambda_function" "api" {',
        "╵",
        `  ~ source_code_hash = "${codeSha4}"`,
        `  lambda_arn = "${lambdaArn}"`,
        `  ${planDigest}`,
      ].join("\n"),
  },
  {
    kind: "S3 document read back",
    render: (p) =>
      JSON.stringify(
        {
          releaseId,
          env: "prod",
          component: "lambda",
          tool: "deploy_lambda",
          status: "failed",
          who: "arn:aws:sts::123456789012:assumed-role/deployer/ci",
          gitSha,
          artifacts: { artifactKey: zipKey, codeSha256: codeSha, record: recordKey },
          before: { version: "41", codeSha256: codeSha2 },
          error: `health gate failed: ${p}`,
          warnings: [p, prose1],
        },
        null,
        2,
      ),
  },
];

/** Every window of `size` characters of `secret` (all of it when shorter): a partial leak fails too. */
export function windowsOf(secret: string, size = 12): string[] {
  if (secret.length <= size) return [secret];
  const out: string[] = [];
  for (let i = 0; i + size <= secret.length; i++) out.push(secret.slice(i, i + size));
  return out;
}
