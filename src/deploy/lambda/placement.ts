import type { StepIo } from "../../release/spec.js";
import { artifactExists, uploadArtifact } from "./artifact.js";
import type { LambdaDeps } from "./deps.js";
import type { LambdaPackage } from "./package.js";
import type { LambdaDeployPlan } from "./plan.js";
import { copyStagedToArtifact, type StagedUpload, stagedPackage } from "./staged-upload.js";

/**
 * Where a release's package is stored and where Lambda takes it from. Normally both are the
 * content address, uploaded before the switch. A package staged while it was zipped is taken
 * by Lambda from its staging key, and copied to the content address at the same time (the copy
 * of a large zip is the slowest request left); `keep` is the release's promise that the
 * content address holds it in the end.
 */
export interface ArtifactPlacement {
  /** The upload step: nothing when the content address already holds it. */
  upload(io: StepIo): Promise<void>;
  /** The key UpdateFunctionCode names, once `upload` ran. */
  readonly codeKey: string;
  /**
   * Resolves once the content address holds the package: the staged copy finished, or the
   * package file was uploaded when the copy failed. Rejects when both failed. Then deletes the
   * staging object (Lambda took its copy before this is called).
   */
  keep(io: StepIo): Promise<void>;
}

export function artifactPlacement(
  deps: Pick<LambdaDeps, "s3">,
  plan: LambdaDeployPlan,
  pkg: LambdaPackage,
  staged: StagedUpload | null,
): ArtifactPlacement {
  const where = `s3://${plan.artifactBucket}/${plan.artifactKey}`;
  let codeKey = plan.artifactKey;
  let copying: Promise<void> | null = null;
  const uploadFile = (io: StepIo) =>
    uploadArtifact({
      s3: deps.s3,
      bucket: plan.artifactBucket,
      key: plan.artifactKey,
      file: pkg.path,
      bytes: pkg.bytes,
      sha256Hex: pkg.sha256Hex,
      signal: io.signal,
      onProgress: io.progress,
    });
  return {
    get codeKey() {
      return codeKey;
    },
    async upload(io) {
      if (await artifactExists(deps.s3, plan.artifactBucket, plan.artifactKey)) {
        io.progress(`Artifact ${where} already exists; not uploading`);
        return;
      }
      const object = staged
        ? await stagedPackage({ staged, sha256Hex: pkg.sha256Hex, bytes: pkg.bytes, signal: io.signal })
        : null;
      if (staged && object) {
        io.progress(`Deploying the zip uploaded while packaging; copying it to ${where} meanwhile`);
        codeKey = staged.key;
        copying = copyStagedToArtifact({
          s3: deps.s3,
          staged,
          object,
          key: plan.artifactKey,
          signal: io.signal,
        });
        // Awaited by keep; a failure before then is not an unhandled rejection.
        copying.catch(() => {});
        return;
      }
      if (staged) io.progress("The upload made while packaging did not complete; uploading the package file");
      await uploadFile(io);
    },
    async keep(io) {
      if (!copying || !staged) return;
      try {
        await copying;
      } catch (error) {
        if (io.signal.aborted) throw error;
        io.progress(`The copy to ${where} failed (${(error as Error).message}); uploading the package file`);
        await uploadFile(io);
      }
      // The staging object goes now, while the release finishes (the call's dispose awaits it).
      void staged.discard();
    },
  };
}
