# shellcheck shell=bash
# ssh-audit (PyPI), which the tests run against the front door.
#
# Source this file and call `ensure_ssh_audit`. It installs the PyPI package `ssh-audit`
# into the test peers' venv, "$OOBGATE_ROOT/target/peers/venv". Idempotent and quiet, like
# ensure_openbao.

ensure_ssh_audit() {
    local audit="${OOBGATE_ROOT:-}/target/peers/venv/bin/ssh-audit"
    if [ -x "$audit" ] && "$audit" --help >/dev/null 2>&1; then
        return 0
    fi
    pip_into_peers_venv ensure_ssh_audit "ssh-audit (PyPI ssh-audit)" ssh-audit || return 1
    if ! "$audit" --help >/dev/null 2>&1; then
        echo "ensure_ssh_audit: installed, but $audit does not run" >&2
        return 1
    fi
}
