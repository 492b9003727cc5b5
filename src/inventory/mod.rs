//! Inventory: the devices the bastion brokers access to.
