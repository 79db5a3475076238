import { describe, expect, it } from "vitest";
import { parseConfig, resolveEnv } from "../../src/config/load.js";
import { DeployError } from "../../src/core/errors.js";

describe("resolveEnv looks envs up as own keys of environments only", () => {
  const config = parseConfig({});

  it.each(["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "__defineGetter__"])(
    "%s is an unknown env naming the configured ones",
    (name) => {
      let thrown: unknown;
      try {
        resolveEnv(config, name);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(DeployError);
      expect((thrown as DeployError).code).toBe("UNKNOWN_ENV");
      expect((thrown as DeployError).message).toContain(
        `Unknown env "${name}". Configured envs: dev, prod, staging.`,
      );
    },
  );

  it("quotes at most 40 characters of a long or odd name", () => {
    let message = "";
    try {
      resolveEnv(config, `x${"y".repeat(1_000_000)}`);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(
      /^Unknown env "xy{39}…". Configured envs: dev, prod, staging. Pass one of them.$/,
    );
    try {
      resolveEnv(config, 'a"\n\\b');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('Unknown env "a???b".');
  });

  it("an env named like an Object.prototype member can be configured and is then found", () => {
    const withOdd = parseConfig({ environments: { constructor: { protected: false } } });
    const env = resolveEnv(withOdd, "constructor");
    expect(env.lambda.functionName).toBe("vyaparai-api-constructor");
    expect(env.protected).toBe(false);
  });
});

describe("allowAnyHost", () => {
  it("defaults to false and accepts a boolean", () => {
    expect(parseConfig({}).allowAnyHost).toBe(false);
    expect(parseConfig({ allowAnyHost: true }).allowAnyHost).toBe(true);
    expect(() => parseConfig({ allowAnyHost: "yes" })).toThrow(/allowAnyHost: expected boolean/);
  });
});
