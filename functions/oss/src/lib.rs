//! vpf-oss
