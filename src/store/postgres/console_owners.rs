//! Console ownership in PostgreSQL: one row per network console naming the node that
//! carries it. A claim keeps the row with its node while that node's lease holds, and
//! moves it to the claiming node once the lease lapsed (or the row was given up).

use deadpool_postgres::Client;

use crate::store::{ConsoleClaim, ConsoleOwner, Result};

const SINCE: &str = "to_char(o.since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

/// Claims `console` for `node` (reachable at `address`).
pub(super) async fn claim(
    client: &mut Client,
    node: &str,
    console: &str,
    address: &str,
) -> Result<ConsoleClaim> {
    let tx = client.transaction().await?;
    // The first claim of a console wins it; later ones find the row and lock it.
    let inserted = tx
        .execute(
            "INSERT INTO console_owners (console, node, address) VALUES ($1, $2, $3)
             ON CONFLICT (console) DO NOTHING",
            &[&console, &node, &address],
        )
        .await?;
    if inserted == 1 {
        tx.commit().await?;
        return Ok(ConsoleClaim::Ours);
    }
    let row = tx
        .query_one(
            &format!(
                "SELECT o.node, o.address, {SINCE},
                     EXISTS (SELECT 1 FROM nodes n WHERE n.name = o.node AND n.lease_until >= now())
                 FROM console_owners o WHERE o.console = $1 FOR UPDATE"
            ),
            &[&console],
        )
        .await?;
    let (owner, alive): (String, bool) = (row.get(0), row.get(3));
    let claim = if owner == node {
        if row.get::<_, String>(1) != address {
            tx.execute(
                "UPDATE console_owners SET address = $2 WHERE console = $1",
                &[&console, &address],
            )
            .await?;
        }
        ConsoleClaim::Ours
    } else if alive {
        ConsoleClaim::Elsewhere(ConsoleOwner {
            console: console.to_string(),
            node: owner,
            address: row.get(1),
            since: row.get(2),
        })
    } else {
        tx.execute(
            "UPDATE console_owners SET node = $2, address = $3, since = now() WHERE console = $1",
            &[&console, &node, &address],
        )
        .await?;
        ConsoleClaim::TakenOver { from: owner }
    };
    tx.commit().await?;
    Ok(claim)
}

/// Every claimed console with its node, by console name.
pub(super) async fn list(c: &Client) -> Result<Vec<ConsoleOwner>> {
    let rows = c
        .query(
            &format!("SELECT o.console, o.node, o.address, {SINCE} FROM console_owners o ORDER BY o.console"),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ConsoleOwner {
            console: r.get(0),
            node: r.get(1),
            address: r.get(2),
            since: r.get(3),
        })
        .collect())
}

/// Gives up `node`'s consoles.
pub(super) async fn release(c: &Client, node: &str) -> Result<()> {
    c.execute("DELETE FROM console_owners WHERE node = $1", &[&node])
        .await?;
    Ok(())
}
