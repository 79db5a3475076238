import process from "node:process";
import type { Readable, Writable } from "node:stream";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  ClientRequestSchema,
  ErrorCode,
  type JSONRPCMessage,
  JSONRPCMessageSchema,
  JSONRPCRequestSchema,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import type * as z from "zod";
import { quote } from "../core/quote.js";

/**
 * The tools' own argument check, for the calls the SDK would alter before its handler runs:
 * the error text the tool would answer, or null when the arguments are fine (or the tool is
 * not one of ours; the SDK answers that).
 */
export type ToolCallCheck = (name: string, args: unknown) => string | null;

/** Serves `server` on stdin/stdout; `onClose` runs when the client goes away. */
export async function serveStdio(
  server: McpServer,
  onClose: () => void,
  checkToolCall?: ToolCallCheck,
): Promise<void> {
  const transport = new GuardedStdioTransport(undefined, undefined, undefined, checkToolCall);
  transport.onclose = onClose;
  await server.connect(transport);
}

/** The SDK's stdio limit: a line longer than this is answered with an error, never buffered. */
export const MAX_LINE_BYTES = 10 * 1024 * 1024;
/** Bytes kept from each end of an over-long line to find its id. */
const EDGE_BYTES = 4096;

type Reply = { id: RequestId | null; code: number; message: string };
/** A tools/call answered with the tool's own isError result, as its handler would. */
type ToolError = { id: RequestId; text: string };
export type MessageVerdict =
  | { ok: JSONRPCMessage }
  | { reply: Reply }
  | { toolError: ToolError }
  | { drop: string };

/** Each client request method's own schema, e.g. tools/call → CallToolRequestSchema. */
const REQUEST_SCHEMAS = new Map<string, z.ZodType>(
  ClientRequestSchema.options.map((schema) => [schema.shape.method.value, schema as z.ZodType]),
);

/**
 * The stdio transport of the SDK, with one difference: every request that carries an id gets
 * an answer. The SDK's transport drops a line that fails its JSON-RPC schema (`"params":"str"`,
 * an object `progressToken`, a stray top-level key) with no reply, so the client waits
 * forever; a request whose params fail the method's own schema (`arguments` as an array) came
 * back as an internal error holding a zod dump; a line over 10 MB closed the connection. Here
 * a malformed request is answered with a JSON-RPC error that names the field (-32602 for
 * params, -32600 otherwise, -32700 for text that is not JSON), quoting at most ~100
 * characters of it. Notifications and responses that do not parse are reported to `onerror`
 * and dropped, as JSON-RPC says (they have no one to answer).
 */
export class GuardedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private chunks: Buffer[] = [];
  private size = 0;
  /** An over-long line being skipped: its first and last bytes, to find its id. */
  private skipping: { head: Buffer; tail: Buffer; bytes: number } | null = null;
  private started = false;

  constructor(
    private readonly stdin: Readable = process.stdin,
    private readonly stdout: Writable = process.stdout,
    private readonly maxLineBytes: number = MAX_LINE_BYTES,
    private readonly checkToolCall?: ToolCallCheck,
  ) {}

  private readonly onData = (chunk: Buffer | string) => {
    const data = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    let start = 0;
    for (;;) {
      const end = data.indexOf(10, start);
      if (end === -1) {
        this.append(data.subarray(start));
        return;
      }
      this.append(data.subarray(start, end));
      start = end + 1;
      this.endLine();
    }
  };

  private readonly onStreamError = (error: Error) => {
    this.onerror?.(error);
  };

  async start(): Promise<void> {
    if (this.started) throw new Error("GuardedStdioTransport already started");
    this.started = true;
    this.stdin.on("data", this.onData);
    this.stdin.on("error", this.onStreamError);
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.write(message);
  }

  async close(): Promise<void> {
    this.stdin.off("data", this.onData);
    this.stdin.off("error", this.onStreamError);
    if (this.stdin.listenerCount("data") === 0) this.stdin.pause();
    this.chunks = [];
    this.size = 0;
    this.skipping = null;
    this.onclose?.();
  }

  private write(message: unknown): Promise<void> {
    return new Promise((resolve) => {
      if (this.stdout.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.stdout.once("drain", resolve);
    });
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.skipping) {
      this.skipping.bytes += part.length;
      this.skipping.tail = lastBytes(Buffer.concat([this.skipping.tail, part]));
      return;
    }
    if (this.size + part.length <= this.maxLineBytes) {
      this.chunks.push(part);
      this.size += part.length;
      return;
    }
    const all = Buffer.concat([...this.chunks, part]);
    this.skipping = {
      head: Buffer.from(all.subarray(0, EDGE_BYTES)),
      tail: lastBytes(all),
      bytes: all.length,
    };
    this.chunks = [];
    this.size = 0;
  }

  private endLine(): void {
    const skipped = this.skipping;
    if (skipped) {
      this.skipping = null;
      const id = guessId(skipped.head.toString("utf8"), skipped.tail.toString("utf8"));
      this.answer({
        id,
        code: ErrorCode.InvalidRequest,
        message: `Invalid request: the message is ${skipped.bytes} bytes; at most ${this.maxLineBytes} bytes per message.`,
      });
      return;
    }
    const line = Buffer.concat(this.chunks).toString("utf8");
    this.chunks = [];
    this.size = 0;
    this.handleLine(line);
  }

  private handleLine(raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      const id = guessId(line.slice(0, EDGE_BYTES), line.slice(-EDGE_BYTES));
      this.answer({
        id,
        code: ErrorCode.ParseError,
        message: `Parse error: the message is not valid JSON (${quote((error as Error).message)}).`,
      });
      return;
    }
    const verdict = checkMessage(value, this.checkToolCall);
    if ("ok" in verdict) this.onmessage?.(verdict.ok);
    else if ("reply" in verdict) this.answer(verdict.reply);
    else if ("toolError" in verdict) this.answerToolError(verdict.toolError);
    else this.onerror?.(new Error(verdict.drop));
  }

  private answerToolError(error: ToolError): void {
    void this.write({
      jsonrpc: "2.0",
      id: error.id,
      result: { content: [{ type: "text", text: error.text }], isError: true },
    }).catch((failure: unknown) => this.onerror?.(failure as Error));
  }

  private answer(reply: Reply): void {
    // JSON-RPC: an error whose request id could not be read is sent with id null.
    void this.write({
      jsonrpc: "2.0",
      id: reply.id,
      error: { code: reply.code, message: reply.message },
    }).catch((error: unknown) => this.onerror?.(error as Error));
  }
}

/**
 * Classifies one parsed message: pass it on, answer it with an error, or drop it. A request
 * (it has a method and an id) is checked against the JSON-RPC request schema and then against
 * its method's own schema, so the SDK never sees a request it would not answer properly.
 */
export function checkMessage(value: unknown, checkToolCall?: ToolCallCheck): MessageVerdict {
  if (Array.isArray(value)) {
    return reply(
      null,
      ErrorCode.InvalidRequest,
      "Invalid request: batches are not supported; send one message per line.",
    );
  }
  if (typeof value !== "object" || value === null) {
    return reply(null, ErrorCode.InvalidRequest, "Invalid request: a JSON-RPC message is a JSON object.");
  }
  const record = value as Record<string, unknown>;
  const hasMethod = Object.hasOwn(record, "method");
  const hasId = Object.hasOwn(record, "id");
  const id = usableId(record.id);
  if (hasMethod && hasId) {
    if (id === null) {
      return reply(null, ErrorCode.InvalidRequest, 'Invalid request: "id" must be a string or an integer.');
    }
    const request = JSONRPCRequestSchema.safeParse(record);
    if (!request.success) {
      const issues = request.error.issues as z.core.$ZodIssue[];
      const onlyParams = issues.every((issue) => issue.path[0] === "params");
      return onlyParams
        ? reply(id, ErrorCode.InvalidParams, `Invalid params: ${describeIssues(issues)}`)
        : reply(id, ErrorCode.InvalidRequest, `Invalid request: ${describeIssues(issues)}`);
    }
    const methodSchema = REQUEST_SCHEMAS.get(request.data.method);
    if (methodSchema) {
      const params = methodSchema.safeParse({ method: request.data.method, params: request.data.params });
      if (!params.success) {
        return reply(
          id,
          ErrorCode.InvalidParams,
          `Invalid params for ${request.data.method}: ${describeIssues(params.error.issues)}`,
        );
      }
    }
    if (request.data.method === "tools/call") {
      const params = request.data.params as { name: string; arguments?: unknown };
      const problem = toolCallProblem(params);
      if (problem) {
        // The tool's own answer names every problem (the "__proto__" key among them).
        const own =
          params.name.length <= MAX_TOOL_NAME_CHARS ? checkToolCall?.(params.name, params.arguments) : null;
        if (own) return { toolError: { id, text: own } };
        return reply(id, ErrorCode.InvalidParams, `Invalid params for tools/call: ${problem}`);
      }
    }
    return { ok: request.data as JSONRPCMessage };
  }
  const message = JSONRPCMessageSchema.safeParse(record);
  if (message.success) return { ok: message.data };
  const problems = describeIssues(message.error.issues as z.core.$ZodIssue[]);
  if (hasMethod) return { drop: `Dropped an invalid notification: ${problems}` };
  if (hasId && (Object.hasOwn(record, "result") || Object.hasOwn(record, "error"))) {
    return { drop: `Dropped an invalid response: ${problems}` };
  }
  return reply(
    id,
    ErrorCode.InvalidRequest,
    'Invalid request: a JSON-RPC 2.0 request has "jsonrpc": "2.0", an "id" and a "method".',
  );
}

/** Longer than any tool's name: the SDK would echo the whole name in its "not found" error. */
const MAX_TOOL_NAME_CHARS = 64;

/**
 * What the SDK would lose or echo in a tools/call: it re-parses `arguments` as a record, which
 * drops an own "__proto__" key before the tool's strict schema can refuse it (so
 * `"__proto__": {"dryRun": true}` would vanish and the call run for real), and it quotes an
 * unknown tool's name whole.
 */
function toolCallProblem(params: { name: string; arguments?: unknown }): string | null {
  if (params.name.length > MAX_TOOL_NAME_CHARS) {
    return `name: no tool is called "${quote(params.name, MAX_TOOL_NAME_CHARS)}" (tool names are at most ${MAX_TOOL_NAME_CHARS} characters); tools/list names them.`;
  }
  const args = params.arguments;
  if (typeof args === "object" && args !== null && Object.hasOwn(args, "__proto__")) {
    return `arguments: "__proto__" is not an argument of ${params.name}. Nothing was run.`;
  }
  return null;
}

function reply(id: RequestId | null, code: number, message: string): MessageVerdict {
  return { reply: { id, code, message } };
}

function usableId(id: unknown): RequestId | null {
  if (typeof id === "string") return id.length <= 1024 ? id : null;
  if (typeof id === "number" && Number.isSafeInteger(id)) return id;
  return null;
}

/**
 * The id of a line that could not be parsed, when it is certain: the first key (or the second
 * after "jsonrpc"), or the last key before the closing brace. Otherwise null.
 */
export function guessId(head: string, tail: string): RequestId | null {
  const value = `(-?\\d{1,15}|"(?:[^"\\\\\\u0000-\\u001f]|\\\\.){0,200}")`;
  const first = new RegExp(
    `^\\s*\\{\\s*(?:"jsonrpc"\\s*:\\s*"2\\.0"\\s*,\\s*)?"id"\\s*:\\s*${value}\\s*[,}]`,
  ).exec(head);
  const last = new RegExp(`[{,]\\s*"id"\\s*:\\s*${value}\\s*\\}\\s*$`).exec(tail);
  const token = first?.[1] ?? last?.[1];
  if (token === undefined) return null;
  try {
    return usableId(JSON.parse(token));
  } catch {
    return null;
  }
}

/** The first few issues, each as `path: message`, every part bounded. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const shown = issues.slice(0, 3).map((issue) => {
    const path = issue.path.length ? issue.path.map((part) => String(part)).join(".") : "(request)";
    return `${quote(path)}: ${quote(issueMessage(issue))}`;
  });
  const more = issues.length > 3 ? `; and ${issues.length - 3} more` : "";
  return `${shown.join("; ")}${more}.`;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_union") {
    const expected = new Set(
      issue.errors.flatMap((list) =>
        list.flatMap((inner) =>
          inner.code === "invalid_type" && inner.path.length === 0 ? [inner.expected] : [],
        ),
      ),
    );
    if (expected.size) return `expected ${[...expected].join(" or ")}`;
  }
  return issue.message;
}

function lastBytes(buffer: Buffer): Buffer {
  return buffer.length <= EDGE_BYTES ? buffer : Buffer.from(buffer.subarray(buffer.length - EDGE_BYTES));
}
