//! IKE for the simulated router. So far the authenticator: it builds and
//! validates a peer's certificate chain to a CA certificate of the PKI
//! store, checks revocation, and matches the peer's IKE identity against
//! the certificate, before any SA is programmed onto the card. It does no
//! I/O of its own (CRL fetching goes through [`auth::CrlSource`]); and the
//! gate that programs CHILD_SAs onto the card only for authenticated
//! peers ([`child`]).

pub mod auth;
pub mod child;
