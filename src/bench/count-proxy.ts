import type { Cleanup } from "./cleanup.js";
import { startNetworkProxy } from "./network-proxy.js";

/**
 * A pass-through proxy in front of moto that records every request line (the network proxy
 * of network-proxy.ts at loopback shape). State read back afterwards cannot see a write that
 * was undone (a lock PUT then DELETE) or an overwrite with identical bytes; the request log can.
 */
export interface CountingProxy {
  endpoint: string;
  /** `METHOD /path` of every request since the last `reset()`. */
  readonly requests: string[];
  reset(): void;
  stop(): Promise<void>;
}

export async function startCountingProxy(target: string, cleanup: Cleanup): Promise<CountingProxy> {
  const proxy = await startNetworkProxy(target, cleanup);
  let from = 0;
  return {
    endpoint: proxy.endpoint,
    get requests() {
      return proxy.log.slice(from).map((record) => record.line);
    },
    reset: () => {
      from = proxy.log.length;
    },
    stop: proxy.stop,
  };
}

/** Lambda's REST API lives under dated paths; path-style S3 under /<bucket>/. */
const LAMBDA_PATH = /^\/20\d\d-\d\d-\d\d\//;

/** PUT and POST (multipart) requests to S3: the writes a no-op deploy must not make. */
export function countS3Writes(requests: string[]): number {
  return requests.filter((line) => {
    const [method, path = ""] = line.split(" ");
    return (method === "PUT" || method === "POST") && path !== "/" && !LAMBDA_PATH.test(path);
  }).length;
}

export function countUpdateFunctionCode(requests: string[]): number {
  return requests.filter((line) => /^PUT \/2015-03-31\/functions\/[^/]+\/code/.test(line)).length;
}

export function countPublishVersion(requests: string[]): number {
  return requests.filter((line) => /^POST \/2015-03-31\/functions\/[^/]+\/versions/.test(line)).length;
}
