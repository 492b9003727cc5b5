# shellcheck shell=bash
# The OCSF schema for the tests that validate `oobgate audit export --format ocsf`.
#
# Source this file and call `ensure_ocsf_schema`. It installs the PyPI packages
# `ocsf-json-schema` (the OCSF project's schema exports, 1.0 to 1.8, turned into JSON
# Schema) and `jsonschema` (the validator) into the test peers' venv,
# "$OOBGATE_ROOT/target/peers/venv" (made by `ensure_openbao` when missing). Idempotent
# and quiet, like ensure_openbao.

ensure_ocsf_schema() {
    local root="${OOBGATE_ROOT:-}"
    if [ -z "$root" ]; then
        echo "ensure_ocsf_schema: OOBGATE_ROOT is not set (it must be the repository root)" >&2
        return 1
    fi
    local venv="$root/target/peers/venv"
    local python="$venv/bin/python3"
    local check='import ocsf_json_schema, jsonschema'

    if [ -x "$python" ] && "$python" -c "$check" >/dev/null 2>&1; then
        return 0
    fi
    pip_into_peers_venv ensure_ocsf_schema "the OCSF schema (PyPI ocsf-json-schema, jsonschema)" \
        ocsf-json-schema jsonschema || return 1
    local log="$root/target/peers/ocsf-check.log"
    if ! "$python" -c "$check" >>"$log" 2>&1; then
        echo "ensure_ocsf_schema: installed, but $python cannot import them (see $log)" >&2
        return 1
    fi
    rm -f "$log"
}
