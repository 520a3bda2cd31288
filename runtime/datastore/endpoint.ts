/** Checking custom endpoints of cloud datastores (S3-compatible servers, GCS emulators). */
import { DatastoreConfigError } from "./roots.js";

/**
 * Checks a custom endpoint URL and returns it without trailing `/`.
 * An endpoint is an absolute `http://` or `https://` URL with a host, optionally a port and a path; no
 * credentials, query or fragment.
 * @param value the endpoint as given.
 * @param source where it came from, for the message (a variable name or option).
 * @param example an endpoint to show in the message.
 * @throws DatastoreConfigError naming the source, the bad value and the allowed form.
 */
export function checkEndpointUrl(value: string, source: string, example: string): string {
  const bad = (why: string): DatastoreConfigError =>
    new DatastoreConfigError(
      `${source}=${JSON.stringify(value)} is not a valid endpoint: ${why}; use an http:// or https:// URL such as ${example}`,
    );
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad("it is not an absolute URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw bad(`its scheme ${url.protocol.replace(/:$/, "")} is neither http nor https`);
  if (!url.hostname) throw bad("it has no host");
  if (url.username || url.password)
    throw bad("it contains credentials (give them to the SDK's credential chain instead)");
  if (url.search || url.hash) throw bad("it has a query or fragment");
  return text.replace(/\/+$/, "");
}
