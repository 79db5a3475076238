import { realParts } from "./real-parts.js";

/**
 * Integration tests run against real parts. A missing one is a loud failure, never a skip:
 * a green run must mean the emulator and terraform really ran.
 */
export default function setup(): void {
  const missing = realParts().filter((part) => !part.found);
  if (missing.length > 0) {
    const lines = missing.map((part) => `  - ${part.name}: install with: ${part.install}`);
    throw new Error(`Real parts missing for the integration tests:\n${lines.join("\n")}`);
  }
}
