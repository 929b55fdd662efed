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

# --- MPI check: two real ranks exercise the koffi binding --------------------------------------------
say "checking MPI with 2 ranks"
(cd "$repo" && node --import tsx mpi/checkInstall.ts)
say "done"
