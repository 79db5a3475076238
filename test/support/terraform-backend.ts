/**
 * terraform's S3 backend pointed at moto: path-style requests to the emulator, no credential,
 * account, metadata or region checks (moto has none to offer), and S3-native state locking.
 * The demo seeds its world with the same settings.
 */
export { emulatorTerraformBackend as motoS3Backend } from "../../src/demo/world.js";
