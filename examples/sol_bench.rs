//! Measures oobgate's own IPMI client against a BMC whose SOL host echoes what it gets:
//! session + SOL activation time, then keystroke round trips. Used by `scripts/bench-ipmi`.
//! Usage: sol_bench ADDRESS USER PASSWORD SUITE RUNS KEYS

use std::time::{Duration, Instant};

use bytes::Bytes;
use oobgate::connect::{
    Connector, DeviceCredential, IpmiSolConnector, LinkControl, LinkEvent, LinkRequest, Target,
};
use oobgate::ipmi::sol::SolOptions;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, address, user, password, suite, runs, keys] = &args[..] else {
        eprintln!("usage: sol_bench ADDRESS USER PASSWORD SUITE RUNS KEYS");
        std::process::exit(2);
    };
    let suite: u8 = suite.parse().unwrap();
    let runs: usize = runs.parse().unwrap();
    let keys: usize = keys.parse().unwrap();
    let connector = IpmiSolConnector::new(vec![suite], SolOptions::default());
    let target = Target {
        name: "bench-bmc".into(),
        address: address.clone(),
        host_key: None,
        legacy_algorithms: false,
    };
    let cred = DeviceCredential {
        username: user.clone(),
        password: Some(password.clone()),
        ..Default::default()
    };
    let mut setups = Vec::new();
    let mut rtts = Vec::new();
    for run in 0..runs {
        let t = Instant::now();
        let mut link = connector
            .open(&target, &cred, &LinkRequest::shell(80, 24))
            .await
            .expect("SOL session");
        setups.push(t.elapsed().as_secs_f64() * 1000.0);
        if run == runs - 1 {
            // The BMC reconnects to the host's serial port after a deactivation: wait for it.
            'warm: for _ in 0..30 {
                link.control
                    .send(LinkControl::Data(Bytes::from_static(b"z")))
                    .await
                    .unwrap();
                let until = tokio::time::Instant::now() + Duration::from_secs(1);
                while let Ok(Some(ev)) = tokio::time::timeout_at(until, link.events.recv()).await {
                    if matches!(ev, LinkEvent::Data(ref b) if b.contains(&b'z')) {
                        break 'warm;
                    }
                }
            }
            for i in 0..keys {
                let key = b"abcdefghij"[i % 10];
                let t = Instant::now();
                link.control
                    .send(LinkControl::Data(Bytes::copy_from_slice(&[key])))
                    .await
                    .unwrap();
                loop {
                    match tokio::time::timeout(Duration::from_secs(5), link.events.recv()).await {
                        Ok(Some(LinkEvent::Data(b))) if b.contains(&key) => break,
                        Ok(Some(_)) => continue,
                        other => panic!("no echo: {other:?}"),
                    }
                }
                rtts.push(t.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let _ = link.control.send(LinkControl::Close).await;
        while let Some(ev) = link.events.recv().await {
            if matches!(ev, LinkEvent::Closed(_)) {
                break;
            }
        }
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    };
    println!(
        "{:.2} {:.3} {:.3}",
        pct(&mut setups, 0.5),
        pct(&mut rtts, 0.5),
        pct(&mut rtts, 0.99)
    );
}
