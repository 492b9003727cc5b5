# PostgreSQL for the tests of several bastion nodes: the Debian `postgresql` server
# binaries (initdb, pg_ctl, createdb). The tests start a private throwaway cluster of their
# own on loopback (as the `postgres` user when run as root); the system cluster is never
# used.

_pg_bin_dir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/createdb" ]] && { echo "$d"; return 0; }
  done
  return 1
}

# Finds the server binaries (installing `postgresql` if absent) and exports OOBGATE_PG_BIN.
ensure_postgres() {
  local bin
  if ! bin=$(_pg_bin_dir); then
    say "installing missing packages: postgresql"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1; then
      $sudo apt-get update -qq >/dev/null || { echo "apt-get update failed" >&2; return 1; }
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
        || { echo "apt-get install postgresql failed" >&2; return 1; }
    fi
    bin=$(_pg_bin_dir) || { echo "no initdb/pg_ctl/createdb under /usr/lib/postgresql/*/bin after installing postgresql" >&2; return 1; }
  fi
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || { echo "no 'postgres' user to run the test cluster as (initdb refuses root)" >&2; return 1; }
    command -v runuser >/dev/null 2>&1 || { echo "runuser (util-linux) is missing: as root, the test cluster runs as the postgres user through it" >&2; return 1; }
  fi
  export OOBGATE_PG_BIN="$bin"
}

# pg_run TOOL ARGS...: a PostgreSQL server tool, as the postgres user when run as root.
pg_run() {
  local tool="$1"; shift
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$OOBGATE_PG_BIN/$tool" "$@"
  else
    "$OOBGATE_PG_BIN/$tool" "$@"
  fi
}
