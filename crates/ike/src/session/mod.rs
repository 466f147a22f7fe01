//! One IKEv2 SA as a state machine without I/O (RFC 7296): datagrams in
//! ([`IkeSa::handle`]), time in ([`IkeSa::tick`]), and [`Event`]s out:
//! datagrams to send, the peer's authentication verdict, CHILD_SAs to
//! program onto the card or to remove. The daemon owns sockets, timers and
//! the card; this module owns the protocol.
//!
//! Exchanges: IKE_SA_INIT (SA, KE, nonces, NAT detection, fragmentation
//! and signature-hash negotiation, INVALID_KE_PAYLOAD and COOKIE retries),
//! IKE_AUTH with certificates and signature AUTH (methods 1, 9/10 and 14)
//! carrying the first CHILD_SA, fragmented both ways (RFC 7383);
//! CREATE_CHILD_SA to rekey a CHILD_SA (with optional PFS); INFORMATIONAL
//! deletes (CHILD and IKE), liveness checks and error notifies. Requests
//! are retransmitted with exponential back-off; responses are cached and
//! resent when a request is retransmitted.

mod config;
mod cookie;
mod exchange;
mod peer;
mod stateless;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use espic_driver::SaSpec;

pub use config::{EspSuite, LocalConfig, Ports, Retransmit};
pub use cookie::{CookieCheck, CookieJar};
pub use exchange::peek;
pub use peer::{PeerCheck, certificates, identification, peer_id, public_key};
pub use stateless::error_reply;

use crate::auth::{PeerId, Refusal};
use crate::crypto::{DhSecret, IkeKeys, IkeSuite};
use crate::wire::{Exchange, TrafficSelector};

/// How long a responder keeps an IKE SA whose IKE_AUTH has not come.
pub const HALF_OPEN_LIFETIME: Duration = Duration::from_secs(30);

/// Which end of the IKE SA we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent IKE_SA_INIT.
    Initiator,
    /// The peer did.
    Responder,
}

/// Where the IKE SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Initiator: IKE_AUTH sent. Responder: IKE_SA_INIT answered.
    AuthPending,
    /// Authenticated both ways.
    Established,
    /// A delete of the IKE SA is under way.
    Deleting,
    /// Gone: failed, deleted or timed out.
    Closed,
}

impl State {
    /// The Junos word for `show security ike security-associations`.
    pub fn show(self) -> &'static str {
        match self {
            State::InitSent | State::AuthPending => "DOWN",
            State::Established => "UP",
            State::Deleting => "DELETING",
            State::Closed => "DOWN",
        }
    }
}

/// A datagram for the daemon to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The IKE message (without the non-ESP marker).
    pub datagram: Vec<u8>,
    /// Where to.
    pub to: SocketAddr,
    /// Send from port 4500 with the non-ESP marker (RFC 3948).
    pub encap: bool,
}

/// A CHILD_SA as the IKE SA knows it (its keys went to the card only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// Our (inbound) SPI.
    pub spi_in: u32,
    /// The peer's (outbound) SPI.
    pub spi_out: u32,
    /// Transforms.
    pub suite: EspSuite,
    /// Our traffic selector.
    pub local_ts: TrafficSelector,
    /// The peer's traffic selector.
    pub remote_ts: TrafficSelector,
    /// When it was created.
    pub created: Duration,
    /// Its lifetime (rekeyed at 90 %).
    pub lifetime: Duration,
    /// ESP in UDP.
    pub encap: bool,
    /// A rekey is under way (or done, waiting for the old one's delete).
    pub rekeying: bool,
}

/// A CHILD_SA to program onto the card.
#[derive(Debug, Clone)]
pub struct ChildUp {
    /// What the IKE SA records of it.
    pub info: ChildInfo,
    /// The inbound SA.
    pub inbound: SaSpec,
    /// The outbound SA.
    pub outbound: SaSpec,
    /// The inbound SPI of the CHILD_SA this one rekeys.
    pub replaces: Option<u32>,
    /// Keep sending on the CHILD_SA this one replaces as long as it exists.
    pub hold_outbound: bool,
}

/// What the daemon is told to do or to know.
#[derive(Debug, Clone)]
pub enum Event {
    /// Send a datagram.
    Send(Transmit),
    /// The peer's certificate and AUTH were accepted.
    Authenticated(PeerInfo),
    /// The peer was refused (the reason is also sent or logged).
    Refused {
        /// Its identity, when it got that far.
        id: Option<PeerId>,
        /// Its certificate's subject, when it got that far.
        subject: Option<String>,
        /// Why.
        refusal: Refusal,
    },
    /// The IKE SA is established.
    Established,
    /// Program a CHILD_SA pair.
    ChildUp(Box<ChildUp>),
    /// Remove a CHILD_SA pair from the card.
    ChildDown {
        /// Our SPI.
        spi_in: u32,
        /// The peer's SPI.
        spi_out: u32,
        /// Why.
        reason: String,
    },
    /// The IKE SA is gone; every CHILD_SA of it was reported down.
    Closed(String),
}

/// Why a datagram was dropped: logged by the daemon, never answered
/// unless [`IkeSa::handle`] queued a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Drop {
    /// The bytes are not an IKEv2 message.
    #[error("malformed message: {0}")]
    Wire(#[from] crate::wire::WireError),
    /// The SK payload did not decrypt or verify.
    #[error("encrypted payload: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    /// A message out of place (unexpected exchange, message ID, state).
    #[error("{0}")]
    Unexpected(String),
}

/// A request of ours waiting for its response.
struct Outstanding {
    message_id: u32,
    exchange: Exchange,
    datagrams: Vec<Vec<u8>>,
    next_at: Duration,
    wait: Duration,
    resent: u32,
    what: Request,
}

/// What our outstanding request is about.
enum Request {
    Init,
    Auth { spi_in: u32 },
    Rekey(Box<RekeyState>),
    DeleteChild { spi_in: u32 },
    DeleteIke,
    Liveness,
}

struct RekeyState {
    old_spi_in: u32,
    spi_in: u32,
    nonce: Vec<u8>,
    dh: Option<DhSecret>,
    suite_offer: Vec<EspSuite>,
}

/// Requests waiting for the outstanding one to finish (window size 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Rekey(u32),
    DeleteChild(u32),
    DeleteIke,
    Liveness,
}

/// An incoming fragmented message being put together (RFC 7383 2.6).
struct Reassembly {
    message_id: u32,
    response: bool,
    total: u16,
    first_inner: u8,
    parts: BTreeMap<u16, Vec<u8>>,
}

/// One IKE SA.
pub struct IkeSa {
    cfg: LocalConfig,
    role: Role,
    state: State,
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
    encap: bool,
    /// IKE messages go over port 4500 with the non-ESP marker.
    floated: bool,
    nat_local: bool,
    nat_remote: bool,
    suite: Option<IkeSuite>,
    keys: Option<IkeKeys>,
    dh: Option<DhSecret>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    init_req: Vec<u8>,
    init_resp: Vec<u8>,
    cookie: Option<Vec<u8>>,
    peer_fragmentation: bool,
    peer_hashes: Option<Vec<u16>>,
    next_id: u32,
    peer_next: u32,
    last_response: Option<(u32, Vec<Vec<u8>>)>,
    outstanding: Option<Outstanding>,
    queue: VecDeque<Pending>,
    reassembly: Option<Reassembly>,
    children: Vec<ChildInfo>,
    peer: Option<PeerInfo>,
    established_at: Option<Duration>,
    last_heard: Duration,
    events: Vec<Event>,
}

impl std::fmt::Debug for IkeSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeSa")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("spi_i", &format_args!("{:016x}", self.spi_i))
            .field("spi_r", &format_args!("{:016x}", self.spi_r))
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// The authenticated peer as `show` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its IKE identity.
    pub id: PeerId,
    /// Its certificate's subject.
    pub subject: String,
    /// Its certificate's serial number (hex).
    pub serial: String,
}

/// A snapshot for `show security ike security-associations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Our role.
    pub role: Role,
    /// State.
    pub state: State,
    /// Initiator SPI.
    pub spi_i: u64,
    /// Responder SPI.
    pub spi_r: u64,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The negotiated suite.
    pub suite: Option<IkeSuite>,
    /// The authenticated peer.
    pub peer: Option<PeerInfo>,
    /// NAT-T in use.
    pub encap: bool,
    /// We are behind a NAT.
    pub nat_local: bool,
    /// The peer is behind a NAT.
    pub nat_remote: bool,
    /// When it was established.
    pub established_at: Option<Duration>,
    /// Its CHILD_SAs.
    pub children: Vec<ChildInfo>,
    /// Our next request's message ID.
    pub next_message_id: u32,
    /// The peer's next request's message ID.
    pub peer_message_id: u32,
}

impl IkeSa {
    /// Our SPI for this SA (the daemon's key).
    pub fn local_spi(&self) -> u64 {
        match self.role {
            Role::Initiator => self.spi_i,
            Role::Responder => self.spi_r,
        }
    }

    /// The initiator's SPI.
    pub fn spi_i(&self) -> u64 {
        self.spi_i
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's address (updated when it moves, e.g. to port 4500).
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The CHILD_SAs.
    pub fn children(&self) -> &[ChildInfo] {
        &self.children
    }

    /// Takes the events produced so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// What `show` needs.
    pub fn summary(&self) -> Summary {
        Summary {
            role: self.role,
            state: self.state,
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            local: self.local,
            remote: self.remote,
            suite: self.suite,
            peer: self.peer.clone(),
            encap: self.encap,
            nat_local: self.nat_local,
            nat_remote: self.nat_remote,
            established_at: self.established_at,
            children: self.children.clone(),
            next_message_id: self.next_id,
            peer_message_id: self.peer_next,
        }
    }

    /// Asks for a rekey of the CHILD_SA with inbound SPI `spi_in` (the
    /// card's soft lifetime, or its age).
    pub fn rekey_child(&mut self, spi_in: u32, now: Duration) {
        let Some(c) = self.children.iter_mut().find(|c| c.spi_in == spi_in) else {
            return;
        };
        if c.rekeying || self.state != State::Established {
            return;
        }
        c.rekeying = true;
        self.queue.push_back(Pending::Rekey(spi_in));
        self.pump(now);
    }

    /// Asks for the delete of the IKE SA and all its CHILD_SAs.
    pub fn delete(&mut self, now: Duration) {
        if matches!(self.state, State::Closed | State::Deleting) {
            return;
        }
        if self.state != State::Established {
            self.close("deleted before it was established");
            return;
        }
        self.queue.push_back(Pending::DeleteIke);
        self.pump(now);
    }

    /// A CHILD_SA reached its hard lifetime on the card: it is gone there;
    /// tell the peer.
    pub fn child_expired(&mut self, spi_in: u32, now: Duration) {
        if let Some(pos) = self.children.iter().position(|c| c.spi_in == spi_in) {
            let c = self.children.remove(pos);
            self.events.push(Event::ChildDown {
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                reason: "hard lifetime expired".into(),
            });
            if self.state == State::Established {
                self.queue.push_back(Pending::DeleteChild(c.spi_in));
                self.pump(now);
            }
        }
    }

    /// Timers: retransmission, liveness, CHILD_SA age.
    pub fn tick(&mut self, now: Duration) {
        if self.state == State::Closed {
            return;
        }
        // A responder whose IKE_AUTH never comes gives the state up once
        // an initiator would have given up retransmitting.
        if self.role == Role::Responder
            && self.state == State::AuthPending
            && now >= self.last_heard + HALF_OPEN_LIFETIME
        {
            self.close("half-open: no IKE_AUTH after IKE_SA_INIT");
            return;
        }
        if let Some(out) = &mut self.outstanding
            && now >= out.next_at
        {
            if out.resent >= self.cfg.retransmit.tries {
                let what = format!(
                    "no response to {:?} request {}",
                    out.exchange, out.message_id
                );
                self.outstanding = None;
                self.close(&format!("peer not responding ({what})"));
                return;
            }
            out.resent += 1;
            out.wait *= 2;
            out.next_at = now + out.wait;
            let again: Vec<Vec<u8>> = out.datagrams.clone();
            tracing::debug!(target: "ike", "retransmitting request {} ({} datagrams)", out.message_id, again.len());
            for d in again {
                self.send(d);
            }
        }
        if self.state == State::Established {
            if let Some(dpd) = self.cfg.dpd
                && now >= self.last_heard + dpd
                && self.outstanding.is_none()
                && !self.queue.contains(&Pending::Liveness)
            {
                self.queue.push_back(Pending::Liveness);
            }
            let life = self.cfg.child_lifetime;
            if !life.is_zero() {
                let due: Vec<u32> = self
                    .children
                    .iter()
                    .filter(|c| !c.rekeying && now >= c.created + life * 9 / 10)
                    .map(|c| c.spi_in)
                    .collect();
                for spi in due {
                    self.rekey_child(spi, now);
                }
            }
            self.pump(now);
        }
    }

    /// Closes the SA: every CHILD_SA down, then [`Event::Closed`].
    fn close(&mut self, why: &str) {
        if self.state == State::Closed {
            return;
        }
        for c in std::mem::take(&mut self.children) {
            self.events.push(Event::ChildDown {
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                reason: why.to_string(),
            });
        }
        self.state = State::Closed;
        self.outstanding = None;
        self.queue.clear();
        tracing::info!(target: "ike", "IKE SA {:016x}:{:016x} with {} closed: {why}", self.spi_i, self.spi_r, self.remote);
        self.events.push(Event::Closed(why.to_string()));
    }

    fn send(&mut self, datagram: Vec<u8>) {
        self.events.push(Event::Send(Transmit {
            datagram,
            to: self.remote,
            encap: self.floated,
        }));
    }
}

/// 32 random bits that are not zero (an SPI).
pub(crate) fn random_u32() -> u32 {
    loop {
        let mut b = [0u8; 4];
        if getrandom::fill(&mut b).is_ok() {
            let v = u32::from_be_bytes(b);
            if v >= 256 {
                return v;
            }
        }
    }
}

/// 64 random bits that are not zero (an IKE SPI).
pub(crate) fn random_u64() -> u64 {
    loop {
        let mut b = [0u8; 8];
        if getrandom::fill(&mut b).is_ok() {
            let v = u64::from_be_bytes(b);
            if v != 0 {
                return v;
            }
        }
    }
}

/// `n` random bytes (a nonce).
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    while getrandom::fill(&mut b).is_err() {}
    b
}
