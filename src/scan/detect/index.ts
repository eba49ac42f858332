import type { Detector } from './detector.js';
import { apkDetector } from './apk.js';
import { dpkgDetector } from './dpkg.js';
import { osReleaseDetector } from './os-release.js';
import { rpmDetector } from './rpm.js';
import { goBinaryDetector } from './go-binary.js';
import { npmDetector } from './npm.js';
import { pythonDetector } from './python.js';
import { rustBinaryDetector } from './rust-binary.js';

export type { Detector, DetectorResult, DetectedPackage, LayerFile } from './detector.js';
export { apkDetector, dpkgDetector, osReleaseDetector, rpmDetector };

/** The distribution: os-release, and the package databases of dpkg, apk and rpm. */
export const osDetectors: readonly Detector[] = [osReleaseDetector, dpkgDetector, apkDetector, rpmDetector];

export { goBinaryDetector, npmDetector, pythonDetector, rustBinaryDetector };

/** Language packages: npm, PyPI, Go and Rust (cargo-auditable) binaries. */
export const languageDetectors: readonly Detector[] = [npmDetector, pythonDetector, goBinaryDetector, rustBinaryDetector];

/** What a scan looks for by default: the distribution's packages and language packages. */
export const defaultDetectors: readonly Detector[] = [...osDetectors, ...languageDetectors];
