//! Unit tests of the Redfish client.
