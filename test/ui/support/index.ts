export * from './ui-env.js';
export { expectStatus } from './http.js';
export { EMPTY_REGISTRY, SBOM_ARTIFACT_TYPE, SEED_REGISTRY } from './seed.js';
