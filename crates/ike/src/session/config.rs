//! What one IKE SA is configured with: our identity, certificate and key,
//! the proposals we offer or accept, the traffic selectors, and timers.

use std::sync::Arc;
use std::time::Duration;

use espic_driver::{Cipher, Integrity};
use pki::key::KeyPair;

use crate::crypto::{DhGroup, IkeSuite};
use crate::wire::{Identification, TrafficSelector};

/// The ESP transforms of a CHILD_SA (the card's AES-CBC with HMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspSuite {
    /// Encryption.
    pub cipher: Cipher,
    /// Integrity.
    pub integrity: Integrity,
}

/// Retransmission of requests (RFC 7296 2.1): the first resend after
/// `timeout`, each later one after twice the previous wait, and the SA is
/// given up after `tries` resends without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    /// The first wait.
    pub timeout: Duration,
    /// Resends before giving up.
    pub tries: u32,
}

impl Default for Retransmit {
    fn default() -> Self {
        Retransmit {
            timeout: Duration::from_secs(2),
            tries: 4,
        }
    }
}

/// The UDP ports of IKE (500) and of NAT traversal (4500, RFC 3948);
/// both ends use the same pair (the lab moves them above 1024 to run
/// without privileges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// IKE.
    pub ike: u16,
    /// IKE after floating, and ESP in UDP.
    pub nat_t: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            ike: 500,
            nat_t: 4500,
        }
    }
}

/// Our side of one IKE SA.
#[derive(Clone)]
pub struct LocalConfig {
    /// The identity we send (IDi or IDr).
    pub id: Identification,
    /// Our certificate first, then intermediate CA certificates (DER).
    pub certs: Vec<Vec<u8>>,
    /// The key pair of our certificate.
    pub key: Arc<KeyPair>,
    /// IKE SA suites, most preferred first (the initiator offers the first
    /// suite's DH group in its KE).
    pub ike_suites: Vec<IkeSuite>,
    /// CHILD_SA suites, most preferred first.
    pub esp_suites: Vec<EspSuite>,
    /// Perfect forward secrecy for CHILD_SA rekeys (a KE in
    /// CREATE_CHILD_SA), if configured.
    pub pfs: Option<DhGroup>,
    /// Traffic on our side of the tunnel.
    pub local_ts: TrafficSelector,
    /// Traffic on the peer's side of the tunnel.
    pub remote_ts: TrafficSelector,
    /// The peer identity we expect; sent as IDr by an initiator.
    pub remote_id: Option<Identification>,
    /// SHA-1 hashes of the SubjectPublicKeyInfo of the CAs we trust (the
    /// CERTREQ payload).
    pub certreq: Vec<[u8; 20]>,
    /// Largest IKE datagram before IKE_AUTH is fragmented (RFC 7383), when
    /// the peer supports fragmentation.
    pub fragment_size: usize,
    /// Use UDP encapsulation (port 4500, RFC 3948) even without a NAT, by
    /// sending a NAT_DETECTION_SOURCE_IP that cannot match (as strongSwan's
    /// `encap = yes`): the simulator's data path is UDP.
    pub force_encap: bool,
    /// CHILD_SA lifetime (the card's time-based rekey is driven by IKE).
    pub child_lifetime: Duration,
    /// CHILD_SA byte lifetime on the card (0 = none); the soft limit is
    /// 90 % of it.
    pub child_lifetime_bytes: u64,
    /// Request retransmission.
    pub retransmit: Retransmit,
    /// Liveness checks: an empty INFORMATIONAL after this long without
    /// hearing from the peer.
    pub dpd: Option<Duration>,
    /// The UDP ports.
    pub ports: Ports,
}

impl std::fmt::Debug for LocalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalConfig")
            .field("id", &self.id)
            .field("certs", &self.certs.len())
            .field("ike_suites", &self.ike_suites)
            .field("esp_suites", &self.esp_suites)
            .field("local_ts", &self.local_ts)
            .field("remote_ts", &self.remote_ts)
            .finish_non_exhaustive()
    }
}
