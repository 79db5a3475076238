import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  ResourceAlreadyExistsException,
} from "@aws-sdk/client-cloudwatch-logs";

export interface SeedEvent {
  timestamp: number;
  message: string;
}

// PutLogEvents takes at most 10,000 events and 1 MiB (26 bytes of overhead per event) per call.
const MAX_BATCH_EVENTS = 10_000;
const MAX_BATCH_BYTES = 1_000_000;

/** Creates the group and stream when missing, then writes the events (sorted) in batches. */
export async function seedLogEvents(
  logs: CloudWatchLogsClient,
  logGroup: string,
  logStream: string,
  events: SeedEvent[],
): Promise<void> {
  for (const create of [
    () => logs.send(new CreateLogGroupCommand({ logGroupName: logGroup })),
    () => logs.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName: logStream })),
  ]) {
    try {
      await create();
    } catch (error) {
      if (!(error instanceof ResourceAlreadyExistsException)) throw error;
    }
  }
  const sorted = [...events].sort((a, b) => a.timestamp - b.timestamp);
  let batch: SeedEvent[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await logs.send(
      new PutLogEventsCommand({ logGroupName: logGroup, logStreamName: logStream, logEvents: batch }),
    );
    batch = [];
    bytes = 0;
  };
  for (const event of sorted) {
    const size = Buffer.byteLength(event.message, "utf8") + 26;
    if (batch.length >= MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES) await flush();
    batch.push(event);
    bytes += size;
  }
  await flush();
}

/** A Powertools (Python) structured log line. */
export function powertoolsLine(fields: {
  level: string;
  message: string;
  requestId: string;
  coldStart?: boolean;
  service?: string;
  extra?: Record<string, unknown>;
}): string {
  return JSON.stringify({
    level: fields.level,
    location: "handler:42",
    message: fields.message,
    timestamp: new Date().toISOString(),
    service: fields.service ?? "vyaparai-api",
    cold_start: fields.coldStart ?? false,
    function_name: "vyaparai-api-test",
    function_memory_size: "1024",
    function_request_id: fields.requestId,
    xray_trace_id: "1-67d1f00d-4a1b2c3d4e5f60718293a4b5",
    ...fields.extra,
  });
}

export function startLine(requestId: string): string {
  return `START RequestId: ${requestId} Version: $LATEST`;
}

export function endLine(requestId: string): string {
  return `END RequestId: ${requestId}`;
}

export function reportLine(
  requestId: string,
  facts: { durationMs: number; memorySizeMb?: number; maxMemoryUsedMb: number; initDurationMs?: number },
): string {
  const billed = Math.ceil(facts.durationMs);
  const init =
    facts.initDurationMs === undefined ? "" : `\tInit Duration: ${facts.initDurationMs.toFixed(2)} ms`;
  return `REPORT RequestId: ${requestId}\tDuration: ${facts.durationMs.toFixed(2)} ms\tBilled Duration: ${billed} ms\tMemory Size: ${facts.memorySizeMb ?? 1024} MB\tMax Memory Used: ${facts.maxMemoryUsedMb} MB${init}\t`;
}

export function timeoutLine(requestId: string, at: number, seconds = 30): string {
  return `${new Date(at).toISOString()} ${requestId} Task timed out after ${seconds.toFixed(2)} seconds`;
}
