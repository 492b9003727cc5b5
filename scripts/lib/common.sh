# Shared helpers for scripts/demo and scripts/test: progress, failures that name the step,
# and idempotent installation of the real peers (Debian packages) the lab and tests use.

OOBGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

say() { printf '==> %s\n' "$*" >&2; }

# step "description" command args...: runs a step, failing with its name if it fails.
step() {
  local what="$1"; shift
  say "$what"
  if ! "$@"; then
    printf '\nFAILED: %s\n(command: %s)\n' "$what" "$*" >&2
    exit 1
  fi
}

# Debian packages providing each command the tests and the lab need.
PEER_PACKAGES=(
  "ssh:openssh-client"
  "ssh-keygen:openssh-client"
  "/usr/sbin/sshd:openssh-server"
  "asciinema:asciinema"
  "socat:socat"
  "/usr/sbin/telnetd:inetutils-telnetd"
  "script:bsdutils"
  "ser2net:ser2net"
  "strace:strace"
  "ipmi_sim:openipmi"
  "ipmitool:ipmitool"
  "/usr/sbin/rsyslogd:rsyslog"
  "systemd-analyze:systemd"
  "openssl:openssl"
  "top:procps"
  "less:less"
  "vim:vim"
  "/usr/bin/chromium:chromium"
  "curl:curl"
  "node:nodejs"
  "npm:npm"
)

_missing_packages() {
  local entry cmd pkg missing=()
  for entry in "${PEER_PACKAGES[@]}"; do
    cmd="${entry%%:*}"; pkg="${entry#*:}"
    if [[ "$cmd" == /* ]]; then
      [[ -x "$cmd" ]] || missing+=("$pkg")
    else
      command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    fi
  done
  printf '%s\n' "${missing[@]}" | sort -u | grep -v '^$' || true
}

# Installs the Debian packages that are missing (apt-get update once, quietly).
ensure_peers() {
  local missing
  missing=$(_missing_packages)
  if [[ -z "$missing" ]]; then
    return 0
  fi
  say "installing missing packages: $(echo $missing)"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  # Try with the package lists already present; refresh them once if that fails.
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
    $sudo apt-get update -qq >/dev/null || { echo "apt-get update failed" >&2; return 1; }
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null \
      || { echo "apt-get install $missing failed" >&2; return 1; }
  fi
  missing=$(_missing_packages)
  if [[ -n "$missing" ]]; then
    echo "still missing after install: $missing" >&2
    return 1
  fi
}

source "$OOBGATE_ROOT/scripts/lib/openbao.sh"
source "$OOBGATE_ROOT/scripts/lib/venv.sh"
source "$OOBGATE_ROOT/scripts/lib/ocsf.sh"
source "$OOBGATE_ROOT/scripts/lib/packaging.sh"
source "$OOBGATE_ROOT/scripts/lib/sushy.sh"
source "$OOBGATE_ROOT/scripts/lib/sshaudit.sh"
source "$OOBGATE_ROOT/scripts/lib/postgres.sh"
source "$OOBGATE_ROOT/scripts/lib/web.sh"
source "$OOBGATE_ROOT/scripts/lib/seaweedfs.sh"
