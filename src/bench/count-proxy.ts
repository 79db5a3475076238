import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import type { Cleanup } from "./cleanup.js";

/**
 * A pass-through HTTP proxy in front of moto that records every request line. State read
 * back afterwards cannot see a write that was undone (a lock PUT then DELETE) or an
 * overwrite with identical bytes; the request log can.
 */
export interface CountingProxy {
  endpoint: string;
  /** `METHOD /path` of every request since the last `reset()`. */
  requests: string[];
  reset(): void;
  stop(): Promise<void>;
}

export async function startCountingProxy(target: string, cleanup: Cleanup): Promise<CountingProxy> {
  const upstream = new URL(target);
  const requests: string[] = [];
  const server = createServer((incoming, outgoing) => {
    requests.push(`${incoming.method} ${incoming.url}`);
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forward.on("error", (error) => {
      outgoing.writeHead(502);
      outgoing.end(String(error));
    });
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const stop = cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    reset: () => {
      requests.length = 0;
    },
    stop,
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
