/**
 * What a scan finds in an image: its operating system and installed packages.
 * Shared by the layer walker and detectors (who produce it), the OSV matcher
 * (who reads it) and the SBOM writers. Plain JSON: inventories are stored and
 * re-matched without reading layers again.
 */

/** How versions of an ecosystem are ordered; one comparator each (src/scan/versions/). */
export type VersionScheme = 'dpkg' | 'apk' | 'rpm' | 'semver' | 'pep440';

export interface DetectedOs {
  /** `ID` from os-release, lower case: `debian`, `ubuntu`, `alpine`, `rhel`, `rocky`, `almalinux`, `centos`, `fedora`, … */
  id: string;
  /** `VERSION_ID` as written (`12`, `22.04`, `3.19.1`, `9.3`); empty when absent (Debian sid). */
  versionId: string;
  /** `PRETTY_NAME`, for reports. */
  prettyName: string;
  /**
   * The OSV ecosystem its packages are matched in, with the release suffix OSV
   * uses (`Debian:12`, `Ubuntu:22.04`, `Alpine:v3.19`, `Rocky Linux:9`,
   * `AlmaLinux:9`, `Red Hat`), or null when OSV has none for it.
   */
  ecosystem: string | null;
}

export interface InstalledPackage {
  /**
   * OSV ecosystem the package is matched in: the image OS's (`Debian:12`) for
   * distro packages, else `npm`, `PyPI`, `Go`, `crates.io`. Empty when the
   * package came from a distro database but the OS is unknown (not matchable).
   */
  ecosystem: string;
  versionScheme: VersionScheme;
  /** The package as installed: binary package name for distros (`bsdutils`), module path for Go. */
  name: string;
  /** Installed version, exactly as the database holds it (`1:2.38.1-5+deb12u3`, `v1.2.3`, `1.0.0rc1`). */
  version: string;
  /**
   * Distro source package this binary was built from, when the database names
   * one (dpkg `Source:`, apk `o:`, rpm SOURCERPM). OSV distro records name
   * source packages, so matching uses `source` when present.
   */
  source?: { name: string; version: string };
  /** Where in the image it was found (`var/lib/dpkg/status`, `usr/lib/node_modules/x/package.json`, `usr/bin/ctr`). No leading slash. */
  location: string;
  /** Digest of the layer that introduced this package at this version (the lowest layer it is seen in, unchanged, up to the top). */
  layerDigest: string;
  /** Architecture when the database records one (`amd64`, `x86_64`, `all`). */
  arch?: string;
  /** Declared licenses, as written (SPDX expressions where the ecosystem uses them). */
  licenses?: string[];
}

export interface Inventory {
  os: DetectedOs | null;
  packages: InstalledPackage[];
  /** Things a reader must know about what could not be inventoried (e.g. "BerkeleyDB rpmdb at var/lib/rpm/Packages is not supported"). */
  notes: string[];
}
