//! berth's local CA: the authority itself ([`authority`]: the root, the
//! intermediate, the leaves), the stores it is trusted in ([`stores`]:
//! the system's, NSS databases, Java's cacerts) and the environment for
//! clients that read none of them ([`env`]).
//!
//! `berth ca` drives it; `berth proxy` issues its leaves from it.

pub mod authority;
pub mod env;
pub mod stores;

pub use authority::{Authority, CaPaths, LeafName, Permitted};
