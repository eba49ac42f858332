#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests drive (real registry clients),
# when any is missing. Needs root (or sudo) on Debian 12.
set -euo pipefail

# command → package
declare -A PACKAGES=(
  [skopeo]=skopeo
  [podman]=podman
  [buildah]=buildah
  [dockerd]=docker.io
  [ctr]=containerd
  [umoci]=umoci
  [busybox]=busybox-static
  [kubectl]=kubernetes-client
  [nginx]=nginx-light
  [rpm]=rpm
  [debootstrap]=debootstrap
  [go]=golang-go
  [zstd]=zstd
  [chromium]=chromium
)

missing=()
for cmd in "${!PACKAGES[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    missing+=("${PACKAGES[$cmd]}")
  fi
done
# Python modules the scanner's version tests compare against (Debian's, not a virtualenv's).
[ -d /usr/lib/python3/dist-packages/packaging ] || missing+=(python3-packaging)
# A font, so the control panel's screenshots in headless Chromium have glyphs.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing test clients: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# Keep docker.io/containerd from starting system-wide services: the tests run their own daemons.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
trap '[ $created_policy -eq 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
