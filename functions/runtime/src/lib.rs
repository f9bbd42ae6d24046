//! fc-runtime
