import { type MotoServer, startMotoServer } from "../emulator/moto.js";
import type { Cleanup } from "./cleanup.js";

/**
 * The project's one moto launcher (src/emulator/moto.ts), tied to the bench's cleanup list
 * so a normal end, an error and Ctrl-C all stop it; a last-resort SIGKILL covers process exit.
 */
export async function startBenchMoto(binary: string, cleanup: Cleanup): Promise<MotoServer> {
  const moto = await startMotoServer({ binary });
  const forget = cleanup.onExit(() => process.kill(moto.pid, "SIGKILL"));
  const stop = cleanup.add(async () => {
    forget();
    await moto.stop();
  });
  return { endpoint: moto.endpoint, port: moto.port, pid: moto.pid, stop };
}
