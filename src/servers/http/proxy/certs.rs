//! The proxy's certificate: a leaf from berth's CA, issued at start and
//! swapped for a fresh one before it expires, without a restart and
//! without dropping connections (each handshake asks the resolver for the
//! current leaf).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::ca::authority::Leaf;
use crate::ca::{Authority, LeafName};
use crate::error::Error;
use crate::stderr::say;

/// A proxy's leaf lives this long: short, so a copied key is worth little,
/// and renewed when a third of it is left.
pub const LEAF_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Hands every handshake the current leaf.
#[derive(Debug)]
pub struct LeafResolver {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for LeafResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn certified(leaf: &Leaf) -> Result<CertifiedKey, Error> {
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(leaf.chain.clone(), leaf.key.clone_key(), &provider)
        .map_err(|e| Error::System(format!("the issued certificate does not load: {e}")))
}

/// Issues leaves for `names` and renews them.
pub struct Issuer {
    authority: Authority,
    names: Vec<LeafName>,
    lifetime: Duration,
}

impl Issuer {
    /// Issues the first leaf at once (so a name the CA refuses is an error
    /// before the port opens).
    pub fn start(
        authority: Authority,
        names: Vec<LeafName>,
        lifetime: Duration,
    ) -> Result<(Arc<LeafResolver>, Issuer, SystemTime), Error> {
        let leaf = authority.issue(&names, lifetime)?;
        let resolver = Arc::new(LeafResolver { current: ArcSwap::from_pointee(certified(&leaf)?) });
        Ok((resolver, Issuer { authority, names, lifetime }, leaf.not_after))
    }

    /// Runs forever: waits until a third of the leaf's life is left, then
    /// issues the next one. A failure is said and retried a minute later
    /// (the old leaf serves on meanwhile).
    pub async fn renew_forever(self, resolver: Arc<LeafResolver>, mut not_after: SystemTime) {
        loop {
            let left = not_after.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(left.saturating_sub(self.lifetime / 3).max(Duration::from_millis(100))).await;
            match self
                .authority
                .issue(&self.names, self.lifetime)
                .and_then(|leaf| Ok((certified(&leaf)?, leaf.not_after)))
            {
                Ok((key, until)) => {
                    resolver.current.store(Arc::new(key));
                    not_after = until;
                    say!("berth: renewed the certificate (valid until {})", humantime::format_rfc3339_seconds(until));
                }
                Err(e) => {
                    say!("berth: cannot renew the certificate ({e}); trying again in a minute");
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            }
        }
    }
}
