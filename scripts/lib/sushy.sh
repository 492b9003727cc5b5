# shellcheck shell=bash
# sushy-emulator (OpenStack's Redfish BMC emulator) for the Redfish tests and the demo lab.
#
# Source this file and call `ensure_sushy`. It installs the `sushy-tools` package from
# PyPI into the venv that `ensure_openbao` sets up ("$OOBGATE_ROOT/target/peers/venv"),
# so that "$OOBGATE_ROOT/target/peers/venv/bin/sushy-emulator" runs; its `bcrypt`
# dependency writes the htpasswd files the tests use. Idempotent and quiet: one progress
# line when it has to install, nothing when all is there, an error naming the failed step
# otherwise.

ensure_sushy() {
    local root="${OOBGATE_ROOT:-}"
    if [ -z "$root" ]; then
        echo "ensure_sushy: OOBGATE_ROOT is not set (it must be the repository root)" >&2
        return 1
    fi
    local venv="$root/target/peers/venv"
    local emulator="$venv/bin/sushy-emulator"

    if [ -x "$emulator" ] && "$venv/bin/python3" -c 'import sushy_tools, bcrypt' >/dev/null 2>&1; then
        return 0
    fi
    pip_into_peers_venv ensure_sushy "sushy-emulator (PyPI sushy-tools)" sushy-tools bcrypt || return 1
    local log="$root/target/peers/sushy-check.log"
    if ! "$emulator" --help >>"$log" 2>&1; then
        echo "ensure_sushy: sushy-tools installed but $emulator does not run (see $log)" >&2
        return 1
    fi
    rm -f "$log"
}
