#!/usr/bin/env bash
# Installs everything subtomo needs on a fresh Debian machine; safe to re-run (each step says whether it
# did work or reused what was there). Heavy builds are cached under $SUBTOMO_CACHE (default ~/.cache/subtomo).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SUBTOMO_CACHE:-$HOME/.cache/subtomo}"
temporal_version="1.5.1"
temporal_bin="$cache/bin/temporal"

say() { printf '[install] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- OpenMPI (Debian) -------------------------------------------------------------------------------
if command -v mpirun >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libmpi.so.40'; then
  say "OpenMPI present: $(mpirun --version 2>/dev/null | head -n 1)"
else
  say "installing OpenMPI (apt-get install openmpi-bin libopenmpi-dev)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null
  say "OpenMPI installed: $(mpirun --version | head -n 1)"
fi

# --- sshd, for the multi-host tests (a second host in a network namespace: test/helpers/two-hosts.sh) --
if [ -x /usr/sbin/sshd ]; then
  say "sshd present (multi-host tests)"
else
  say "installing sshd for the multi-host tests (apt-get install openssh-server)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
fi

# --- Slurm, for the Slurm executor's tests (a one-node cluster made by test/helpers/slurm.sh) --------------
# slurmctld, slurmd, their client commands, slurmdbd with MariaDB (sacct needs accounting) and munge; the
# helper owns the package list and installs only what is missing.
"$repo/test/helpers/slurm.sh" install 2>&1 | sed 's/^\[slurm\]/[install]/'

# --- Node.js dependencies ---------------------------------------------------------------------------
# ≥ 20.6: the `subtomo` bin registers tsx's loader with module.register.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 6) ? 0 : 1)'; then
  echo "subtomo needs Node.js ≥ 20.6 (found $(node --version))" >&2
  exit 1
fi
lock_hash="$(sha256sum "$repo/package-lock.json" | cut -d' ' -f1)"
stamp="$repo/node_modules/.subtomo-lock-sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  say "node_modules matches package-lock.json: npm ci skipped"
else
  say "npm ci"
  (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" >"$stamp"
fi

# --- Temporal CLI (dev server with SQLite persistence), built from source ----------------------------
if [ -x "$temporal_bin" ] && "$temporal_bin" --version 2>/dev/null | grep -q "version $temporal_version"; then
  say "Temporal CLI cached: $("$temporal_bin" --version)"
else
  command -v go >/dev/null 2>&1 || { echo "Go is needed to build the Temporal CLI (apt-get install golang)" >&2; exit 1; }
  say "building Temporal CLI v$temporal_version with go install (a few minutes, once)"
  mkdir -p "$cache/bin"
  GOBIN="$cache/bin" go install \
    -ldflags "-s -w -X github.com/temporalio/cli/temporalcli.Version=$temporal_version" \
    "github.com/temporalio/cli/cmd/temporal@v$temporal_version"
  say "Temporal CLI built: $("$temporal_bin" --version)"
fi

# --- Python readers of the ecosystem, for the interoperability tests ---------------------------------
# mrcfile (CCP-EM) and starfile (teamtomo) read what subtomo writes in test/mrc.test.ts and
# test/particles-interop.test.ts (found through test/helpers/python.ts). Pinned with every dependency (the
# set pip resolved for Python 3.11), so each machine runs the same readers; re-created when the list changes.
interop_venv="$cache/interop-venv"
interop_requirements="mrcfile==1.5.4 starfile==0.5.13 numpy==2.2.6 pandas==2.2.3 pyarrow==26.0.1 python-dateutil==4.0.0 pytz==2026.6 tzdata==2026.6 typing_extensions==4.16.0"
interop_stamp="$interop_venv/.subtomo-requirements"
if [ -x "$interop_venv/bin/python" ] && [ -f "$interop_stamp" ] && [ "$(cat "$interop_stamp")" = "$interop_requirements" ] &&
  "$interop_venv/bin/python" -c 'import mrcfile, starfile' 2>/dev/null; then
  say "Python interop venv cached: $interop_venv ($interop_requirements)"
else
  # Debian ships venv's pip bootstrap (ensurepip) in a separate package.
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    say "installing Python venv support (apt-get install python3 python3-venv)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  say "creating Python venv $interop_venv: pip install $interop_requirements"
  rm -rf "$interop_venv"
  python3 -m venv "$interop_venv"
  # shellcheck disable=SC2086 # the requirements are separate words
  "$interop_venv/bin/python" -m pip install --quiet --disable-pip-version-check $interop_requirements
  echo "$interop_requirements" >"$interop_stamp"
  say "Python interop venv ready: $("$interop_venv/bin/python" -c 'from importlib.metadata import version as v; print("mrcfile", v("mrcfile"), "starfile", v("starfile"))')"
fi

# --- MPI check: two real ranks exercise the koffi binding --------------------------------------------
say "checking MPI with 2 ranks"
(cd "$repo" && node --import tsx mpi/checkInstall.ts)
say "done"
