//! The exchanges of an IKE SA: building requests, answering the peer's,
//! and taking in the answers to ours.

use std::net::SocketAddr;
use std::time::Duration;

use espic_driver::{Cipher, Direction, Integrity, Lifetimes, SaSpec};

use super::{
    ChildInfo, ChildUp, Drop, EspSuite, Event, IkeSa, LocalConfig, Outstanding, PeerCheck, Pending,
    Reassembly, RekeyState, Request, Role, State, peer, random_bytes, random_u32, random_u64,
};
use crate::auth::{PeerId, Refusal};
use crate::crypto::{self, DhGroup, DhSecret, IkeKeys, IkeSuite};
use crate::wire::{
    self, Auth, Body, Cert, Delete, Exchange, Header, Identification, Ke, Message, Notify, Payload,
    Proposal, TrafficSelector, Transform, flags, notify, protocol, transform_type,
};

/// The nonce length we send (RFC 7296: at least half the PRF key size).
const NONCE_LEN: usize = 32;

/// The payloads of a message, looked up by kind.
struct Payloads(Vec<Payload>);

impl Payloads {
    fn sa(&self) -> Option<&Vec<Proposal>> {
        self.0.iter().find_map(|p| match p {
            Payload::Sa(v) => Some(v),
            _ => None,
        })
    }
    fn ke(&self) -> Option<&Ke> {
        self.0.iter().find_map(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
    }
    fn nonce(&self) -> Option<&Vec<u8>> {
        self.0.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n),
            _ => None,
        })
    }
    fn idi(&self) -> Option<&Identification> {
        self.0.iter().find_map(|p| match p {
            Payload::IdI(i) => Some(i),
            _ => None,
        })
    }
    fn idr(&self) -> Option<&Identification> {
        self.0.iter().find_map(|p| match p {
            Payload::IdR(i) => Some(i),
            _ => None,
        })
    }
    fn auth(&self) -> Option<&Auth> {
        self.0.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        })
    }
    fn certs(&self) -> Vec<Vec<u8>> {
        self.0
            .iter()
            .filter_map(|p| match p {
                Payload::Cert(c) if c.encoding == wire::cert_encoding::X509_SIGNATURE => {
                    Some(c.data.clone())
                }
                _ => None,
            })
            .collect()
    }
    fn tsi(&self) -> Option<&Vec<TrafficSelector>> {
        self.0.iter().find_map(|p| match p {
            Payload::TsI(t) => Some(t),
            _ => None,
        })
    }
    fn tsr(&self) -> Option<&Vec<TrafficSelector>> {
        self.0.iter().find_map(|p| match p {
            Payload::TsR(t) => Some(t),
            _ => None,
        })
    }
    fn notifies(&self) -> impl Iterator<Item = &Notify> {
        self.0.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }
    fn notify(&self, kind: u16) -> Option<&Notify> {
        self.notifies().find(|n| n.kind == kind)
    }
    fn error(&self) -> Option<u16> {
        self.notifies()
            .map(|n| n.kind)
            .find(|k| notify::is_error(*k))
    }
    fn deletes(&self) -> impl Iterator<Item = &Delete> {
        self.0.iter().filter_map(|p| match p {
            Payload::Delete(d) => Some(d),
            _ => None,
        })
    }
}

/// A refused peer: what was known of it, and why.
struct Refused {
    id: Option<PeerId>,
    subject: Option<String>,
    refusal: Refusal,
}

impl Refused {
    fn new(id: Option<PeerId>, subject: Option<String>, refusal: Refusal) -> Box<Refused> {
        Box::new(Refused {
            id,
            subject,
            refusal,
        })
    }
}

fn note(kind: u16, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify {
        protocol: 0,
        spi: Vec::new(),
        kind,
        data,
    })
}

fn unexpected(what: impl Into<String>) -> Drop {
    Drop::Unexpected(what.into())
}

// ---- proposals -----------------------------------------------------------

fn ike_proposal(number: u8, s: &IkeSuite) -> Proposal {
    Proposal {
        number,
        protocol: protocol::IKE,
        spi: Vec::new(),
        transforms: vec![
            Transform {
                kind: transform_type::ENCR,
                id: s.encr.id(),
                key_length: Some(s.encr.key_bits()),
            },
            Transform {
                kind: transform_type::PRF,
                id: s.prf.id(),
                key_length: None,
            },
            Transform {
                kind: transform_type::INTEG,
                id: s.integ.id(),
                key_length: None,
            },
            Transform {
                kind: transform_type::DH,
                id: s.dh.id(),
                key_length: None,
            },
        ],
    }
}

fn cipher_transform(c: Cipher) -> Transform {
    let bits = match c {
        Cipher::Aes128Cbc => 128,
        Cipher::Aes192Cbc => 192,
        Cipher::Aes256Cbc => 256,
    };
    Transform {
        kind: transform_type::ENCR,
        id: wire::encr::AES_CBC,
        key_length: Some(bits),
    }
}

fn integ_id(i: Integrity) -> u16 {
    match i {
        Integrity::HmacSha1_96 => wire::integ::HMAC_SHA1_96,
        Integrity::HmacSha256_128 => wire::integ::HMAC_SHA2_256_128,
    }
}

fn esp_proposal(number: u8, spi: u32, s: &EspSuite, pfs: Option<DhGroup>) -> Proposal {
    let mut transforms = vec![
        cipher_transform(s.cipher),
        Transform {
            kind: transform_type::INTEG,
            id: integ_id(s.integrity),
            key_length: None,
        },
    ];
    if let Some(g) = pfs {
        transforms.push(Transform {
            kind: transform_type::DH,
            id: g.id(),
            key_length: None,
        });
    }
    transforms.push(Transform {
        kind: transform_type::ESN,
        id: wire::esn::NO,
        key_length: None,
    });
    Proposal {
        number,
        protocol: protocol::ESP,
        spi: spi.to_be_bytes().to_vec(),
        transforms,
    }
}

fn has(p: &Proposal, t: &Transform) -> bool {
    p.transforms
        .iter()
        .any(|x| x.kind == t.kind && x.id == t.id && x.key_length == t.key_length)
}

fn kinds_only(p: &Proposal, allowed: &[u8]) -> bool {
    p.transforms.iter().all(|t| allowed.contains(&t.kind))
}

/// The responder's choice among the initiator's IKE proposals: the first
/// of theirs that holds all transforms of one of our suites.
fn choose_ike(offered: &[Proposal], ours: &[IkeSuite]) -> Option<(u8, IkeSuite)> {
    for p in offered.iter().filter(|p| p.protocol == protocol::IKE) {
        for s in ours {
            let want = ike_proposal(p.number, s);
            if want.transforms.iter().all(|t| has(p, t)) {
                return Some((p.number, *s));
            }
        }
    }
    None
}

/// The suite in the responder's single chosen IKE proposal.
fn accepted_ike(chosen: &[Proposal], ours: &[IkeSuite]) -> Option<IkeSuite> {
    let [p] = chosen else { return None };
    let s = ours.iter().find(|s| {
        let want = ike_proposal(p.number, s);
        want.transforms.iter().all(|t| has(p, t)) && p.transforms.len() == want.transforms.len()
    })?;
    Some(*s)
}

/// The choice among ESP proposals: (number, peer's SPI, suite).
fn choose_esp(
    offered: &[Proposal],
    ours: &[EspSuite],
    pfs: Option<DhGroup>,
) -> Option<(u8, u32, EspSuite, Option<DhGroup>)> {
    for p in offered.iter().filter(|p| p.protocol == protocol::ESP) {
        let Ok(spi) = <[u8; 4]>::try_from(p.spi.as_slice()) else {
            continue;
        };
        if !kinds_only(
            p,
            &[
                transform_type::ENCR,
                transform_type::INTEG,
                transform_type::DH,
                transform_type::ESN,
            ],
        ) {
            continue;
        }
        let esn_ok = !p.transforms.iter().any(|t| t.kind == transform_type::ESN)
            || p.transforms
                .iter()
                .any(|t| t.kind == transform_type::ESN && t.id == wire::esn::NO);
        if !esn_ok {
            continue;
        }
        // PFS: the peer's DH transform, if any, must be one we allow.
        let dh = p
            .transforms
            .iter()
            .find(|t| t.kind == transform_type::DH && t.id != 0);
        let group = match dh {
            None => None,
            Some(t) => match DhGroup::from_id(t.id) {
                Some(g) if pfs.is_none() || pfs == Some(g) => Some(g),
                _ => continue,
            },
        };
        for s in ours {
            if has(p, &cipher_transform(s.cipher))
                && has(
                    p,
                    &Transform {
                        kind: transform_type::INTEG,
                        id: integ_id(s.integrity),
                        key_length: None,
                    },
                )
            {
                return Some((p.number, u32::from_be_bytes(spi), *s, group));
            }
        }
    }
    None
}

// ---- traffic selectors ---------------------------------------------------

/// The responder's narrowing (RFC 7296 2.9): the initiator's selectors if
/// they fit inside ours, else ours if they fit inside the initiator's.
fn narrow(offered: &[TrafficSelector], ours: &TrafficSelector) -> Option<TrafficSelector> {
    if let Some(t) = offered.iter().find(|t| ours.contains(t)) {
        return Some(t.clone());
    }
    offered
        .iter()
        .any(|t| t.contains(ours))
        .then(|| ours.clone())
}

// ---- SA specs for the card -----------------------------------------------

impl IkeSa {
    fn child_specs(
        &self,
        suite: EspSuite,
        spi_in: u32,
        spi_out: u32,
        keys: &crypto::ChildKeys,
        we_initiated: bool,
    ) -> (SaSpec, SaSpec) {
        let (out_enc, out_auth, in_enc, in_auth) = if we_initiated {
            (&keys.ei, &keys.ai, &keys.er, &keys.ar)
        } else {
            (&keys.er, &keys.ar, &keys.ei, &keys.ai)
        };
        let bytes = self.cfg.child_lifetime_bytes;
        let lifetimes = Lifetimes {
            soft_bytes: bytes / 10 * 9,
            hard_bytes: bytes,
            soft_packets: 0,
            hard_packets: 0,
        };
        let nat_t = self.cfg.ports.nat_t;
        let remote_port = if self.remote.port() == self.cfg.ports.ike {
            nat_t
        } else {
            self.remote.port()
        };
        let inbound = SaSpec {
            spi: spi_in,
            direction: Direction::Inbound,
            cipher: suite.cipher,
            enc_key: in_enc.to_vec(),
            integrity: suite.integrity,
            auth_key: in_auth.to_vec(),
            tunnel_src: self.remote.ip(),
            tunnel_dst: self.local.ip(),
            udp_encap: self.encap.then_some((remote_port, nat_t)),
            replay_window: 64,
            lifetimes,
            initial_seq: 0,
        };
        let outbound = SaSpec {
            spi: spi_out,
            direction: Direction::Outbound,
            cipher: suite.cipher,
            enc_key: out_enc.to_vec(),
            integrity: suite.integrity,
            auth_key: out_auth.to_vec(),
            tunnel_src: self.local.ip(),
            tunnel_dst: self.remote.ip(),
            udp_encap: self.encap.then_some((nat_t, remote_port)),
            replay_window: 0,
            lifetimes,
            initial_seq: 0,
        };
        (inbound, outbound)
    }

    /// Derives the KEYMAT and reports the pair. The i->r keys belong to
    /// whoever initiated the exchange that made it (RFC 7296 2.17), which
    /// for CREATE_CHILD_SA need not be the IKE SA's initiator.
    #[allow(clippy::too_many_arguments)]
    fn child_up(
        &mut self,
        suite: EspSuite,
        spi_in: u32,
        spi_out: u32,
        g_ir: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        we_initiated: bool,
        local_ts: TrafficSelector,
        remote_ts: TrafficSelector,
        replaces: Option<u32>,
        now: Duration,
    ) {
        let Some(keys) = &self.keys else { return };
        let ck = crypto::child_keys(
            keys.suite.prf,
            &keys.sk_d,
            g_ir,
            ni,
            nr,
            suite.cipher.key_len(),
            suite.integrity.key_len(),
        );
        let (inbound, outbound) = self.child_specs(suite, spi_in, spi_out, &ck, we_initiated);
        let info = ChildInfo {
            spi_in,
            spi_out,
            suite,
            local_ts,
            remote_ts,
            created: now,
            lifetime: self.cfg.child_lifetime,
            encap: self.encap,
            rekeying: false,
        };
        tracing::info!(
            target: "ike",
            "CHILD_SA established with SPIs {spi_in:08x}_i {spi_out:08x}_o ({:?}/{:?}){}",
            suite.cipher,
            suite.integrity,
            replaces.map(|r| format!(", replaces {r:08x}_i")).unwrap_or_default()
        );
        self.children.push(info.clone());
        self.events.push(Event::ChildUp(Box::new(ChildUp {
            info,
            inbound,
            outbound,
            replaces,
            // The responder of a rekey keeps sending on the old pair until
            // the initiator, which has the new inbound SA only once our
            // answer arrives, deletes it (RFC 7296 2.8).
            hold_outbound: replaces.is_some() && !we_initiated,
        })));
    }
}

// ---- sending -------------------------------------------------------------

impl IkeSa {
    fn header(&self, exchange: Exchange, response: bool, message_id: u32) -> Header {
        let mut f = 0;
        if self.role == Role::Initiator {
            f |= flags::INITIATOR;
        }
        if response {
            f |= flags::RESPONSE;
        }
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: 0,
            version: 0x20,
            exchange,
            flags: f,
            message_id,
            length: 0,
        }
    }

    /// Encrypts `payloads` into one datagram, or into fragments when the
    /// peer supports them and the message is larger than the limit.
    fn seal(
        &self,
        exchange: Exchange,
        response: bool,
        message_id: u32,
        payloads: &[Payload],
    ) -> Result<Vec<Vec<u8>>, Drop> {
        let keys = self
            .keys
            .as_ref()
            .ok_or_else(|| unexpected("no keys yet"))?;
        let h = self.header(exchange, response, message_id);
        let (first, inner) = wire::encode_payloads(payloads);
        let sender_is_initiator = self.role == Role::Initiator;
        let estimate = wire::HEADER_LEN + 4 + 16 + inner.len() + 16 + keys.suite.integ.icv_len();
        if self.peer_fragmentation && estimate > self.cfg.fragment_size {
            let prefix = |len: usize, n: u16, t: u16| {
                wire::encode_encrypted_prefix(&h, if n == 1 { first } else { 0 }, len, Some((n, t)))
            };
            Ok(crypto::seal_fragments(
                keys,
                sender_is_initiator,
                &inner,
                self.cfg.fragment_size,
                &prefix,
            )?)
        } else {
            let prefix = |len: usize| wire::encode_encrypted_prefix(&h, first, len, None);
            Ok(vec![crypto::seal(
                keys,
                sender_is_initiator,
                &inner,
                &prefix,
            )?])
        }
    }

    /// Sends a new request (the caller checked nothing is outstanding).
    fn request(
        &mut self,
        exchange: Exchange,
        payloads: &[Payload],
        what: Request,
        now: Duration,
    ) -> Result<(), Drop> {
        let id = self.next_id;
        let datagrams = self.seal(exchange, false, id, payloads)?;
        self.next_id = self.next_id.wrapping_add(1);
        for d in &datagrams {
            self.send(d.clone());
        }
        let wait = self.cfg.retransmit.timeout;
        self.outstanding = Some(Outstanding {
            message_id: id,
            exchange,
            datagrams,
            next_at: now + wait,
            wait,
            resent: 0,
            what,
        });
        Ok(())
    }

    /// Answers the peer's request `message_id` and caches the answer.
    fn respond(
        &mut self,
        exchange: Exchange,
        message_id: u32,
        payloads: &[Payload],
    ) -> Result<(), Drop> {
        let datagrams = self.seal(exchange, true, message_id, payloads)?;
        for d in &datagrams {
            self.send(d.clone());
        }
        self.last_response = Some((message_id, datagrams));
        Ok(())
    }

    /// Starts the next queued request if none is outstanding.
    pub(super) fn pump(&mut self, now: Duration) {
        while self.outstanding.is_none() && self.state == State::Established {
            let Some(next) = self.queue.pop_front() else {
                return;
            };
            let r = match next {
                Pending::Rekey(spi) => self.start_rekey(spi, now),
                Pending::DeleteChild(spi) => {
                    let d = Payload::Delete(Delete {
                        protocol: protocol::ESP,
                        spis: vec![spi.to_be_bytes().to_vec()],
                    });
                    self.request(
                        Exchange::Informational,
                        &[d],
                        Request::DeleteChild { spi_in: spi },
                        now,
                    )
                }
                Pending::DeleteIke => {
                    let d = Payload::Delete(Delete {
                        protocol: protocol::IKE,
                        spis: Vec::new(),
                    });
                    self.state = State::Deleting;
                    let r = self.request(Exchange::Informational, &[d], Request::DeleteIke, now);
                    if r.is_ok() {
                        return;
                    }
                    r
                }
                Pending::Liveness => {
                    self.request(Exchange::Informational, &[], Request::Liveness, now)
                }
            };
            if let Err(e) = r {
                tracing::warn!(target: "ike", "cannot send a request: {e}");
            }
        }
    }
}

// ---- IKE_SA_INIT -----------------------------------------------------------

impl IkeSa {
    fn blank(
        cfg: LocalConfig,
        role: Role,
        local: SocketAddr,
        remote: SocketAddr,
        now: Duration,
    ) -> IkeSa {
        IkeSa {
            cfg,
            role,
            state: State::InitSent,
            spi_i: 0,
            spi_r: 0,
            local,
            remote,
            encap: false,
            floated: false,
            nat_local: false,
            nat_remote: false,
            suite: None,
            keys: None,
            dh: None,
            ni: Vec::new(),
            nr: Vec::new(),
            init_req: Vec::new(),
            init_resp: Vec::new(),
            cookie: None,
            peer_fragmentation: false,
            peer_hashes: None,
            next_id: 0,
            peer_next: 0,
            last_response: None,
            outstanding: None,
            queue: Default::default(),
            reassembly: None,
            children: Vec::new(),
            peer: None,
            established_at: None,
            last_heard: now,
            events: Vec::new(),
        }
    }

    /// NAT_DETECTION_SOURCE_IP and _DESTINATION_IP for a message with
    /// these SPIs; the source hash cannot match when encapsulation is
    /// forced.
    fn nat_notifies(&self, spi_r: u64) -> [Payload; 2] {
        let src = if self.cfg.force_encap {
            crypto::nat_hash(self.spi_i, spi_r, std::net::Ipv4Addr::UNSPECIFIED.into(), 0)
        } else {
            crypto::nat_hash(self.spi_i, spi_r, self.local.ip(), self.local.port())
        };
        let dst = crypto::nat_hash(self.spi_i, spi_r, self.remote.ip(), self.remote.port());
        [
            note(notify::NAT_DETECTION_SOURCE_IP, src.to_vec()),
            note(notify::NAT_DETECTION_DESTINATION_IP, dst.to_vec()),
        ]
    }

    /// Reads the peer's NAT detection notifies of a message with `spi_r`.
    fn detect_nat(&mut self, p: &Payloads, spi_r: u64) {
        let src_want = crypto::nat_hash(self.spi_i, spi_r, self.remote.ip(), self.remote.port());
        let dst_want = crypto::nat_hash(self.spi_i, spi_r, self.local.ip(), self.local.port());
        let sources: Vec<&Notify> = p
            .notifies()
            .filter(|n| n.kind == notify::NAT_DETECTION_SOURCE_IP)
            .collect();
        if let Some(d) = p.notify(notify::NAT_DETECTION_DESTINATION_IP) {
            self.nat_local = d.data != dst_want;
        }
        if !sources.is_empty() {
            self.nat_remote = !sources.iter().any(|n| n.data == src_want);
        }
        self.encap = self.cfg.force_encap || self.nat_local || self.nat_remote;
    }

    fn read_capabilities(&mut self, p: &Payloads) {
        self.peer_fragmentation = p.notify(notify::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        self.peer_hashes = p.notify(notify::SIGNATURE_HASH_ALGORITHMS).map(|n| {
            n.data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect()
        });
    }

    fn capability_notifies(&self) -> Vec<Payload> {
        let hashes: Vec<u8> = crypto::SIGNATURE_HASHES
            .iter()
            .flat_map(|h| h.to_be_bytes())
            .collect();
        vec![
            note(notify::IKEV2_FRAGMENTATION_SUPPORTED, Vec::new()),
            note(notify::SIGNATURE_HASH_ALGORITHMS, hashes),
        ]
    }

    /// Starts an IKE SA to `remote` from `local` as initiator: sends
    /// IKE_SA_INIT.
    pub fn initiate(
        cfg: LocalConfig,
        local: SocketAddr,
        remote: SocketAddr,
        now: Duration,
    ) -> Result<IkeSa, Drop> {
        let mut sa = IkeSa::blank(cfg, Role::Initiator, local, remote, now);
        sa.spi_i = random_u64();
        let group = sa
            .cfg
            .ike_suites
            .first()
            .map(|s| s.dh)
            .ok_or_else(|| unexpected("no IKE proposal configured"))?;
        sa.send_init(group, now)?;
        Ok(sa)
    }

    fn send_init(&mut self, group: DhGroup, now: Duration) -> Result<(), Drop> {
        let (dh, public) = DhSecret::generate(group)?;
        self.dh = Some(dh);
        if self.ni.is_empty() {
            self.ni = random_bytes(NONCE_LEN);
        }
        let mut payloads = Vec::new();
        if let Some(c) = &self.cookie {
            payloads.push(note(notify::COOKIE, c.clone()));
        }
        // Proposals with the KE's group first (RFC 7296 1.2).
        let mut suites: Vec<IkeSuite> = self
            .cfg
            .ike_suites
            .iter()
            .filter(|s| s.dh == group)
            .copied()
            .collect();
        suites.extend(
            self.cfg
                .ike_suites
                .iter()
                .filter(|s| s.dh != group)
                .copied(),
        );
        payloads.push(Payload::Sa(
            suites
                .iter()
                .enumerate()
                .map(|(i, s)| ike_proposal(i as u8 + 1, s))
                .collect(),
        ));
        payloads.push(Payload::Ke(Ke {
            group: group.id(),
            data: public,
        }));
        payloads.push(Payload::Nonce(self.ni.clone()));
        payloads.extend(self.nat_notifies(0));
        payloads.extend(self.capability_notifies());
        let h = self.header(Exchange::IkeSaInit, false, 0);
        let d = wire::encode_plain(&h, &payloads);
        self.init_req = d.clone();
        self.send(d.clone());
        let wait = self.cfg.retransmit.timeout;
        self.outstanding = Some(Outstanding {
            message_id: 0,
            exchange: Exchange::IkeSaInit,
            datagrams: vec![d],
            next_at: now + wait,
            wait,
            resent: 0,
            what: Request::Init,
        });
        self.next_id = 1;
        Ok(())
    }

    /// A new responder SA for an IKE_SA_INIT request from `from`. The SA
    /// may be closed at once (no acceptable proposal, another DH group
    /// wanted): its events hold the answer to send.
    pub fn respond_init(
        cfg: LocalConfig,
        local: SocketAddr,
        from: SocketAddr,
        datagram: &[u8],
        now: Duration,
    ) -> Result<IkeSa, Drop> {
        let msg = wire::parse_message(datagram)?;
        let h = msg.header;
        if h.exchange != Exchange::IkeSaInit || h.is_response() || h.message_id != 0 || h.spi_r != 0
        {
            return Err(unexpected("not an IKE_SA_INIT request"));
        }
        let Body::Plain(payloads) = msg.body else {
            return Err(unexpected("IKE_SA_INIT is not encrypted"));
        };
        let p = Payloads(payloads);
        let mut sa = IkeSa::blank(cfg, Role::Responder, local, from, now);
        sa.spi_i = h.spi_i;
        sa.spi_r = random_u64();
        sa.state = State::AuthPending;
        let refuse = |sa: &mut IkeSa, kind: u16, data: Vec<u8>, why: &str| {
            let mut hh = sa.header(Exchange::IkeSaInit, true, 0);
            hh.spi_r = 0;
            let d = wire::encode_plain(&hh, &[note(kind, data)]);
            sa.send(d);
            sa.state = State::Closed;
            tracing::info!(target: "ike", "IKE_SA_INIT from {from} refused: {why}");
        };
        let (Some(offered), Some(ke), Some(ni)) = (p.sa(), p.ke(), p.nonce()) else {
            refuse(
                &mut sa,
                notify::INVALID_SYNTAX,
                Vec::new(),
                "SA, KE or Nonce missing",
            );
            return Ok(sa);
        };
        let Some((number, suite)) = choose_ike(offered, &sa.cfg.ike_suites) else {
            refuse(
                &mut sa,
                notify::NO_PROPOSAL_CHOSEN,
                Vec::new(),
                "no acceptable IKE proposal",
            );
            return Ok(sa);
        };
        if ke.group != suite.dh.id() {
            refuse(
                &mut sa,
                notify::INVALID_KE_PAYLOAD,
                suite.dh.id().to_be_bytes().to_vec(),
                &format!("KE of group {}, we want {}", ke.group, suite.dh.id()),
            );
            return Ok(sa);
        }
        let (dh, public) = DhSecret::generate(suite.dh)?;
        let g_ir = match dh.shared(&ke.data) {
            Ok(g) => g,
            Err(e) => {
                refuse(
                    &mut sa,
                    notify::INVALID_SYNTAX,
                    Vec::new(),
                    &format!("bad KE: {e}"),
                );
                return Ok(sa);
            }
        };
        sa.detect_nat(&p, 0);
        sa.read_capabilities(&p);
        sa.ni = ni.clone();
        sa.nr = random_bytes(NONCE_LEN);
        sa.suite = Some(suite);
        let mut chosen = ike_proposal(number, &suite);
        chosen.number = number;
        let mut out = vec![
            Payload::Sa(vec![chosen]),
            Payload::Ke(Ke {
                group: suite.dh.id(),
                data: public,
            }),
            Payload::Nonce(sa.nr.clone()),
        ];
        out.extend(sa.nat_notifies(sa.spi_r));
        if !sa.cfg.certreq.is_empty() {
            out.push(Payload::CertReq(Cert {
                encoding: wire::cert_encoding::X509_SIGNATURE,
                data: sa.cfg.certreq.concat(),
            }));
        }
        out.extend(sa.capability_notifies());
        let hh = sa.header(Exchange::IkeSaInit, true, 0);
        let d = wire::encode_plain(&hh, &out);
        sa.init_req = datagram.to_vec();
        sa.init_resp = d.clone();
        sa.keys = Some(IkeKeys::derive(
            suite, &sa.ni, &sa.nr, &g_ir, sa.spi_i, sa.spi_r,
        ));
        sa.send(d.clone());
        sa.last_response = Some((0, vec![d]));
        sa.peer_next = 1;
        tracing::info!(
            target: "ike",
            "IKE_SA_INIT from {from} answered: {:?}/{:?}/{:?}/{:?}{}",
            suite.encr,
            suite.integ,
            suite.prf,
            suite.dh,
            if sa.encap { ", NAT-T" } else { "" }
        );
        Ok(sa)
    }

    fn on_init_response(
        &mut self,
        p: &Payloads,
        h: &Header,
        datagram: &[u8],
        now: Duration,
    ) -> Result<(), Drop> {
        if let Some(n) = p.notify(notify::COOKIE) {
            if self.cookie.is_some() {
                self.close("the responder asked for a cookie twice");
                return Ok(());
            }
            self.cookie = Some(n.data.clone());
            let group = self
                .dh
                .as_ref()
                .map(|d| d.group())
                .ok_or_else(|| unexpected("no DH"))?;
            return self.send_init(group, now);
        }
        if let Some(n) = p.notify(notify::INVALID_KE_PAYLOAD) {
            let wanted = <[u8; 2]>::try_from(n.data.as_slice())
                .ok()
                .map(u16::from_be_bytes);
            let group = wanted.and_then(DhGroup::from_id);
            match group {
                Some(g)
                    if self.cfg.ike_suites.iter().any(|s| s.dh == g)
                        && self.dh.as_ref().map(|d| d.group()) != Some(g) =>
                {
                    tracing::info!(target: "ike", "responder wants DH group {}: retrying", g.id());
                    return self.send_init(g, now);
                }
                _ => {
                    self.close("INVALID_KE_PAYLOAD for a group we do not offer");
                    return Ok(());
                }
            }
        }
        if let Some(e) = p.error() {
            self.close(&format!(
                "IKE_SA_INIT refused by the peer: {}",
                notify::name(e)
            ));
            return Ok(());
        }
        let (Some(chosen), Some(ke), Some(nr)) = (p.sa(), p.ke(), p.nonce()) else {
            return Err(unexpected("IKE_SA_INIT response without SA, KE or Nonce"));
        };
        let Some(suite) = accepted_ike(chosen, &self.cfg.ike_suites) else {
            self.close("the responder chose a proposal we did not offer");
            return Ok(());
        };
        let dh = self.dh.take().ok_or_else(|| unexpected("no DH"))?;
        if ke.group != suite.dh.id() || dh.group() != suite.dh {
            self.close("the responder's KE does not match the chosen group");
            return Ok(());
        }
        let g_ir = match dh.shared(&ke.data) {
            Ok(g) => g,
            Err(e) => {
                self.close(&format!("bad KE from the responder: {e}"));
                return Ok(());
            }
        };
        self.spi_r = h.spi_r;
        self.nr = nr.clone();
        self.suite = Some(suite);
        self.init_resp = datagram.to_vec();
        self.detect_nat(p, self.spi_r);
        self.read_capabilities(p);
        self.keys = Some(IkeKeys::derive(
            suite, &self.ni, &self.nr, &g_ir, self.spi_i, self.spi_r,
        ));
        self.outstanding = None;
        if self.encap && self.remote.port() != self.cfg.ports.nat_t {
            self.remote.set_port(self.cfg.ports.nat_t);
        }
        // RFC 7296 2.23: with a NAT (or forced encapsulation) the initiator
        // moves IKE to port 4500 from IKE_AUTH on.
        self.floated = self.encap;
        tracing::info!(
            target: "ike",
            "IKE_SA_INIT with {} done: {:?}/{:?}/{:?}/{:?}{}",
            self.remote,
            suite.encr,
            suite.integ,
            suite.prf,
            suite.dh,
            if self.encap { ", NAT-T on 4500" } else { "" }
        );
        self.send_auth(now)
    }
}

// ---- IKE_AUTH ----------------------------------------------------------------

impl IkeSa {
    fn our_auth(&self) -> Result<Auth, Drop> {
        let keys = self.keys.as_ref().ok_or_else(|| unexpected("no keys"))?;
        let (real, nonce, sk_p) = match self.role {
            Role::Initiator => (&self.init_req, &self.nr, &keys.sk_pi),
            Role::Responder => (&self.init_resp, &self.ni, &keys.sk_pr),
        };
        let octets = crypto::signed_octets(keys.suite.prf, sk_p, real, nonce, &self.cfg.id.body());
        let how = crypto::choose_signer(&self.cfg.key, self.peer_hashes.as_deref());
        let (method, data) = crypto::sign_auth(&self.cfg.key, how, &octets)?;
        Ok(Auth { method, data })
    }

    fn cert_payloads(&self) -> Vec<Payload> {
        self.cfg
            .certs
            .iter()
            .map(|c| {
                Payload::Cert(Cert {
                    encoding: wire::cert_encoding::X509_SIGNATURE,
                    data: c.clone(),
                })
            })
            .collect()
    }

    fn send_auth(&mut self, now: Duration) -> Result<(), Drop> {
        let spi_in = random_u32();
        let mut payloads = vec![Payload::IdI(self.cfg.id.clone())];
        payloads.extend(self.cert_payloads());
        payloads.push(note(notify::INITIAL_CONTACT, Vec::new()));
        if !self.cfg.certreq.is_empty() {
            payloads.push(Payload::CertReq(Cert {
                encoding: wire::cert_encoding::X509_SIGNATURE,
                data: self.cfg.certreq.concat(),
            }));
        }
        if let Some(r) = &self.cfg.remote_id {
            payloads.push(Payload::IdR(r.clone()));
        }
        payloads.push(Payload::Auth(self.our_auth()?));
        payloads.push(Payload::Sa(
            self.cfg
                .esp_suites
                .iter()
                .enumerate()
                .map(|(i, s)| esp_proposal(i as u8 + 1, spi_in, s, None))
                .collect(),
        ));
        payloads.push(Payload::TsI(vec![self.cfg.local_ts.clone()]));
        payloads.push(Payload::TsR(vec![self.cfg.remote_ts.clone()]));
        self.state = State::AuthPending;
        self.request(Exchange::IkeAuth, &payloads, Request::Auth { spi_in }, now)
    }

    /// Checks the peer's certificates, identity and AUTH; on success
    /// records the peer.
    fn authenticate_peer(
        &mut self,
        p: &Payloads,
        check: &mut dyn PeerCheck,
    ) -> Result<(), Box<Refused>> {
        let id_payload = match self.role {
            Role::Initiator => p.idr(),
            Role::Responder => p.idi(),
        }
        .ok_or_else(|| Refused::new(None, None, Refusal::Malformed("no ID payload".into())))?;
        let id = peer::peer_id(id_payload).map_err(|r| Refused::new(None, None, r))?;
        let (cert, untrusted) =
            peer::certificates(&p.certs()).map_err(|r| Refused::new(Some(id.clone()), None, r))?;
        let subject = pki::name::subject_string(cert.tbs_certificate().subject());
        let fail = |r: Refusal| Refused::new(Some(id.clone()), Some(subject.clone()), r);
        check.check(&id, &cert, &untrusted).map_err(fail)?;
        let auth = p
            .auth()
            .ok_or_else(|| fail(Refusal::Malformed("no AUTH payload".into())))?;
        let keys = self
            .keys
            .as_ref()
            .ok_or_else(|| fail(Refusal::Malformed("no keys".into())))?;
        let (real, nonce, sk_p) = match self.role {
            Role::Initiator => (&self.init_resp, &self.ni, &keys.sk_pr),
            Role::Responder => (&self.init_req, &self.nr, &keys.sk_pi),
        };
        let octets = crypto::signed_octets(keys.suite.prf, sk_p, real, nonce, &id_payload.body());
        crypto::verify_auth(&peer::public_key(&cert), auth.method, &auth.data, &octets).map_err(
            |e| {
                fail(Refusal::Malformed(format!(
                    "AUTH payload (method {}) does not verify with the certificate's key: {e}",
                    auth.method
                )))
            },
        )?;
        let info = super::PeerInfo {
            id,
            subject,
            serial: pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes()),
        };
        self.peer = Some(info.clone());
        self.events.push(Event::Authenticated(info));
        Ok(())
    }

    /// Logs and reports a refused peer (`who`: how the log names it).
    fn refuse(&mut self, r: Refused, who: &str) {
        let Refused {
            id,
            subject,
            refusal,
        } = r;
        tracing::warn!(target: "ike", "{who} {} refused: {refusal}", self.remote);
        self.events.push(Event::Refused {
            id,
            subject,
            refusal,
        });
    }

    fn on_auth_request(
        &mut self,
        p: &Payloads,
        message_id: u32,
        check: &mut dyn PeerCheck,
        now: Duration,
    ) -> Result<(), Drop> {
        if let Err(r) = self.authenticate_peer(p, check) {
            self.refuse(*r, "IKE_AUTH from");
            self.respond(
                Exchange::IkeAuth,
                message_id,
                &[note(notify::AUTHENTICATION_FAILED, Vec::new())],
            )?;
            self.close("peer authentication failed");
            return Ok(());
        }
        let mut out = vec![Payload::IdR(self.cfg.id.clone())];
        out.extend(self.cert_payloads());
        out.push(Payload::Auth(self.our_auth()?));
        self.state = State::Established;
        self.established_at = Some(now);
        self.events.push(Event::Established);
        match self.accept_child(p, None) {
            Ok((number, spi_out, suite, tsi, tsr)) => {
                let spi_in = random_u32();
                out.push(Payload::Sa(vec![esp_proposal(
                    number, spi_in, &suite, None,
                )]));
                out.push(Payload::TsI(vec![tsi.clone()]));
                out.push(Payload::TsR(vec![tsr.clone()]));
                self.respond(Exchange::IkeAuth, message_id, &out)?;
                let (ni, nr) = (self.ni.clone(), self.nr.clone());
                self.child_up(
                    suite, spi_in, spi_out, None, &ni, &nr, false, tsr, tsi, None, now,
                );
            }
            Err(kind) => {
                out.push(note(kind, Vec::new()));
                self.respond(Exchange::IkeAuth, message_id, &out)?;
                tracing::warn!(target: "ike", "IKE SA up, no CHILD_SA: {}", notify::name(kind));
            }
        }
        tracing::info!(target: "ike", "IKE SA {:016x}:{:016x} established with {}", self.spi_i, self.spi_r, self.remote);
        Ok(())
    }

    /// The responder's CHILD_SA choice: (proposal number, peer SPI, suite,
    /// TSi, TSr) or the notify to answer.
    fn accept_child(
        &self,
        p: &Payloads,
        pfs: Option<DhGroup>,
    ) -> Result<(u8, u32, EspSuite, TrafficSelector, TrafficSelector), u16> {
        let offered = p.sa().ok_or(notify::NO_PROPOSAL_CHOSEN)?;
        let (number, spi_out, suite, _) =
            choose_esp(offered, &self.cfg.esp_suites, pfs).ok_or(notify::NO_PROPOSAL_CHOSEN)?;
        let (Some(tsi), Some(tsr)) = (p.tsi(), p.tsr()) else {
            return Err(notify::TS_UNACCEPTABLE);
        };
        // TSi is the initiator's side: our remote.
        let tsi = narrow(tsi, &self.cfg.remote_ts).ok_or(notify::TS_UNACCEPTABLE)?;
        let tsr = narrow(tsr, &self.cfg.local_ts).ok_or(notify::TS_UNACCEPTABLE)?;
        Ok((number, spi_out, suite, tsi, tsr))
    }

    fn on_auth_response(
        &mut self,
        p: &Payloads,
        spi_in: u32,
        check: &mut dyn PeerCheck,
        now: Duration,
    ) -> Result<(), Drop> {
        if p.notify(notify::AUTHENTICATION_FAILED).is_some() {
            self.events.push(Event::Refused {
                id: None,
                subject: None,
                refusal: Refusal::Malformed(
                    "the peer refused our authentication (AUTHENTICATION_FAILED)".into(),
                ),
            });
            self.close("the peer answered AUTHENTICATION_FAILED");
            return Ok(());
        }
        if p.auth().is_none() {
            let why = p.error().map(notify::name).unwrap_or("no AUTH payload");
            self.close(&format!("IKE_AUTH failed: {why}"));
            return Ok(());
        }
        if let Err(r) = self.authenticate_peer(p, check) {
            self.refuse(*r, "responder");
            // RFC 7296 2.21.2: tell the peer in a separate INFORMATIONAL.
            let id = self.next_id;
            if let Ok(ds) = self.seal(
                Exchange::Informational,
                false,
                id,
                &[note(notify::AUTHENTICATION_FAILED, Vec::new())],
            ) {
                for d in ds {
                    self.send(d);
                }
            }
            self.close("peer authentication failed");
            return Ok(());
        }
        self.state = State::Established;
        self.established_at = Some(now);
        self.events.push(Event::Established);
        tracing::info!(target: "ike", "IKE SA {:016x}:{:016x} established with {}", self.spi_i, self.spi_r, self.remote);
        if let Some(e) = p.error() {
            tracing::warn!(target: "ike", "IKE SA up, no CHILD_SA: the peer answered {}", notify::name(e));
            return Ok(());
        }
        let (Some(chosen), Some(tsi), Some(tsr)) = (p.sa(), p.tsi(), p.tsr()) else {
            tracing::warn!(target: "ike", "IKE SA up, no CHILD_SA: SA or TS missing");
            return Ok(());
        };
        let Some((_, spi_out, suite, _)) = choose_esp(chosen, &self.cfg.esp_suites, None) else {
            tracing::warn!(target: "ike", "IKE SA up, no CHILD_SA: the peer chose a proposal we did not offer");
            return Ok(());
        };
        let (Some(tsi), Some(tsr)) = (tsi.first(), tsr.first()) else {
            return Ok(());
        };
        let (ni, nr) = (self.ni.clone(), self.nr.clone());
        self.child_up(
            suite,
            spi_in,
            spi_out,
            None,
            &ni,
            &nr,
            true,
            tsi.clone(),
            tsr.clone(),
            None,
            now,
        );
        Ok(())
    }
}

// ---- CREATE_CHILD_SA -------------------------------------------------------------

impl IkeSa {
    fn start_rekey(&mut self, old_spi_in: u32, now: Duration) -> Result<(), Drop> {
        let Some(old) = self
            .children
            .iter()
            .find(|c| c.spi_in == old_spi_in)
            .cloned()
        else {
            return Ok(());
        };
        let spi_in = random_u32();
        let nonce = random_bytes(NONCE_LEN);
        let mut payloads = vec![Payload::Notify(Notify {
            protocol: protocol::ESP,
            spi: old_spi_in.to_be_bytes().to_vec(),
            kind: notify::REKEY_SA,
            data: Vec::new(),
        })];
        let offer = vec![old.suite];
        payloads.push(Payload::Sa(
            offer
                .iter()
                .enumerate()
                .map(|(i, s)| esp_proposal(i as u8 + 1, spi_in, s, self.cfg.pfs))
                .collect(),
        ));
        payloads.push(Payload::Nonce(nonce.clone()));
        let mut dh = None;
        if let Some(g) = self.cfg.pfs {
            let (secret, public) = DhSecret::generate(g)?;
            payloads.push(Payload::Ke(Ke {
                group: g.id(),
                data: public,
            }));
            dh = Some(secret);
        }
        // Selectors from our point of view as the initiator of this exchange.
        payloads.push(Payload::TsI(vec![old.local_ts.clone()]));
        payloads.push(Payload::TsR(vec![old.remote_ts.clone()]));
        tracing::info!(target: "ike", "rekeying CHILD_SA {old_spi_in:08x}_i");
        self.request(
            Exchange::CreateChildSa,
            &payloads,
            Request::Rekey(Box::new(RekeyState {
                old_spi_in,
                spi_in,
                nonce,
                dh,
                suite_offer: offer,
            })),
            now,
        )
    }

    fn on_create_child_request(
        &mut self,
        p: &Payloads,
        message_id: u32,
        now: Duration,
    ) -> Result<(), Drop> {
        if p.sa()
            .is_some_and(|s| s.iter().any(|x| x.protocol == protocol::IKE))
        {
            // IKE SA rekeying is not implemented: the peer keeps the old SA
            // or reauthenticates.
            return self.respond(
                Exchange::CreateChildSa,
                message_id,
                &[note(notify::NO_PROPOSAL_CHOSEN, Vec::new())],
            );
        }
        let replaces = p
            .notify(notify::REKEY_SA)
            .and_then(|n| <[u8; 4]>::try_from(n.spi.as_slice()).ok())
            .map(u32::from_be_bytes)
            .and_then(|peer_spi| {
                self.children
                    .iter()
                    .find(|c| c.spi_out == peer_spi)
                    .map(|c| c.spi_in)
            });
        if p.notify(notify::REKEY_SA).is_some() && replaces.is_none() {
            return self.respond(
                Exchange::CreateChildSa,
                message_id,
                &[Payload::Notify(Notify {
                    protocol: protocol::ESP,
                    spi: Vec::new(),
                    kind: notify::CHILD_SA_NOT_FOUND,
                    data: Vec::new(),
                })],
            );
        }
        let Some(ni) = p.nonce().cloned() else {
            return self.respond(
                Exchange::CreateChildSa,
                message_id,
                &[note(notify::INVALID_SYNTAX, Vec::new())],
            );
        };
        let (number, spi_out, suite, tsi, tsr) = match self.accept_child(p, self.cfg.pfs) {
            Ok(c) => c,
            Err(kind) => {
                return self.respond(
                    Exchange::CreateChildSa,
                    message_id,
                    &[note(kind, Vec::new())],
                );
            }
        };
        let offered_group = p
            .sa()
            .and_then(|s| choose_esp(s, &self.cfg.esp_suites, self.cfg.pfs))
            .and_then(|c| c.3);
        let mut g_ir = None;
        let mut ke_out = None;
        if let Some(g) = offered_group {
            let Some(ke) = p.ke().filter(|k| k.group == g.id()) else {
                return self.respond(
                    Exchange::CreateChildSa,
                    message_id,
                    &[note(
                        notify::INVALID_KE_PAYLOAD,
                        g.id().to_be_bytes().to_vec(),
                    )],
                );
            };
            let (secret, public) = DhSecret::generate(g)?;
            match secret.shared(&ke.data) {
                Ok(s) => g_ir = Some(s),
                Err(_) => {
                    return self.respond(
                        Exchange::CreateChildSa,
                        message_id,
                        &[note(notify::INVALID_SYNTAX, Vec::new())],
                    );
                }
            }
            ke_out = Some(Ke {
                group: g.id(),
                data: public,
            });
        }
        let nr = random_bytes(NONCE_LEN);
        let spi_in = random_u32();
        let mut out = vec![
            Payload::Sa(vec![esp_proposal(number, spi_in, &suite, offered_group)]),
            Payload::Nonce(nr.clone()),
        ];
        if let Some(k) = ke_out {
            out.push(Payload::Ke(k));
        }
        out.push(Payload::TsI(vec![tsi.clone()]));
        out.push(Payload::TsR(vec![tsr.clone()]));
        self.respond(Exchange::CreateChildSa, message_id, &out)?;
        if let Some(old) = replaces
            && let Some(c) = self.children.iter_mut().find(|c| c.spi_in == old)
        {
            c.rekeying = true;
        }
        self.child_up(
            suite,
            spi_in,
            spi_out,
            g_ir.as_deref().map(|v| v.as_slice()),
            &ni,
            &nr,
            false,
            tsr,
            tsi,
            replaces,
            now,
        );
        Ok(())
    }

    fn on_rekey_response(
        &mut self,
        p: &Payloads,
        st: RekeyState,
        now: Duration,
    ) -> Result<(), Drop> {
        if let Some(e) = p.error() {
            tracing::warn!(target: "ike", "CHILD_SA rekey of {:08x}_i refused: {}", st.old_spi_in, notify::name(e));
            if let Some(c) = self.children.iter_mut().find(|c| c.spi_in == st.old_spi_in) {
                c.rekeying = false;
            }
            return Ok(());
        }
        let (Some(chosen), Some(nr), Some(tsi), Some(tsr)) = (p.sa(), p.nonce(), p.tsi(), p.tsr())
        else {
            return Err(unexpected(
                "CREATE_CHILD_SA response without SA, Nonce or TS",
            ));
        };
        let Some((_, spi_out, suite, group)) = choose_esp(chosen, &st.suite_offer, self.cfg.pfs)
        else {
            return Err(unexpected(
                "the peer chose a CHILD_SA proposal we did not offer",
            ));
        };
        let g_ir = match (group, &st.dh, p.ke()) {
            (Some(_), Some(dh), Some(ke)) => Some(dh.shared(&ke.data)?),
            (None, None, _) => None,
            _ => {
                return Err(unexpected(
                    "KE missing or unexpected in CREATE_CHILD_SA response",
                ));
            }
        };
        let (Some(tsi), Some(tsr)) = (tsi.first(), tsr.first()) else {
            return Err(unexpected("empty traffic selectors"));
        };
        self.child_up(
            suite,
            st.spi_in,
            spi_out,
            g_ir.as_deref().map(|v| v.as_slice()),
            &st.nonce,
            nr,
            true,
            tsi.clone(),
            tsr.clone(),
            Some(st.old_spi_in),
            now,
        );
        // The old pair goes: we initiated the rekey, we delete it.
        self.queue.push_back(Pending::DeleteChild(st.old_spi_in));
        Ok(())
    }
}

// ---- INFORMATIONAL -------------------------------------------------------------

impl IkeSa {
    fn on_informational_request(&mut self, p: &Payloads, message_id: u32) -> Result<(), Drop> {
        let mut ours = Vec::new();
        let mut delete_ike = false;
        let deletes: Vec<Delete> = p.deletes().cloned().collect();
        for d in deletes {
            match d.protocol {
                protocol::IKE => delete_ike = true,
                protocol::ESP | protocol::AH => {
                    for spi in d.spis {
                        let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) else {
                            continue;
                        };
                        let peer_spi = u32::from_be_bytes(b);
                        if let Some(pos) = self.children.iter().position(|c| c.spi_out == peer_spi)
                        {
                            let c = self.children.remove(pos);
                            ours.push(c.spi_in.to_be_bytes().to_vec());
                            self.events.push(Event::ChildDown {
                                spi_in: c.spi_in,
                                spi_out: c.spi_out,
                                reason: "deleted by the peer".into(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(e) = p.error() {
            tracing::warn!(target: "ike", "peer {} reports {}", self.remote, notify::name(e));
            if e == notify::AUTHENTICATION_FAILED {
                self.respond(Exchange::Informational, message_id, &[])?;
                self.close("the peer refused our authentication (AUTHENTICATION_FAILED)");
                return Ok(());
            }
        }
        if delete_ike {
            self.respond(Exchange::Informational, message_id, &[])?;
            self.close("deleted by the peer");
            return Ok(());
        }
        let out: Vec<Payload> = if ours.is_empty() {
            Vec::new()
        } else {
            vec![Payload::Delete(Delete {
                protocol: protocol::ESP,
                spis: ours,
            })]
        };
        self.respond(Exchange::Informational, message_id, &out)
    }

    fn on_informational_response(&mut self, what: Request) {
        match what {
            Request::DeleteChild { spi_in } => {
                if let Some(pos) = self.children.iter().position(|c| c.spi_in == spi_in) {
                    let c = self.children.remove(pos);
                    self.events.push(Event::ChildDown {
                        spi_in: c.spi_in,
                        spi_out: c.spi_out,
                        reason: "deleted".into(),
                    });
                }
            }
            Request::DeleteIke => self.close("deleted"),
            _ => {}
        }
    }
}

// ---- dispatch ----------------------------------------------------------------------

impl IkeSa {
    /// Decrypts an SK or SKF body; `None` while fragments are missing.
    fn open(&mut self, msg: &Message, datagram: &[u8]) -> Result<Option<Vec<Payload>>, Drop> {
        let keys = self
            .keys
            .as_ref()
            .ok_or_else(|| unexpected("encrypted message before keys"))?;
        let sender_is_initiator = msg.header.is_initiator();
        match &msg.body {
            Body::Plain(_) => Err(unexpected("unencrypted message after IKE_SA_INIT")),
            Body::Encrypted {
                first_inner,
                offset,
                len,
                ..
            } => {
                let plain = crypto::open(keys, sender_is_initiator, datagram, *offset, *len)?;
                Ok(Some(wire::decode_payloads(*first_inner, &plain)?))
            }
            Body::Fragment {
                number,
                total,
                first_inner,
                offset,
                len,
            } => {
                let plain = crypto::open(keys, sender_is_initiator, datagram, *offset, *len)?;
                let id = msg.header.message_id;
                let response = msg.header.is_response();
                let fresh = self.reassembly.as_ref().is_none_or(|r| {
                    r.message_id != id || r.response != response || r.total != *total
                });
                if fresh {
                    self.reassembly = Some(Reassembly {
                        message_id: id,
                        response,
                        total: *total,
                        first_inner: 0,
                        parts: Default::default(),
                    });
                }
                let Some(r) = self.reassembly.as_mut() else {
                    return Ok(None);
                };
                if *number == 1 {
                    r.first_inner = *first_inner;
                }
                r.parts.insert(*number, plain.to_vec());
                if r.parts.len() < usize::from(r.total) {
                    return Ok(None);
                }
                let Some(r) = self.reassembly.take() else {
                    return Ok(None);
                };
                let whole: Vec<u8> = r.parts.into_values().flatten().collect();
                Ok(Some(wire::decode_payloads(r.first_inner, &whole)?))
            }
        }
    }

    /// Takes in a datagram for this SA (marker already stripped), from
    /// `from`; `floated` says it came on port 4500 (answers go back there).
    pub fn handle(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        floated: bool,
        check: &mut dyn PeerCheck,
        now: Duration,
    ) -> Result<(), Drop> {
        if self.state == State::Closed {
            return Err(unexpected("the IKE SA is closed"));
        }
        let msg = wire::parse_message(datagram)?;
        let h = msg.header;
        let from_initiator = h.is_initiator();
        if from_initiator == (self.role == Role::Initiator) {
            return Err(unexpected("the message claims our role"));
        }
        if h.is_response() {
            let Some(out) = &self.outstanding else {
                return Err(unexpected(format!(
                    "response {} to no request",
                    h.message_id
                )));
            };
            if out.message_id != h.message_id || out.exchange != h.exchange {
                return Err(unexpected(format!(
                    "response {} ({:?}) does not match request {} ({:?})",
                    h.message_id, h.exchange, out.message_id, out.exchange
                )));
            }
            if h.exchange == Exchange::IkeSaInit {
                let Body::Plain(payloads) = msg.body else {
                    return Err(unexpected("encrypted IKE_SA_INIT"));
                };
                self.last_heard = now;
                return self.on_init_response(&Payloads(payloads), &h, datagram, now);
            }
            let Some(payloads) = self.open(&msg, datagram)? else {
                return Ok(());
            };
            self.last_heard = now;
            self.remote = from;
            self.floated |= floated;
            let Some(out) = self.outstanding.take() else {
                return Ok(());
            };
            let p = Payloads(payloads);
            let r = match out.what {
                Request::Auth { spi_in } => self.on_auth_response(&p, spi_in, check, now),
                Request::Rekey(st) => self.on_rekey_response(&p, *st, now),
                other => {
                    self.on_informational_response(other);
                    Ok(())
                }
            };
            self.pump(now);
            return r;
        }
        // A request from the peer.
        if let Some((id, cached)) = &self.last_response
            && *id == h.message_id
        {
            // A retransmission: answer once per request (or per first
            // fragment of a fragmented one).
            let first = !matches!(msg.body, Body::Fragment { number, .. } if number != 1);
            if first {
                let again = cached.clone();
                for d in again {
                    self.send(d);
                }
            }
            return Ok(());
        }
        if h.message_id != self.peer_next {
            return Err(unexpected(format!(
                "request {} out of window (expected {})",
                h.message_id, self.peer_next
            )));
        }
        let Some(payloads) = self.open(&msg, datagram)? else {
            return Ok(());
        };
        self.last_heard = now;
        self.remote = from;
        self.floated |= floated;
        self.peer_next = self.peer_next.wrapping_add(1);
        let p = Payloads(payloads);
        let r = match (h.exchange, self.state) {
            (Exchange::IkeAuth, State::AuthPending) if self.role == Role::Responder => {
                self.on_auth_request(&p, h.message_id, check, now)
            }
            (Exchange::CreateChildSa, State::Established) => {
                self.on_create_child_request(&p, h.message_id, now)
            }
            (Exchange::Informational, State::Established | State::Deleting) => {
                self.on_informational_request(&p, h.message_id)
            }
            (Exchange::Informational, State::AuthPending) => {
                // e.g. AUTHENTICATION_FAILED from the initiator that refused us.
                self.on_informational_request(&p, h.message_id)?;
                if self.state != State::Closed {
                    self.close("the peer gave up during IKE_AUTH");
                }
                Ok(())
            }
            (x, s) => {
                let r = self.respond(x, h.message_id, &[note(notify::INVALID_SYNTAX, Vec::new())]);
                tracing::warn!(target: "ike", "{x:?} request in state {s:?} answered INVALID_SYNTAX");
                r
            }
        };
        self.pump(now);
        r
    }
}

/// The header of a datagram, for the daemon's dispatch by SPI.
pub fn peek(datagram: &[u8]) -> Result<Header, Drop> {
    Ok(Header::parse(datagram)?)
}

#[cfg(test)]
mod tests;
