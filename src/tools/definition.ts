import type * as z from "zod";
import type { ToolContext } from "../release/context.js";

/** Flat MCP tool annotations; every tool sets all four explicitly. */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** Every tool's output carries a one-paragraph `summary` a person can read. */
export interface ToolOutputBase {
  summary: string;
}

/**
 * One tool: everything the registry, the MCP server, the CLI and the docs need.
 * The handler gets validated arguments and a context (env, AWS clients, progress, signal)
 * and returns the complete structured output; it throws DeployError for failures.
 */
export interface ToolDefinition<
  In extends z.ZodRawShape = z.ZodRawShape,
  Out extends z.ZodRawShape = z.ZodRawShape,
> {
  name: string;
  title: string;
  description: string;
  inputSchema: In;
  outputSchema: Out;
  annotations: ToolAnnotations;
  /**
   * A result that did not leave what it set out to do live (failed, rolled back,
   * interrupted): returned with `isError: true` and its full structured output.
   */
  isFailure?: (output: z.infer<z.ZodObject<Out>>) => boolean;
  handler: (
    args: z.infer<z.ZodObject<In>>,
    ctx: ToolContext,
  ) => Promise<z.infer<z.ZodObject<Out>> & ToolOutputBase>;
  /**
   * Starts reads the handler will need that depend on neither the env's protection nor the
   * deploy role, while the protection tags are read (the handler gets them as
   * `ctx.prefetched`). Called only for a call that keeps the caller's credentials; it must
   * never throw or leave a rejection unhandled, and never change anything.
   */
  prefetch?: (args: z.infer<z.ZodObject<In>>, ctx: ToolContext) => Promise<unknown> | undefined;
}

// biome-ignore lint/suspicious/noExplicitAny: the registry holds tools of every shape.
export type AnyToolDefinition = ToolDefinition<any, any>;

/** Identity helper that keeps the schema types of a tool definition inferred. */
export function defineTool<In extends z.ZodRawShape, Out extends z.ZodRawShape>(
  definition: ToolDefinition<In, Out>,
): ToolDefinition<In, Out> {
  return definition;
}

export function isDestructive(tool: AnyToolDefinition): boolean {
  return !tool.annotations.readOnlyHint;
}
