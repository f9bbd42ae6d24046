//! oss-trigger
