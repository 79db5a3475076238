import { GetFunctionCommand } from "@aws-sdk/client-lambda";
import { describe, expect, it } from "vitest";
import { createTestFunction } from "./aws-fixtures.js";
import { useMoto } from "./moto.js";

const moto = useMoto();

describe("aws fixtures", () => {
  it("creates a function moto accepts", async () => {
    const lambda = await moto.current.clients().lambda();
    const created = await createTestFunction(moto.current, lambda, { name: "fixture-fn" });
    const live = await lambda.send(new GetFunctionCommand({ FunctionName: "fixture-fn" }));
    expect(live.Configuration?.CodeSha256).toBe(created.codeSha256);
    expect(live.Configuration?.Runtime).toBe("python3.11");
  });
});
