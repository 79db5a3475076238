import { createServer, type Server } from "node:http";

/**
 * A stand-in for the API's /health endpoint on 127.0.0.1 (moto's Function URLs cannot be
 * invoked). `healthy` can be flipped to exercise the deploy health gate.
 */
export interface LocalHealthServer {
  readonly url: string;
  healthy: boolean;
  requests: number;
  close(): Promise<void>;
}

export async function startHealthServer(): Promise<LocalHealthServer> {
  const state = { healthy: true, requests: 0 };
  const server: Server = createServer((request, response) => {
    state.requests++;
    const ok = state.healthy && request.url?.startsWith("/health");
    response.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
    response.end(JSON.stringify({ status: ok ? "ok" : "down" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/health`,
    get healthy() {
      return state.healthy;
    },
    set healthy(value: boolean) {
      state.healthy = value;
    },
    get requests() {
      return state.requests;
    },
    set requests(value: number) {
      state.requests = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
