# shellcheck shell=bash
# ssh-audit (PyPI), which the tests run against the front door and the inner `-J` server.
#
# Source this file and call `ensure_ssh_audit`. It installs the PyPI package `ssh-audit`
# into the test peers' venv, "$OOBGATE_ROOT/target/peers/venv" (made by `ensure_openbao`
# when missing). Idempotent and quiet, like ensure_openbao.

ensure_ssh_audit() {
    local root="${OOBGATE_ROOT:-}"
    if [ -z "$root" ]; then
        echo "ensure_ssh_audit: OOBGATE_ROOT is not set (it must be the repository root)" >&2
        return 1
    fi
    local venv="$root/target/peers/venv"
    local python="$venv/bin/python3"
    if [ -x "$venv/bin/ssh-audit" ] && "$venv/bin/ssh-audit" --help >/dev/null 2>&1; then
        return 0
    fi
    if [ ! -x "$python" ]; then
        ensure_openbao || return 1
    fi
    echo "installing ssh-audit (PyPI ssh-audit) into $venv ..."
    local log="$root/target/peers/ssh-audit-install.log"
    if ! "$python" -m pip install --quiet --disable-pip-version-check ssh-audit >"$log" 2>&1; then
        echo "ensure_ssh_audit: pip install ssh-audit failed (see $log)" >&2
        tail -n 5 "$log" >&2
        return 1
    fi
    if ! "$venv/bin/ssh-audit" --help >>"$log" 2>&1; then
        echo "ensure_ssh_audit: installed, but $venv/bin/ssh-audit does not run (see $log)" >&2
        return 1
    fi
    rm -f "$log"
}
