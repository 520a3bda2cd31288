/**
 * The one redaction of secrets from text kubestep writes (failure messages in task and run metadata, archived
 * logs, CLI errors and progress, `kubestep dump`): pre-signed URL signatures (S3 `X-Amz-Signature`,
 * `X-Amz-Credential`, `X-Amz-Security-Token`; GCS `X-Goog-Signature`, `X-Goog-Credential`; Azure SAS `sig=`),
 * Azure account keys and SAS in connection strings, `Authorization` / bearer tokens, and the values of the
 * process's credential variables (AWS secret keys, session tokens, Azure keys, passwords, tokens), wherever
 * they appear. A redacted value reads `<redacted>`; the rest of the text (URL host and path, key names) stays,
 * so messages remain useful.
 */

/** What replaces a secret. */
export const REDACTED = "<redacted>";

/** Query parameters of pre-signed URLs whose values are secrets (matched case-insensitively). */
const SECRET_QUERY_PARAMS = [
  "X-Amz-Signature",
  "X-Amz-Credential",
  "X-Amz-Security-Token",
  "X-Goog-Signature",
  "X-Goog-Credential",
  "Signature",
  "sig",
  "AWSAccessKeyId",
];

const QUERY_RE = new RegExp(`([?&](?:${SECRET_QUERY_PARAMS.join("|")})=)[^&\\s"'<>]+`, "gi");
/** `AccountKey=...;` and `SharedAccessSignature=...;` in Azure connection strings. */
const CONNECTION_STRING_RE = /((?:AccountKey|SharedAccessSignature)\s*=\s*)[^;\s"']+/gi;
/** HTTP authorization headers and bearer tokens. */
const AUTH_RE = /((?:authorization|x-amz-security-token)["']?\s*[:=]\s*["']?)[^"'\r\n]+/gi;
const BEARER_RE = /(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*/g;
/** `aws_secret_access_key = ...` as in shared credentials files. */
const CREDENTIALS_FILE_RE = /((?:aws_secret_access_key|aws_session_token)\s*[=:]\s*)\S+/gi;

/** Names of environment variables whose values are secrets. */
const SECRET_VAR_RE =
  /(SECRET|TOKEN|PASSWORD|PASSWD|CONNECTION_STRING|ACCOUNT_KEY|STORAGE_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL|API_KEY|SAS)/i;
/** Variables matching {@link SECRET_VAR_RE} that hold no secret (paths and names). */
const NOT_SECRET_VARS = new Set(["AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS", "AWS_SHARED_CREDENTIALS_FILE"]);

/** Values of the secret variables of `env`, longest first (values under 8 characters are too common to replace). */
export function secretValues(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(env)) {
    if (!v || v.length < 8 || NOT_SECRET_VARS.has(k) || !SECRET_VAR_RE.test(k)) continue;
    out.add(v);
    // The key of a connection string, also on its own.
    const key = /AccountKey=([^;]+)/i.exec(v)?.[1];
    if (key && key.length >= 8) out.add(key);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/**
 * Replaces every secret in `text` with `<redacted>`: pre-signed URL signatures and credentials, account keys
 * and SAS in connection strings, authorization headers and bearer tokens, and the values of secret variables
 * of `env` (default: the process environment).
 */
export function redact(text: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (!text) return text;
  let out = text;
  for (const v of secretValues(env)) if (out.includes(v)) out = out.split(v).join(REDACTED);
  return out
    .replace(QUERY_RE, `$1${REDACTED}`)
    .replace(CONNECTION_STRING_RE, `$1${REDACTED}`)
    .replace(CREDENTIALS_FILE_RE, `$1${REDACTED}`)
    .replace(AUTH_RE, `$1${REDACTED}`)
    .replace(BEARER_RE, `$1${REDACTED}`);
}
