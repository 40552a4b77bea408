#!/usr/bin/env bash
# One-time set-up on Debian/Ubuntu: system packages the platform, its gears and its tests use,
# then the npm dependencies. Safe to run again: whatever is already there is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  dcm2niix      # the bundled dcm2niix gear
  pigz          # dcm2niix compresses through it
  bubblewrap    # the default gear sandbox
  dcmtk         # dcmdump: header benchmarks and DICOM test fixtures
  python3-pydicom  # pydicom's DICOM test files (odd transfer syntaxes, multi-study folder); its data dictionary
  libgdcm-tools # gdcmconv: the dcm2niix gear's decompress_dicoms option
  python3-numpy   # the QA gear's tests check its metrics against numpy …
  python3-nibabel # … reading the NIfTI with nibabel (its test data are fixtures too)
  python3-scipy   # … and scipy.ndimage for the masks
  postgresql    # the scale-out metadata backend (tests run against it too)
  tmux          # the CLI tests drive interactive prompts through a real terminal
  chromium      # the web UI tests run in a real browser (playwright-core drives it; no browser download)
  slurm-wlm munge  # the slurm engine mode's tests start a private single-node Slurm (test-fixtures/slurm.ts)
  podman        # container gears (with runc: crun cannot apply limits on these hosts)
  runc          # … the OCI runtime podman is told to use
  uidmap        # … newuidmap/newgidmap for rootless podman and the id-mapped rootful one
  charliecloud-runtime  # ch-run: container gears as directory images where podman is missing (HPC)
  busybox       # the container-gear tests build their small images from the host's bash and busybox
  ca-certificates
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  echo "setup: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: system packages already installed"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

if [ -d node_modules/.bin ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  echo "setup: npm dependencies up to date"
else
  # better-sqlite3 and re2 compile from source here (no prebuilt downloads): three to four minutes.
  npm ci --no-audit --no-fund
fi
echo "setup: done"
