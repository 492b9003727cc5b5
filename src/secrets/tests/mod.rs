//! Tests of the stores against their real peers: an OpenBao dev server and real files.

mod local;
mod vault;

/// Fails if `error` shows any of `values` through `Display` or `Debug`.
pub(super) fn assert_no_values(error: &super::SecretsError, values: &[&str]) {
    let shown = format!("{error} | {error:?} | {error:#?}");
    for value in values {
        assert!(
            !shown.contains(value),
            "error leaks a secret value: {shown}"
        );
    }
}
