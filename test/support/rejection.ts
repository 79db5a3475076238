import type { DeployError } from "../../src/core/errors.js";

/** The error a promise rejects with, to assert on its code and message; fails the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<DeployError> {
  try {
    await promise;
  } catch (error) {
    return error as DeployError;
  }
  throw new Error("expected a rejection");
}
