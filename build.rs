//! Finds the web console's player (the npm `asciinema-player` bundle under
//! `web/node_modules`, installed by `scripts/test` and `scripts/demo`) so the binary embeds
//! it and serves it itself. Without it the build still succeeds, with a stand-in that
//! says how to install it.

use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let bundle = Path::new(&root).join("web/node_modules/asciinema-player/dist/bundle");
    let dir = if bundle.join("asciinema-player.min.js").is_file() {
        bundle
    } else {
        println!(
            "cargo:warning=web/node_modules holds no asciinema-player: the web console's \
             player is a stand-in until `npm ci --prefix web` (scripts/test does it)"
        );
        Path::new(&root).join("web/missing")
    };
    println!("cargo:rerun-if-changed={}", dir.display());
    println!("cargo:rerun-if-changed=web/package-lock.json");
    println!("cargo:rustc-env=OOBGATE_PLAYER_DIR={}", dir.display());
}
