/**
 * Everything the bench starts (moto, MCP servers, temp dirs) registers how to undo it here,
 * so a normal end, an error and Ctrl-C all leave nothing running.
 */
export class Cleanup {
  private readonly steps = new Set<() => Promise<void> | void>();
  private readonly lastResort = new Set<() => void>();

  /** Registers an async undo step; returns a function that runs and unregisters it. */
  add(step: () => Promise<void> | void): () => Promise<void> {
    this.steps.add(step);
    return async () => {
      if (!this.steps.delete(step)) return;
      await step();
    };
  }

  /** A synchronous kill for process exit, when no async step can run any more. */
  onExit(kill: () => void): () => void {
    this.lastResort.add(kill);
    return () => this.lastResort.delete(kill);
  }

  async runAll(): Promise<void> {
    const steps = [...this.steps].reverse();
    this.steps.clear();
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        process.stderr.write(`bench: cleanup step failed: ${(error as Error).message}\n`);
      }
    }
  }

  killAllNow(): void {
    for (const kill of this.lastResort) {
      try {
        kill();
      } catch {
        // already gone
      }
    }
    this.lastResort.clear();
  }
}
