//! Shared helpers of the integration tests.

pub mod fault_server;
