/** Berth's version, as the CLI reports it and SBOMs name their tool. */
export const BERTH_VERSION = '0.1.0';
