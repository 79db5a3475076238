import { execFileSync } from "node:child_process";
import { findMotoServer, MOTO_INSTALL_HINT } from "../../src/emulator/moto.js";

/** Locates the real parts the integration tests need; the messages carry the install command. */
export interface RealPart {
  name: string;
  found: string | null;
  install: string;
}

function which(binary: string): string | null {
  try {
    return execFileSync("sh", ["-c", `command -v ${binary}`], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

export function motoServerPath(): string | null {
  return findMotoServer();
}

export function terraformPath(): string | null {
  return which("terraform") ?? which("tofu");
}

export function realParts(): RealPart[] {
  return [
    {
      name: "moto_server (moto[server] 5.x)",
      found: motoServerPath(),
      install: MOTO_INSTALL_HINT,
    },
    {
      name: "terraform or tofu",
      found: terraformPath(),
      install: "apt-get install -y terraform (HashiCorp apt repo) or install OpenTofu; put it on PATH",
    },
    {
      name: "aws CLI",
      found: which("aws"),
      install: 'python3 -m pip install awscli (or "apt-get install -y awscli")',
    },
  ];
}
