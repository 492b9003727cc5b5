//! The Redfish resources this client reads, as serde types holding only the fields it
//! uses. Optional fields may be missing or `null`; a field of the wrong type is an error
//! that names it (the decoder in `transport` reports the path).

use serde::{Deserialize, Deserializer};

/// `null` or missing reads as the default (empty list, ...).
fn nullable<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A link to another resource.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Link {
    #[serde(rename = "@odata.id")]
    pub id: String,
}

/// A resource collection (one page of it).
#[derive(Debug, Deserialize)]
pub(crate) struct Collection {
    #[serde(rename = "Members", default, deserialize_with = "nullable")]
    pub members: Vec<Link>,
    #[serde(rename = "Members@odata.nextLink")]
    pub next_link: Option<String>,
}

/// `/redfish/v1/`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceRoot {
    pub systems: Option<Link>,
    pub managers: Option<Link>,
    pub update_service: Option<Link>,
    pub session_service: Option<Link>,
    pub links: Option<RootLinks>,
}

/// `Links` of the service root.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RootLinks {
    pub sessions: Option<Link>,
}

/// A `SessionService` session, as created.
#[derive(Debug, Deserialize)]
pub(crate) struct SessionCreated {
    #[serde(rename = "@odata.id")]
    pub id: Option<String>,
}

/// An action's target, with the allowable values of its main parameter if listed.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Action {
    pub target: String,
    #[serde(
        rename = "ResetType@Redfish.AllowableValues",
        default,
        deserialize_with = "nullable"
    )]
    pub reset_types: Vec<String>,
    #[serde(
        rename = "TransferProtocol@Redfish.AllowableValues",
        default,
        deserialize_with = "nullable"
    )]
    pub transfer_protocols: Vec<String>,
}

/// A `ComputerSystem`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ComputerSystem {
    pub id: String,
    pub name: Option<String>,
    pub power_state: Option<String>,
    pub boot: Option<Boot>,
    pub actions: Option<SystemActions>,
    pub virtual_media: Option<Link>,
    pub links: Option<SystemLinks>,
}

/// `Boot` of a system.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Boot {
    pub boot_source_override_target: Option<String>,
    pub boot_source_override_enabled: Option<String>,
    #[serde(
        rename = "BootSourceOverrideTarget@Redfish.AllowableValues",
        default,
        deserialize_with = "nullable"
    )]
    pub allowed_targets: Vec<String>,
}

/// `Actions` of a system.
#[derive(Debug, Deserialize)]
pub(crate) struct SystemActions {
    #[serde(rename = "#ComputerSystem.Reset")]
    pub reset: Option<Action>,
}

/// `Links` of a system.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SystemLinks {
    #[serde(default, deserialize_with = "nullable")]
    pub managed_by: Vec<Link>,
}

/// A `Manager` (the BMC itself).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Manager {
    pub virtual_media: Option<Link>,
    pub log_services: Option<Link>,
}

/// A `VirtualMedia` device.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VirtualMedia {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub media_types: Vec<String>,
    pub image: Option<String>,
    pub inserted: Option<bool>,
    pub write_protected: Option<bool>,
    pub actions: Option<MediaActions>,
}

/// `Actions` of a virtual media device.
#[derive(Debug, Deserialize)]
pub(crate) struct MediaActions {
    #[serde(rename = "#VirtualMedia.InsertMedia")]
    pub insert: Option<Action>,
    #[serde(rename = "#VirtualMedia.EjectMedia")]
    pub eject: Option<Action>,
}

/// The `UpdateService`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateService {
    pub service_enabled: Option<bool>,
    pub actions: Option<UpdateActions>,
}

/// `Actions` of the update service.
#[derive(Debug, Deserialize)]
pub(crate) struct UpdateActions {
    #[serde(rename = "#UpdateService.SimpleUpdate")]
    pub simple_update: Option<Action>,
}

/// A `Task`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Task {
    pub task_state: String,
    pub task_status: Option<String>,
    pub percent_complete: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub messages: Vec<Message>,
}

/// A Redfish message (task messages, error details).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Message {
    pub message: Option<String>,
    pub message_id: Option<String>,
}

/// A `LogService`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LogService {
    pub id: String,
    pub entries: Option<Link>,
}

/// One page of log entries (entries are usually expanded in the collection).
#[derive(Debug, Deserialize)]
pub(crate) struct LogEntries {
    #[serde(rename = "Members", default, deserialize_with = "nullable")]
    pub members: Vec<RawLogEntry>,
    #[serde(rename = "Members@odata.nextLink")]
    pub next_link: Option<String>,
}

/// A `LogEntry`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawLogEntry {
    pub id: String,
    pub created: Option<String>,
    pub severity: Option<String>,
    pub message: Option<String>,
    pub message_id: Option<String>,
}

/// A Redfish error body.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorInfo,
}

/// The `error` object of an error body.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorInfo {
    pub message: Option<String>,
    #[serde(
        rename = "@Message.ExtendedInfo",
        default,
        deserialize_with = "nullable"
    )]
    pub extended: Vec<Message>,
}
