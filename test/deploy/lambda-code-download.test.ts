import { describe, expect, it } from "vitest";
import { downloadCodeOverHttps } from "../../src/deploy/lambda/artifact.js";

/** The default downloader of the code live before a $LATEST deploy: bounded, https only. */

const URL_OK =
  "https://awslambda-ap-south-1-tasks.s3.ap-south-1.amazonaws.com/snapshots/123/fn?X-Amz-Signature=abc";
const signal = new AbortController().signal;

function answering(response: () => Response): typeof fetch {
  return (async () => response()) as unknown as typeof fetch;
}

describe("downloadCodeOverHttps", () => {
  it("returns the body of a 200", async () => {
    const bytes = await downloadCodeOverHttps(URL_OK, signal, {
      fetchImpl: answering(() => new Response(Buffer.from("PK\u0003\u0004zip"))),
    });
    expect(Buffer.from(bytes).toString()).toBe("PK\u0003\u0004zip");
  });

  it("refuses a location that is not https, without a request", async () => {
    let called = false;
    const fetchImpl = (async () => {
      called = true;
      return new Response("x");
    }) as unknown as typeof fetch;
    await expect(downloadCodeOverHttps("http://example.com/code.zip", signal, { fetchImpl })).rejects.toThrow(
      /not an https URL/,
    );
    expect(called).toBe(false);
  });

  it("fails on an HTTP error", async () => {
    await expect(
      downloadCodeOverHttps(URL_OK, signal, {
        fetchImpl: answering(() => new Response("<Error/>", { status: 403 })),
      }),
    ).rejects.toThrow("HTTP 403");
  });

  it("stops at the size bound, declared or streamed", async () => {
    await expect(
      downloadCodeOverHttps(URL_OK, signal, {
        maxBytes: 10,
        fetchImpl: answering(() => new Response("x".repeat(11), { headers: { "content-length": "11" } })),
      }),
    ).rejects.toThrow(/above the 10 B bound/);
    const stream = () =>
      new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(new Uint8Array(8));
        },
      });
    await expect(
      downloadCodeOverHttps(URL_OK, signal, {
        maxBytes: 100,
        fetchImpl: answering(() => new Response(stream())),
      }),
    ).rejects.toThrow(/larger than the 100 B bound/);
  });

  it("gives up after its timeout", async () => {
    const hanging = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) => {
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
      })) as unknown as typeof fetch;
    await expect(
      downloadCodeOverHttps(URL_OK, signal, { timeoutMs: 50, fetchImpl: hanging }),
    ).rejects.toThrow();
  });
});
