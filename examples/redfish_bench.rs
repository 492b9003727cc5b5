//! Times `power cycle` through oobgate's Redfish client, one system per run, each run a
//! fresh connection (TLS handshake, service root, login check, system lookup, ForceOff,
//! wait for Off, On). Used by `scripts/bench-redfish`; prints the time of each run in ms.
//! Usage: redfish_bench ADDRESS FINGERPRINT USER PASSWORD SYSTEM_ID...

use std::sync::Arc;
use std::time::{Duration, Instant};

use oobgate::redfish::{Client, Endpoint, MemoryPins};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, address, fp, user, password, systems @ ..] = &args[..] else {
        eprintln!("usage: redfish_bench ADDRESS FINGERPRINT USER PASSWORD SYSTEM_ID...");
        std::process::exit(2);
    };
    let fp = fp.parse().unwrap_or_else(|e| panic!("{e}"));
    let mut times = Vec::new();
    for id in systems {
        let ep = Endpoint::new("bench", address, user, password)
            .unwrap_or_else(|e| panic!("{e}"))
            .pinned(fp);
        let t = Instant::now();
        let c = Client::connect(ep, Arc::new(MemoryPins::new()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let sys = c.system(Some(id)).await.unwrap_or_else(|e| panic!("{e}"));
        c.power_cycle(&sys, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        c.close().await.unwrap_or_else(|e| panic!("{e}"));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let shown: Vec<String> = times.iter().map(|t| format!("{t:.2}")).collect();
    println!("{}", shown.join(" "));
}
