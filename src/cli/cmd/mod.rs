//! One function per command, each a few lines: checked configuration in, library calls, output.

pub(crate) mod augment;
pub(crate) mod clusters;
pub(crate) mod desensitize;
pub(crate) mod eval;
pub(crate) mod export;
pub(crate) mod stats;
