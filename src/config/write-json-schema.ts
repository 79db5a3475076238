import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { configJsonSchemaText } from "./json-schema.js";

// dist/config/ → package root
const target = resolve(dirname(fileURLToPath(import.meta.url)), "../../schema/deploy.config.schema.json");
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, configJsonSchemaText());
process.stdout.write(`wrote ${target}\n`);
