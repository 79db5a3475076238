import {
  CloudWatchLogsClient,
  DescribeLogGroupsCommand,
  FilterLogEventsCommand,
  StartLiveTailCommand,
  type StartLiveTailResponseStream,
} from "@aws-sdk/client-cloudwatch-logs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeAll, describe, expect, it } from "vitest";
import { followLogs, type RawLogEvent } from "../../src/observe/logs.js";
import { invokeTool } from "../../src/server/invoke.js";
import { tailLogsTool } from "../../src/tools/tail-logs.js";
import { powertoolsLine, seedLogEvents } from "../support/log-seeder.js";
import { useMoto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";

const moto = useMoto();
const FUNCTION = `vyaparai-api-follow-${process.pid}`;
const GROUP = `/aws/lambda/${FUNCTION}`;
const REQ = "5e6f7a8b-0001-4000-8000-00000000abcd";

describe("tail_logs followSeconds against moto (no StartLiveTail: polling)", () => {
  beforeAll(async () => {
    await seedLogEvents(await moto.current.clients().logs(), GROUP, "s1", [
      {
        timestamp: Date.now() - 60_000,
        message: powertoolsLine({ level: "INFO", message: "before", requestId: REQ }),
      },
    ]);
  });

  it("falls back to polling and streams events written during the window as progress", async () => {
    const runtime = testRuntime({
      moto: moto.current,
      config: { environments: { prod: { lambda: { functionName: FUNCTION } } } },
    });
    const progress: string[] = [];
    let writing: Promise<void> | undefined;
    const result = await invokeTool(tailLogsTool, { since: "5m", followSeconds: 2 }, runtime, {
      progress: (message) => {
        progress.push(message);
        // Written once the follow has begun: only the follow can see it.
        if (message.startsWith("Following") && !writing) {
          writing = (async () =>
            seedLogEvents(await moto.current.clients().logs(), GROUP, "s2", [
              {
                timestamp: Date.now(),
                message: powertoolsLine({
                  level: "ERROR",
                  message: "new failure with password=hunter2hunter2",
                  requestId: REQ,
                }),
              },
            ]))();
        }
      },
    });
    await writing;
    expect(result.isError, result.text).toBe(false);
    const out = result.structured as {
      events: Array<{ level: string; message: string }>;
      stats: { byLevel: Record<string, number> };
      follow: { mode: string; received: number; note?: string };
    };
    expect(out.follow.mode).toBe("polling");
    expect(out.follow.note).toMatch(/StartLiveTail endpoint is unreachable/);
    expect(out.follow.received).toBe(1);
    expect(out.events.map((e) => e.message)).toEqual(["before", "new failure with password=[REDACTED]"]);
    expect(out.stats.byLevel).toEqual({ INFO: 1, ERROR: 1 });
    const streamed = progress.filter((m) => m.startsWith("log "));
    expect(streamed).toEqual([expect.stringMatching(/ ERROR: new failure with password=\[REDACTED\]$/)]);
    expect(progress.join("\n")).not.toContain("hunter2");
    runtime.close();
  });

  it("refuses followSeconds with until", async () => {
    const runtime = testRuntime({ moto: moto.current });
    const result = await invokeTool(tailLogsTool, { since: "5m", until: "1m", followSeconds: 5 }, runtime);
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/omit until to follow/);
  });
});

describe("followLogs with StartLiveTail (mocked: moto 5.2.1 has none)", () => {
  const ARN = "arn:aws:logs:ap-south-1:123456789012:log-group:/aws/lambda/vyaparai-api-prod";

  it("streams session updates until the window ends, with the group's ARN and the filter pattern", async () => {
    const client = new CloudWatchLogsClient({ region: "ap-south-1" });
    const mock = mockClient(client);
    const now = Date.now();
    async function* stream(): AsyncGenerator<StartLiveTailResponseStream> {
      yield { sessionStart: { sessionId: "s-1" } };
      yield {
        sessionUpdate: {
          sessionResults: [
            { timestamp: now, message: "first" },
            { timestamp: now + 1, message: "second" },
          ],
        },
      };
      yield { sessionUpdate: { sessionResults: [] } };
      // A live session stays open: only the end of the window stops it.
      await new Promise(() => {});
    }
    mock.on(DescribeLogGroupsCommand).resolves({
      logGroups: [{ logGroupName: "/aws/lambda/vyaparai-api-prod", arn: `${ARN}:*` }],
    });
    mock.on(StartLiveTailCommand).resolves({ responseStream: stream() });
    const received: RawLogEvent[] = [];
    try {
      const outcome = await followLogs({
        logs: client,
        logGroup: "/aws/lambda/vyaparai-api-prod",
        fromMs: now,
        durationMs: 300,
        filterPattern: "ERROR",
        onEvent: (event) => received.push(event),
      });
      expect(outcome).toEqual({ mode: "live_tail", received: 2 });
      expect(received.map((e) => e.message)).toEqual(["first", "second"]);
      expect(mock.commandCalls(StartLiveTailCommand)[0]?.args[0].input).toEqual({
        logGroupIdentifiers: [ARN],
        logEventFilterPattern: "ERROR",
      });
      expect(mock.commandCalls(FilterLogEventsCommand)).toHaveLength(0);
    } finally {
      mock.restore();
      client.destroy();
    }
  });

  it("an endpoint without StartLiveTail falls back to polling", async () => {
    const client = new CloudWatchLogsClient({ region: "ap-south-1" });
    const mock = mockClient(client);
    const unknown = Object.assign(new Error("Operation StartLiveTail is not supported"), {
      name: "UnknownOperationException",
      $metadata: { httpStatusCode: 400 },
    });
    mock.on(DescribeLogGroupsCommand).resolves({
      logGroups: [
        { logGroupName: "/aws/lambda/x", arn: "arn:aws:logs:ap-south-1:1:log-group:/aws/lambda/x:*" },
      ],
    });
    mock.on(StartLiveTailCommand).rejects(unknown);
    mock
      .on(FilterLogEventsCommand)
      .resolves({ events: [{ eventId: "e1", timestamp: 1, message: "polled" }] });
    const received: RawLogEvent[] = [];
    try {
      const outcome = await followLogs({
        logs: client,
        logGroup: "/aws/lambda/x",
        fromMs: 0,
        durationMs: 50,
        pollIntervalMs: 10,
        onEvent: (event) => received.push(event),
      });
      expect(outcome.mode).toBe("polling");
      expect(outcome.liveTailUnavailable).toMatch(/UnknownOperationException/);
      // Polled several times; the repeated event is delivered once.
      expect(mock.commandCalls(FilterLogEventsCommand).length).toBeGreaterThan(1);
      expect(received.map((e) => e.message)).toEqual(["polled"]);
    } finally {
      mock.restore();
      client.destroy();
    }
  });
});
