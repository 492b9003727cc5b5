//! BMC capabilities through the one `Bmc` trait object a front end holds: IPMI against the
//! real `ipmi_sim` (its chassis hook shows what the BMC was asked), Redfish against the
//! real sushy-emulator, and the stand-in BMC where sushy has no firmware task or event log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oobgate::bmc::{
    Bmc, BmcError, BootDevice, Capability, IpmiBmc, PowerAction, PowerStatus, RedfishBmc,
};
use oobgate::ipmi::testing::{IpmiSim, BMC_PASSWORD, BMC_USER};
use oobgate::ipmi::BmcTarget;
use oobgate::redfish::testing::{FakeBmc, FakeTask, FileServer, Sushy};
use oobgate::redfish::MemoryPins;

/// Polls `bmc` until it reads `want`; fails at the deadline with the last state.
async fn wait_status(bmc: &dyn Bmc, want: PowerStatus) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let now = bmc.power_status().await.unwrap();
        if now == want {
            return;
        }
        assert!(
            Instant::now() < end,
            "{} still reads {now}, not {want}",
            bmc.name()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ipmi(sim: &IpmiSim) -> Box<dyn Bmc> {
    Box::new(IpmiBmc::new(BmcTarget::new(
        "srv15",
        &sim.address,
        BMC_USER,
        BMC_PASSWORD,
    )))
}

#[tokio::test]
async fn ipmi_bmc_controls_power_and_boot_and_refuses_the_rest_clearly() {
    let sim = IpmiSim::start();
    let bmc = ipmi(&sim);
    let caps = bmc.capabilities();
    assert!(caps.supports(Capability::Power) && caps.supports(Capability::Boot));
    assert!(!caps.supports(Capability::Media));

    assert_eq!(bmc.power_status().await.unwrap(), PowerStatus::Off);
    bmc.power(PowerAction::On).await.unwrap();
    assert_eq!(bmc.power_status().await.unwrap(), PowerStatus::On);
    assert!(sim.hook_log().contains("set power 1"), "{}", sim.hook_log());

    bmc.set_boot(BootDevice::Pxe, true).await.unwrap();
    assert!(
        sim.hook_log().contains("set boot pxe"),
        "{}",
        sim.hook_log()
    );
    assert_eq!(
        bmc.boot_setting().await.unwrap().device,
        Some(BootDevice::Pxe)
    );
    bmc.set_boot(BootDevice::Cd, true).await.unwrap();
    assert!(
        sim.hook_log().contains("set boot cdrom"),
        "{}",
        sim.hook_log()
    );

    let expected = "virtual media is not supported by IPMI (BMC srv15)";
    let err = bmc
        .media_insert("https://files.lab/a.iso")
        .await
        .unwrap_err();
    assert!(matches!(err, BmcError::Unsupported { .. }));
    assert_eq!(err.to_string(), expected);
    assert_eq!(bmc.media_status().await.unwrap_err().to_string(), expected);
    assert_eq!(
        caps.require("srv15", Capability::Media)
            .unwrap_err()
            .to_string(),
        expected
    );
    let err = bmc
        .firmware_update(
            "https://files.lab/f.bin",
            Duration::from_secs(5),
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "firmware update is not supported by IPMI (BMC srv15)"
    );
    assert_eq!(
        bmc.event_log(5).await.unwrap_err().to_string(),
        "the BMC event log is not supported by IPMI (BMC srv15)"
    );
}

#[tokio::test]
async fn redfish_bmc_through_the_same_traits() {
    let files = FileServer::start(&[("rescue.iso", b"iso")]);
    let sushy = Sushy::start();
    let rf = RedfishBmc::new(sushy.endpoint("srv20"), None, Arc::new(MemoryPins::new()));
    let bmc: &dyn Bmc = &rf;
    for c in [
        Capability::Power,
        Capability::Boot,
        Capability::Media,
        Capability::Firmware,
        Capability::EventLog,
    ] {
        assert!(bmc.capabilities().supports(c), "{c}");
    }
    assert_eq!(bmc.power_status().await.unwrap(), PowerStatus::Off);
    bmc.power(PowerAction::On).await.unwrap();
    wait_status(bmc, PowerStatus::On).await;
    bmc.power(PowerAction::Cycle).await.unwrap();
    wait_status(bmc, PowerStatus::On).await;
    bmc.power(PowerAction::Off).await.unwrap();
    wait_status(bmc, PowerStatus::Off).await;

    bmc.set_boot(BootDevice::Cd, true).await.unwrap();
    let b = bmc.boot_setting().await.unwrap();
    assert_eq!(b.device, Some(BootDevice::Cd), "{b:?}");
    let err = bmc.set_boot(BootDevice::Bios, true).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not offer boot target BiosSetup"),
        "{err}"
    );

    let url = format!("{}rescue.iso", files.url);
    bmc.media_insert(&url).await.unwrap();
    assert_eq!(
        bmc.media_status().await.unwrap().image.as_deref(),
        Some(url.as_str())
    );
    bmc.media_eject().await.unwrap();
    assert!(!bmc.media_status().await.unwrap().inserted);

    let err = bmc.event_log(5).await.unwrap_err().to_string();
    assert!(err.contains("offer no LogServices"), "{err}");
}

#[tokio::test]
async fn redfish_bmc_firmware_and_event_log_through_the_traits() {
    let fake = FakeBmc::start(FakeTask::Progress, true);
    let rf = RedfishBmc::new(fake.endpoint("srv30"), None, Arc::new(MemoryPins::new()));
    let mut rf = rf;
    rf.task_poll = Duration::from_millis(100);
    let bmc: &dyn Bmc = &rf;
    let mut percents = Vec::new();
    let done = bmc
        .firmware_update(
            "https://files.lab/bios.bin",
            Duration::from_secs(20),
            &mut |p| percents.push(p.percent),
        )
        .await
        .unwrap();
    assert_eq!(done.state, "Completed");
    assert_eq!(percents, [Some(0), Some(50), Some(100)]);
    let log = bmc.event_log(2).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].message, "CPU 1 machine check error");
    let deletes = fake
        .journal()
        .into_iter()
        .filter(|r| r["method"] == "DELETE")
        .count();
    assert_eq!(deletes, 2, "each call closes its session");
}
