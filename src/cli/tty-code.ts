import { createInterface } from "node:readline";
import type { CodeAnswer, CodeRequest } from "../core/context.js";

/**
 * The CLI asks for the MFA code on the terminal only: never from a pipe, a flag or an env var,
 * so an assistant driving the CLI through a shell cannot supply it. Null when stdin or stderr
 * is not a terminal. Typing is not echoed.
 */
export function terminalCodeAsker(
  input: NodeJS.ReadStream = process.stdin,
  output: NodeJS.WriteStream = process.stderr,
): ((request: CodeRequest) => Promise<CodeAnswer>) | null {
  if (!input.isTTY || !output.isTTY) return null;
  return (request) =>
    new Promise<CodeAnswer>((resolve) => {
      output.write(`${request.message}\nMFA code (not shown): `);
      let muted = true;
      const rl = createInterface({ input, output, terminal: true });
      // readline echoes through _writeToOutput; while muted nothing typed reaches the screen.
      (rl as unknown as { _writeToOutput: (text: string) => void })._writeToOutput = (text: string) => {
        if (!muted) output.write(text);
      };
      rl.once("SIGINT", () => {
        muted = false;
        rl.close();
        output.write("\n");
        resolve({ action: "cancel" });
      });
      rl.once("line", (line) => {
        muted = false;
        rl.close();
        output.write("\n");
        resolve({ action: "accept", code: line.trim() });
      });
    });
}
