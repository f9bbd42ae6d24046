//! vpf-media
