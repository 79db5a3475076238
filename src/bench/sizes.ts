import type { BenchSize } from "./args.js";

/** Fixture sizes: `full` is the defaults, `small` a smoke run for CI. */
export interface FixtureSizes {
  frontendFiles: number;
  frontendBytes: number;
  /** Python packages copied from this machine's site-packages into lambda_deps/. */
  backendPackages: string[];
  appModules: number;
  logEvents: number;
}

const FULL_PACKAGES = [
  "botocore",
  "boto3",
  "s3transfer",
  "jmespath",
  "dateutil",
  "urllib3",
  "six.py",
  "yaml",
  "jinja2",
  "markupsafe",
  "werkzeug",
  "flask",
  "itsdangerous",
  "click",
  "blinker",
  "requests",
  "idna",
  "certifi",
  "charset_normalizer",
  "pydantic",
  "pydantic_core",
];

export function fixtureSizes(size: BenchSize): FixtureSizes {
  if (size === "small")
    return {
      frontendFiles: 200,
      frontendBytes: 800_000,
      backendPackages: ["yaml", "jinja2", "markupsafe", "werkzeug", "click"],
      appModules: 20,
      logEvents: 1_000,
    };
  return {
    frontendFiles: 2_000,
    frontendBytes: 8_000_000,
    backendPackages: FULL_PACKAGES,
    appModules: 60,
    logEvents: 10_000,
  };
}
