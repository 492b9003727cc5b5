//! Policy: casbin enforcer over `policies/`, inventory labels as resource roles.
