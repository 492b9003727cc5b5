# shellcheck shell=bash
# cargo-deb, which builds the Debian package (`cargo deb`) for the packaging test and
# for releases.
#
# Source this file and call `ensure_cargo_deb`: it installs cargo-deb from crates.io with
# `cargo install` when `cargo deb` is missing or is another version. Idempotent and quiet.

CARGO_DEB_VERSION="3.8.0"

ensure_cargo_deb() {
    if cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
        return 0
    fi
    echo "installing cargo-deb $CARGO_DEB_VERSION from crates.io (cargo install) ..."
    local log
    log="$(mktemp)"
    if ! cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet >"$log" 2>&1; then
        echo "ensure_cargo_deb: cargo install cargo-deb --version $CARGO_DEB_VERSION failed:" >&2
        tail -n 20 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    if ! cargo deb --version >/dev/null 2>&1; then
        echo "ensure_cargo_deb: cargo-deb installed but 'cargo deb' does not run (is ~/.cargo/bin on PATH?)" >&2
        return 1
    fi
}
