//! after-process
