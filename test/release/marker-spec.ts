import { DeleteObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ReleaseSpec, ReleaseStep, StepIo, Verification } from "../../src/release/spec.js";
import type { Component, Phase } from "../../src/release/types.js";
import { readObject } from "./s3-probe.js";

/**
 * A small release over moto S3 objects, written the way a component writes its spec: what is
 * "live" is one marker object; the release stages the new value, switches the marker to it
 * (the step that touches live state), checks it, and can put the previous value back.
 *
 *   prepare (preparing) → upload (uploading) → switch (switching, touchesLive)
 *   → verify "health-check" → cleanup "tidy" (finishing)        undo "restore-marker"
 *
 * Tests steer it through hooks and read moto back to see what really happened.
 */

export const MARKER_KEY = "site/live.txt";

export interface MarkerPlan {
  key: string;
  value: string;
}

export interface MarkerState {
  /** Steps, verification and undo attempts in the order they ran. */
  events: string[];
  /** What the marker held before the release (read by prepare). */
  previous: string | null;
  undoAttempts: number;
}

export interface MarkerLive {
  marker: string | null;
}

export type StepName = "prepare" | "upload" | "switch" | "tidy";

export interface MarkerOptions {
  s3: S3Client;
  bucket: string;
  /** The value that goes live. */
  value?: string;
  component?: Component;
  confirmationToken?: string;
  breakLock?: boolean;
  requirePreflight?: boolean;
  planDigest?: string;
  /** Runs at the start of a step, before its work; throw to fail the step there. */
  before?: (step: StepName, io: StepIo) => Promise<void> | void;
  /** Runs after a step's work; throw to fail the step after it changed S3. */
  after?: (step: StepName, io: StepIo) => Promise<void> | void;
  /** The health gate; `false` for a spec without one. Passes by default. */
  verify?: ((state: MarkerState, io: StepIo) => Promise<Verification>) | false;
  verifyDeadlineMs?: number;
  /** The first N undo attempts fail ("always": every one); `false` for a spec without undo. */
  undo?: { failures: number | "always" } | false;
  deadlines?: Partial<Record<StepName, number>>;
  cleanup?: boolean;
  replan?: ReleaseSpec<MarkerPlan, MarkerState, MarkerLive>["replan"];
}

export function markerSpec(options: MarkerOptions): ReleaseSpec<MarkerPlan, MarkerState, MarkerLive> {
  const { s3, bucket } = options;
  const plan: MarkerPlan = { key: MARKER_KEY, value: options.value ?? "v2" };
  const state: MarkerState = { events: [], previous: null, undoAttempts: 0 };
  const put = (key: string, body: string, signal: AbortSignal) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }), { abortSignal: signal });

  const step = (
    name: StepName,
    phase: Phase,
    work: (io: StepIo) => Promise<void>,
    extra: Partial<ReleaseStep<MarkerState>> = {},
  ): ReleaseStep<MarkerState> => ({
    name,
    phase,
    ...(options.deadlines?.[name] !== undefined ? { deadlineMs: options.deadlines[name] } : {}),
    ...extra,
    async run(s, io) {
      s.events.push(name);
      await options.before?.(name, io);
      await work(io);
      await options.after?.(name, io);
    },
  });

  const undoFailures = options.undo === false ? 0 : (options.undo?.failures ?? 0);
  const verify = options.verify;
  return {
    component: options.component ?? "lambda",
    plan,
    ...(options.planDigest !== undefined ? { planDigest: options.planDigest } : {}),
    approvalText: `Switch ${plan.key} to ${plan.value}.`,
    requirePreflight: options.requirePreflight ?? true,
    confirmationToken: options.confirmationToken,
    breakLock: options.breakLock ?? false,
    state,
    record: { artifacts: { value: plan.value }, recoveryFacts: { key: plan.key } },
    recoveryPlan: (phase) => `Found in ${phase}: read ${plan.key} and keep or restore it.`,
    steps: [
      step("prepare", "preparing", async (io) => {
        state.previous = (await readObject(s3, bucket, plan.key))?.body ?? null;
        io.note({ before: { marker: state.previous } });
      }),
      step("upload", "uploading", async (io) => {
        await put(`staged/${io.releaseId}.txt`, plan.value, io.signal);
        io.note({ artifacts: { staged: `staged/${io.releaseId}.txt` } });
      }),
      step("switch", "switching", (io) => put(plan.key, plan.value, io.signal).then(() => {}), {
        touchesLive: true,
      }),
    ],
    ...(options.cleanup === false
      ? {}
      : {
          cleanup: [
            step("tidy", "finishing", async (io) => {
              await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `staged/${io.releaseId}.txt` }), {
                abortSignal: io.signal,
              });
            }),
          ],
        }),
    ...(options.replan ? { replan: options.replan } : {}),
    ...(verify === false
      ? {}
      : {
          verify: {
            name: "health-check",
            ...(options.verifyDeadlineMs !== undefined ? { deadlineMs: options.verifyDeadlineMs } : {}),
            async run(s, io) {
              s.events.push("health-check");
              return verify ? verify(s, io) : { ok: true, report: { checked: plan.key } };
            },
          },
        }),
    ...(options.undo === false
      ? {}
      : {
          undo: {
            name: "restore-marker",
            async run(s, io) {
              s.undoAttempts++;
              s.events.push(`undo#${s.undoAttempts}`);
              if (undoFailures === "always" || s.undoAttempts <= undoFailures) {
                throw new Error(`restore attempt ${s.undoAttempts} failed`);
              }
              const live = (await readObject(s3, bucket, plan.key))?.body ?? null;
              if (live === s.previous) return "nothing_to_undo";
              if (s.previous === null) {
                await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: plan.key }), {
                  abortSignal: io.signal,
                });
              } else await put(plan.key, s.previous, io.signal);
              return "undone";
            },
            fixCommand: (s) => `aws s3 cp - s3://${bucket}/${plan.key} <<< '${s.previous ?? ""}'`,
          },
        }),
    async readLive() {
      return { marker: (await readObject(s3, bucket, plan.key))?.body ?? null };
    },
    recordLive: (live) => ({ after: { marker: live.marker } }),
  };
}
