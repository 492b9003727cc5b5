//! `web`: a one-time link into the web console, logged in as the caller's certificate
//! identity (user and roles), valid for one use within a minute. The link itself is never
//! logged nor audited; the audit event says that one was issued.

use serde_json::json;

use super::CommandOutput;
use crate::access::LINK_TTL;
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;

/// Issues a link for `id`.
pub(super) async fn run(bastion: &Bastion, id: &Identity) -> CommandOutput {
    let Some(web) = &bastion.config.web else {
        return CommandOutput::fail(
            "web: the web console is not enabled on this bastion ([web] in its config)\n".into(),
            1,
        );
    };
    let token = match bastion.weblinks.issue(id).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "web link not issued");
            return CommandOutput::fail(format!("web: cannot issue a link: {e}\n"), 1);
        }
    };
    bastion
        .audit(
            Event::new("web.link")
                .user(&id.user)
                .source(id.source.to_string())
                .action("web")
                .outcome("ok")
                .detail(json!({ "valid_for_s": LINK_TTL.as_secs(), "serial": id.serial })),
        )
        .await;
    CommandOutput::ok(format!(
        "{}/login/{token}\n(one use, within {} s; the web login ends when your certificate does)\n",
        bastion.weblinks.base().unwrap_or(&web.public_url),
        LINK_TTL.as_secs()
    ))
}
