//! vpf-cloudflow
