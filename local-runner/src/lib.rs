//! local-runner
