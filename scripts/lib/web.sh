# shellcheck shell=bash
# The web console's npm packages: asciinema-player (embedded in the binary at build time)
# and playwright-core (which drives Debian's Chromium in the tests), from the npm registry
# as web/package-lock.json pins them.
#
# Source this file and call `ensure_web_packages` before building. Idempotent: nothing is
# fetched when web/node_modules already matches the lock file.

ensure_web_packages() {
    local web="${OOBGATE_ROOT:-}/web"
    local stamp="$web/node_modules/.oobgate-lock.sha256"
    local want
    want=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && [ -f "$web/node_modules/asciinema-player/dist/bundle/asciinema-player.min.js" ]; then
        return 0
    fi
    if ! (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
        echo "ensure_web_packages: npm ci in $web failed (is the npm registry reachable?)" >&2
        return 1
    fi
    echo "$want" > "$stamp"
}
