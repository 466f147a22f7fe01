//! IKE for the simulated router: the IKEv2 protocol ([`wire`], [`crypto`],
//! [`session`]) and the certificate authenticator. The authenticator
//! builds and validates a peer's certificate chain to a CA certificate of
//! the PKI store, checks revocation, and matches the peer's IKE identity
//! against the certificate, before any SA is programmed onto the card. The
//! crate does no I/O of its own (CRL fetching goes through
//! [`auth::CrlSource`], datagrams and timers through the daemon that drives
//! [`session`]); the gate that programs CHILD_SAs onto the card only for
//! authenticated peers is [`child`].

pub mod auth;
pub mod child;
pub mod crypto;
pub mod session;
pub mod wire;
