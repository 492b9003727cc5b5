//! The `WHERE ... ORDER BY ... LIMIT` tail of an audit-event query, the same for every SQL
//! backend but for how a parameter is written (`?1` in sqlite, `$1` in PostgreSQL) and how
//! the `user` column is quoted.

use crate::audit::EventFilter;

/// The SQL tail for `f`, newest first, and its parameters in order; `param(n)` writes the
/// n-th (1-based) placeholder, `user_col` is the quoted `user` column.
pub(crate) fn event_query_tail(
    f: &EventFilter,
    param: fn(usize) -> String,
    user_col: &str,
) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut params: Vec<String> = Vec::new();
    if let Some(p) = &f.kind_prefix {
        params.push(format!("{}%", p.replace('%', "\\%").replace('_', "\\_")));
        clauses.push(format!("kind LIKE {} ESCAPE '\\'", param(params.len())));
    }
    let user = format!("{user_col} =");
    for (col, v) in [
        (user.as_str(), &f.user),
        ("device =", &f.device),
        ("ts >=", &f.since),
        ("ts <", &f.until),
    ] {
        if let Some(v) = v {
            params.push(v.clone());
            clauses.push(format!("{col} {}", param(params.len())));
        }
    }
    let mut tail = String::new();
    if !clauses.is_empty() {
        tail = format!("WHERE {}", clauses.join(" AND "));
    }
    tail.push_str(" ORDER BY id DESC");
    if let Some(n) = f.limit {
        tail.push_str(&format!(" LIMIT {n}"));
    }
    (tail, params)
}
