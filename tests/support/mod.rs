//! Shared helpers of the integration tests.

pub mod augment_cli;
pub mod fault_server;
pub mod http;
pub mod local_llm;
