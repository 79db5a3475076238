import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { allTools } from "../tools/index.js";
import { replaceToolReference } from "./tool-reference.js";

const readmePath = resolve(dirname(fileURLToPath(import.meta.url)), "../../README.md");
writeFileSync(readmePath, replaceToolReference(readFileSync(readmePath, "utf8"), allTools));
process.stdout.write(`updated the tool reference in ${readmePath}\n`);
