//! kmd, the router's IKE daemon: UDP 500 and 4500 sockets (tokio), one
//! [`ike::session::IkeSa`] per peer, the ES PIC that carries the CHILD_SAs,
//! and the data path between the router's inside (a TUN interface, or a
//! channel) and the peer. SAs reach the card only through the
//! authenticator's verdict ([`ike::child::install_after_auth`]); the card's
//! lifetime interrupts trigger rekeys.
//!
//! Everything runs on one thread with a single-threaded tokio runtime: the
//! protocol state has one owner, and the loop handles one datagram, one
//! packet, one command or one timer tick at a time.

mod datapath;
mod gateway;
pub mod show;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use espic_driver::{CardEvent, LifetimeEvent, Request, SaInfo};
use ike::auth::{Chain, Refusal};
use ike::child::{self, ChildSa};
use ike::session::{self as ikes, ChildInfo, Event, IkeSa, Role, Summary};
use ike::wire::{Exchange, TrafficSelector};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub use datapath::Inside;
pub use gateway::{RouterCheck, local_config};
pub use ike::session::Ports;

use crate::pic::Pic;
use crate::router::Shared;
use crate::vpn_config::VpnCfg;

/// The non-ESP marker before IKE messages on port 4500.
const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// Half-open responder SAs above which IKE_SA_INIT must carry a cookie
/// (RFC 7296 2.6).
pub const COOKIE_THRESHOLD: usize = 8;
/// How often timers are looked at (real time).
const TICK: Duration = Duration::from_millis(100);
/// How long to wait before initiating again a VPN whose SA failed
/// (simulated time).
const RETRY: Duration = Duration::from_secs(10);

/// What the daemon reports to `show` commands.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The IKE SAs.
    pub sas: Vec<SaView>,
    /// The card's SAs by slot, as SA_QUERY reports them.
    pub card: BTreeMap<u32, SaInfo>,
    /// Errors the daemon met (binding sockets, configurations).
    pub problems: Vec<String>,
    /// Packets encapsulated and decapsulated, and those dropped for want
    /// of an SA.
    pub packets: (u64, u64, u64),
    /// Times the card was reset after a failure.
    pub card_resets: u64,
    /// Responder SAs waiting for IKE_AUTH.
    pub half_open: usize,
    /// COOKIE answers sent (RFC 7296 2.6).
    pub cookies_sent: u64,
}

/// One IKE SA for `show`.
#[derive(Debug, Clone)]
pub struct SaView {
    /// Its VPN.
    pub vpn: String,
    /// Its gateway.
    pub gateway: String,
    /// The protocol state.
    pub summary: Summary,
    /// Card slots of its CHILD_SAs: (inbound SPI, inbound slot, outbound slot).
    pub slots: Vec<(u32, u32, u32)>,
}

/// What the CLI asks of the daemon.
#[derive(Debug)]
pub enum Command {
    /// The configuration or the PKI store changed.
    Reconfigure,
    /// Start the VPN's IKE SA now.
    Initiate(String),
    /// Delete IKE SAs (all, or those with this peer).
    ClearIke(Option<IpAddr>),
    /// Rekey every CHILD_SA.
    RekeyChildren,
    /// Stop the daemon.
    Stop,
}

/// How the CLI reaches the daemon: its view and its command queue.
#[derive(Clone)]
pub struct Control {
    view: Arc<Mutex<View>>,
    commands: mpsc::UnboundedSender<Command>,
    bar: Arc<dyn espic_hw::Mmio>,
}

impl Control {
    /// What the daemon last reported.
    pub fn view(&self) -> View {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends a command.
    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
    }

    /// The card's register window, behind the driver's back: for fault
    /// injection in hardware-in-the-loop tests (a JTAG port, in effect).
    pub fn card_registers(&self) -> Arc<dyn espic_hw::Mmio> {
        Arc::clone(&self.bar)
    }
}

/// The running daemon; dropping it stops the daemon (deleting its SAs).
pub struct Handle {
    control: Control,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    /// The daemon's control.
    pub fn control(&self) -> &Control {
        &self.control
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.control.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts kmd for the router with `inside` as the clear side.
pub fn start(shared: Arc<Shared>, inside: Inside, ports: Ports) -> Result<Handle, String> {
    let view = Arc::new(Mutex::new(View::default()));
    let (tx, rx) = mpsc::unbounded_channel();
    let v = Arc::clone(&view);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("kmd".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("tokio runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                let pic = match Pic::power_on() {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("ES PIC: {e}")));
                        return;
                    }
                };
                let inside = match inside.open() {
                    Ok(i) => i,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(Arc::clone(pic.driver.bar())));
                let (net_tx, net_rx) = mpsc::channel(1024);
                let mut d = Daemon {
                    shared,
                    pic,
                    sockets: HashMap::new(),
                    net_tx,
                    sas: BTreeMap::new(),
                    vpns: Vec::new(),
                    children: BTreeMap::new(),
                    free: (0..espic_hw::regs::SA_TABLE_SIZE).collect(),
                    attempts: HashMap::new(),
                    view: v,
                    seq: 0,
                    packets: (0, 0, 0),
                    problems: Vec::new(),
                    outbox: Vec::new(),
                    ports,
                    card_resets: 0,
                    cookies: ikes::CookieJar::new(),
                    cookies_sent: 0,
                };
                d.reconfigure().await;
                d.run(rx, net_rx, inside).await;
            });
        })
        .map_err(|e| format!("cannot start kmd: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(bar)) => Ok(Handle {
            control: Control {
                view,
                commands: tx,
                bar,
            },
            thread: Some(thread),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("kmd stopped while starting".into()),
    }
}

/// A datagram from one of our sockets.
struct Datagram {
    local: SocketAddr,
    from: SocketAddr,
    bytes: Vec<u8>,
}

/// One IKE SA and what the daemon keeps beside it.
struct Entry {
    vpn: String,
    gateway: String,
    sa: IkeSa,
    chain: Option<Chain>,
    /// Our certificate (DER) when the SA was made.
    cert: Vec<u8>,
    /// The SA this one reauthenticates (deleted once this one carries a
    /// CHILD_SA).
    reauth_of: Option<u64>,
    /// A reauthentication of this SA is under way.
    reauthenticating: bool,
    /// The refusal the authenticator already recorded for `show`.
    recorded: Option<Refusal>,
}

impl Entry {
    fn new(vpn: &VpnCfg, sa: IkeSa, cert: Vec<u8>, reauth_of: Option<u64>) -> Entry {
        Entry {
            vpn: vpn.name.clone(),
            gateway: vpn.gateway.name.clone(),
            sa,
            chain: None,
            cert,
            reauth_of,
            reauthenticating: false,
            recorded: None,
        }
    }
}

/// A CHILD_SA on the card.
struct Programmed {
    ike: u64,
    slots: ChildSa,
    info: ChildInfo,
    seq: u64,
    /// Not for outbound traffic while this (replaced) CHILD_SA is there.
    after: Option<u32>,
}

struct Daemon {
    shared: Arc<Shared>,
    pic: Pic,
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    net_tx: mpsc::Sender<Datagram>,
    sas: BTreeMap<u64, Entry>,
    vpns: Vec<VpnCfg>,
    children: BTreeMap<u32, Programmed>,
    free: BTreeSet<u32>,
    attempts: HashMap<String, Duration>,
    view: Arc<Mutex<View>>,
    seq: u64,
    packets: (u64, u64, u64),
    problems: Vec<String>,
    /// Datagrams to send: (our address, bytes, destination).
    outbox: Vec<(SocketAddr, Vec<u8>, SocketAddr)>,
    /// UDP ports of IKE and NAT-T.
    ports: Ports,
    card_resets: u64,
    cookies: ikes::CookieJar,
    cookies_sent: u64,
}

impl Daemon {
    async fn run(
        &mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut net: mpsc::Receiver<Datagram>,
        mut inside: Inside,
    ) {
        let mut tick = tokio::time::interval(TICK);
        loop {
            // Packets alone do not republish the view (an SA_QUERY per SA
            // per packet would cost more than the packet); the tick does.
            let mut data_only = false;
            tokio::select! {
                c = commands.recv() => match c {
                    None | Some(Command::Stop) => break,
                    Some(Command::Reconfigure) => self.reconfigure().await,
                    Some(Command::Initiate(vpn)) => self.initiate(&vpn),
                    Some(Command::ClearIke(peer)) => self.clear(peer),
                    Some(Command::RekeyChildren) => self.rekey_all(),
                },
                d = net.recv() => {
                    if let Some(d) = d {
                        data_only = d.local.port() == self.ports.nat_t
                            && !d.bytes.starts_with(&NON_ESP_MARKER);
                        let delivered = self.datagram(d);
                        for p in delivered {
                            inside.send(&p).await;
                        }
                    }
                }
                p = inside.recv() => {
                    if let Some(p) = p {
                        data_only = true;
                        self.outbound(&p);
                    }
                }
                _ = tick.tick() => self.tick(),
            }
            self.flush().await;
            if !data_only {
                self.publish();
            }
        }
        // Leaving: delete our SAs (best effort) and clear the card.
        let now = self.shared.clock.now();
        for e in self.sas.values_mut() {
            e.sa.delete(now);
        }
        let keys: Vec<u64> = self.sas.keys().copied().collect();
        for k in keys {
            self.drain(k);
        }
        self.flush().await;
    }

    /// Sends what the last step queued.
    async fn flush(&mut self) {
        for (local, bytes, to) in std::mem::take(&mut self.outbox) {
            match self.sockets.get(&local) {
                Some(s) => {
                    if let Err(e) = s.send_to(&bytes, to).await {
                        tracing::warn!(target: "kmd", "send from {local} to {to}: {e}");
                    }
                }
                None => tracing::warn!(target: "kmd", "no socket on {local} to send to {to}"),
            }
        }
    }

    /// Binds the sockets of every configured local address; reads the VPNs.
    async fn reconfigure(&mut self) {
        let config = self.shared.state().active.clone();
        self.vpns = crate::vpn_config::vpns(&config);
        self.problems.clear();
        // The ES PIC policies, each a gateway and VPN of its own.
        let (es_pic, problems) = gateway::es_pic_vpns(&self.shared, &config, &self.vpns);
        for p in &problems {
            tracing::warn!(target: "kmd", "{p}");
        }
        self.vpns.extend(es_pic);
        self.problems.extend(problems);
        let mut wanted: BTreeSet<IpAddr> = BTreeSet::new();
        for v in &self.vpns {
            match v.gateway.local_address {
                Some(a) => {
                    wanted.insert(a);
                }
                None => self.problems.push(format!(
                    "gateway {}: no local-address, IKE does not run for vpn {}",
                    v.gateway.name, v.name
                )),
            }
        }
        for addr in wanted {
            for port in [self.ports.ike, self.ports.nat_t] {
                let local = SocketAddr::new(addr, port);
                if self.sockets.contains_key(&local) {
                    continue;
                }
                match UdpSocket::bind(local).await {
                    Ok(s) => {
                        let s = Arc::new(s);
                        self.sockets.insert(local, Arc::clone(&s));
                        let tx = self.net_tx.clone();
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 65536];
                            loop {
                                let Ok((n, from)) = s.recv_from(&mut buf).await else {
                                    break;
                                };
                                let bytes = buf[..n].to_vec();
                                if tx.send(Datagram { local, from, bytes }).await.is_err() {
                                    break;
                                }
                            }
                        });
                        tracing::info!(target: "kmd", "listening on {local}");
                    }
                    Err(e) => {
                        let why = format!("cannot bind {local}: {e}");
                        tracing::error!(target: "kmd", "{why}");
                        self.problems.push(why);
                    }
                }
            }
        }
        self.attempts.clear();
        self.establish();
    }

    /// Starts the VPNs configured with `establish-tunnels immediately`
    /// that have no IKE SA.
    fn establish(&mut self) {
        let now = self.shared.clock.now();
        let due: Vec<String> = self
            .vpns
            .iter()
            .filter(|v| v.establish_immediately)
            .filter(|v| !self.sas.values().any(|e| e.vpn == v.name))
            .filter(|v| self.attempts.get(&v.name).is_none_or(|t| now >= *t + RETRY))
            .map(|v| v.name.clone())
            .collect();
        for v in due {
            self.initiate(&v);
        }
    }

    fn initiate(&mut self, name: &str) {
        self.initiate_for(name, None);
    }

    /// Starts an IKE SA for VPN `name`; `reauth_of`: the SA it replaces.
    fn initiate_for(&mut self, name: &str, reauth_of: Option<u64>) {
        let now = self.shared.clock.now();
        self.attempts.insert(name.to_string(), now);
        let Some(vpn) = self.vpns.iter().find(|v| v.name == name).cloned() else {
            tracing::warn!(target: "kmd", "no vpn {name}");
            return;
        };
        let Some(local) = gateway::local_address(&vpn, self.ports) else {
            return;
        };
        let remote = SocketAddr::new(vpn.gateway.address, self.ports.ike);
        let cfg = match local_config(&self.shared, &vpn, self.ports) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "kmd", "vpn {name}: {e}");
                return;
            }
        };
        let cert0 = cfg.certs.first().cloned().unwrap_or_default();
        match IkeSa::initiate(cfg, local, remote, now) {
            Ok(sa) => {
                tracing::info!(target: "kmd", "vpn {name}: initiating IKE SA with {remote}");
                let key = sa.local_spi();
                self.sas.insert(key, Entry::new(&vpn, sa, cert0, reauth_of));
                self.drain(key);
            }
            Err(e) => tracing::warn!(target: "kmd", "vpn {name}: {e}"),
        }
    }

    /// Deletes the IKE SAs (all, or those with `peer`); VPNs with
    /// `establish-tunnels immediately` come up again at the next tick,
    /// with the configuration and certificates of that moment.
    fn clear(&mut self, peer: Option<IpAddr>) {
        let now = self.shared.clock.now();
        let keys: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, e)| peer.is_none_or(|p| e.sa.remote().ip() == p))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            if let Some(e) = self.sas.get_mut(&k) {
                self.attempts.remove(&e.vpn);
                e.sa.delete(now);
            }
            self.drain(k);
        }
    }

    fn rekey_all(&mut self) {
        let now = self.shared.clock.now();
        let pairs: Vec<(u64, u32)> = self.children.iter().map(|(spi, p)| (p.ike, *spi)).collect();
        for (ike, spi) in pairs {
            if let Some(e) = self.sas.get_mut(&ike) {
                e.sa.rekey_child(spi, now);
            }
            self.drain(ike);
        }
    }

    fn tick(&mut self) {
        let now = self.shared.clock.now();
        let keys: Vec<u64> = self.sas.keys().copied().collect();
        for k in keys {
            if let Some(e) = self.sas.get_mut(&k) {
                e.sa.tick(now);
            }
            self.drain(k);
        }
        self.establish();
        self.reauthenticate();
    }

    /// Responder SAs waiting for their IKE_AUTH.
    fn half_open(&self) -> usize {
        self.sas
            .values()
            .filter(|e| e.sa.role() == Role::Responder && e.sa.state() == ikes::State::AuthPending)
            .count()
    }

    /// Make-before-break reauthentication (RFC 7296 2.8.3) of the IKE SAs
    /// we initiated whose local certificate was renewed since: a new IKE SA
    /// with the new certificate; the old one is deleted once the new one
    /// carries its CHILD_SA, so traffic does not stop.
    fn reauthenticate(&mut self) {
        let mut due = Vec::new();
        {
            let pki = self.shared.pki();
            for (k, e) in &self.sas {
                if e.reauthenticating
                    || e.sa.role() != Role::Initiator
                    || e.sa.state() != ikes::State::Established
                {
                    continue;
                }
                let Some(vpn) = self.vpns.iter().find(|v| v.name == e.vpn) else {
                    continue;
                };
                let now_cert = vpn
                    .gateway
                    .local_certificate
                    .as_ref()
                    .and_then(|id| pki.local_certificates().get(id))
                    .map(pki::manager::certificate_der);
                if now_cert.is_some_and(|c| c != e.cert) {
                    due.push((*k, e.vpn.clone()));
                }
            }
        }
        for (k, vpn) in due {
            tracing::info!(target: "kmd", "vpn {vpn}: local certificate renewed, reauthenticating IKE SA {k:016x}");
            if let Some(e) = self.sas.get_mut(&k) {
                e.reauthenticating = true;
            }
            self.initiate_for(&vpn, Some(k));
        }
    }

    /// A datagram from a socket: IKE for an SA, or ESP for the card.
    /// Returns decapsulated packets for the inside.
    fn datagram(&mut self, d: Datagram) -> Vec<Vec<u8>> {
        let bytes = if d.local.port() == self.ports.nat_t {
            if d.bytes == [0xff] {
                return Vec::new(); // NAT keepalive (RFC 3948 2.3)
            }
            match d.bytes.strip_prefix(&NON_ESP_MARKER) {
                Some(ike) => ike.to_vec(),
                None => return self.inbound_esp(&d),
            }
        } else {
            d.bytes
        };
        self.ike(d.local, d.from, &bytes);
        Vec::new()
    }

    fn ike(&mut self, local: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let now = self.shared.clock.now();
        let h = match ikes::peek(bytes) {
            Ok(h) => h,
            Err(e) => {
                self.refuse_datagram(local, from, bytes, &e);
                return;
            }
        };
        let new_init = h.exchange == Exchange::IkeSaInit && !h.is_response() && h.spi_r == 0;
        let key = if new_init {
            self.sas
                .iter()
                .find(|(_, e)| {
                    e.sa.role() == Role::Responder
                        && e.sa.spi_i() == h.spi_i
                        && e.sa.remote().ip() == from.ip()
                })
                .map(|(k, _)| *k)
        } else if h.is_initiator() {
            Some(h.spi_r)
        } else {
            Some(h.spi_i)
        };
        let key = match key {
            Some(k) if self.sas.contains_key(&k) => k,
            _ if new_init => {
                if self.half_open() >= COOKIE_THRESHOLD {
                    match self.cookies.check(bytes, from.ip()) {
                        ikes::CookieCheck::Valid => {}
                        ikes::CookieCheck::Reply(d) => {
                            // Stateless: no SA, no Diffie-Hellman.
                            self.cookies_sent += 1;
                            let bytes = if local.port() == self.ports.nat_t {
                                [&NON_ESP_MARKER[..], &d].concat()
                            } else {
                                d
                            };
                            self.outbox.push((local, bytes, from));
                            return;
                        }
                        ikes::CookieCheck::Drop => return,
                    }
                }
                let Some(k) = self.respond(local, from, bytes, now) else {
                    return;
                };
                self.drain(k);
                return;
            }
            _ => {
                tracing::info!(target: "kmd", "IKE datagram from {from} dropped: {:?} for no IKE SA of ours ({:016x}:{:016x})", h.exchange, h.spi_i, h.spi_r);
                return;
            }
        };
        let shared = Arc::clone(&self.shared);
        let Some(e) = self.sas.get_mut(&key) else {
            return;
        };
        let gw = self
            .vpns
            .iter()
            .find(|v| v.name == e.vpn)
            .map(|v| &v.gateway);
        let mut check = RouterCheck {
            shared: &shared,
            gateway: e.gateway.clone(),
            remote_identity: gw.and_then(|g| g.remote_identity.clone()),
            es_pic_identity: gw.and_then(|g| g.es_pic.as_ref().map(|p| p.peer_identity.clone())),
            chain: None,
            refused: None,
        };
        if let Err(err) = e.sa.handle(
            bytes,
            from,
            local.port() == self.ports.nat_t,
            &mut check,
            now,
        ) {
            tracing::info!(target: "kmd", "IKE SA {key:016x}: dropped a datagram from {from}: {err}");
        }
        if let Some(c) = check.chain {
            e.chain = Some(c);
        }
        e.recorded = check.refused;
        self.drain(key);
    }

    /// Logs a datagram that cannot be used and, for an initial request,
    /// answers with the protocol's error (INVALID_MAJOR_VERSION,
    /// INVALID_SYNTAX, UNSUPPORTED_CRITICAL_PAYLOAD); anything else is
    /// dropped without an answer.
    fn refuse_datagram(
        &mut self,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
        e: &ikes::Drop,
    ) {
        let reply = match e {
            ikes::Drop::Wire(w) => ikes::error_reply(bytes, w),
            _ => None,
        };
        match reply {
            Some(d) => {
                tracing::info!(target: "kmd", "IKE datagram from {from} refused with an error notify: {e}");
                let d = if local.port() == self.ports.nat_t {
                    [&NON_ESP_MARKER[..], &d].concat()
                } else {
                    d
                };
                self.outbox.push((local, d, from));
            }
            None => tracing::info!(target: "kmd", "IKE datagram from {from} dropped: {e}"),
        }
    }

    /// A new responder SA for the gateway whose address is `from`.
    fn respond(
        &mut self,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
        now: Duration,
    ) -> Option<u64> {
        let Some(vpn) = self
            .vpns
            .iter()
            .find(|v| v.gateway.address == from.ip() && v.gateway.local_address == Some(local.ip()))
            .cloned()
        else {
            tracing::warn!(target: "kmd", "IKE_SA_INIT from {from}: no gateway with that address");
            return None;
        };
        let cfg = match local_config(&self.shared, &vpn, self.ports) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "kmd", "IKE_SA_INIT from {from}: vpn {}: {e}", vpn.name);
                return None;
            }
        };
        let cert0 = cfg.certs.first().cloned().unwrap_or_default();
        match IkeSa::respond_init(cfg, local, from, bytes, now) {
            Ok(sa) => {
                let key = sa.local_spi();
                self.sas.insert(key, Entry::new(&vpn, sa, cert0, None));
                Some(key)
            }
            Err(e) => {
                self.refuse_datagram(local, from, bytes, &e);
                None
            }
        }
    }

    /// Acts on the events of SA `key`; forgets it once closed.
    fn drain(&mut self, key: u64) {
        let Some(e) = self.sas.get_mut(&key) else {
            return;
        };
        let events = e.sa.take_events();
        let closed = e.sa.state() == ikes::State::Closed;
        let local = SocketAddr::new(e.sa.summary().local.ip(), 0);
        let gateway = e.gateway.clone();
        let chain = e.chain.clone();
        let recorded = e.recorded.take();
        for ev in events {
            match ev {
                Event::Send(t) => self.queue_send(local.ip(), t),
                Event::Authenticated(p) => {
                    tracing::info!(
                        target: "kmd",
                        "gateway {gateway}: peer {} ({}, serial {}) authenticated",
                        p.id,
                        p.subject,
                        p.serial
                    );
                }
                Event::Refused {
                    id,
                    subject,
                    refusal,
                } if recorded.as_ref() != Some(&refusal) => {
                    crate::ike_auth::record_refusal(
                        &self.shared,
                        &gateway,
                        id.as_ref(),
                        subject.as_deref(),
                        &refusal,
                    );
                }
                Event::Refused { .. } => {}
                Event::Established => {
                    tracing::info!(target: "kmd", "gateway {gateway}: IKE SA {key:016x} established");
                }
                Event::ChildUp(up) => self.program(key, &chain, *up),
                Event::ChildDown { spi_in, reason, .. } => self.unprogram(spi_in, &reason),
                Event::Closed(why) => {
                    tracing::info!(target: "kmd", "gateway {gateway}: IKE SA closed: {why}")
                }
            }
        }
        if closed {
            self.sas.remove(&key);
        }
    }

    fn program(&mut self, ike_key: u64, chain: &Option<Chain>, up: ikes::ChildUp) {
        let verdict: Result<Chain, Refusal> = chain
            .clone()
            .ok_or_else(|| Refusal::Malformed("no authenticated chain for this IKE SA".into()));
        let (Some(a), Some(b)) = (self.free.pop_first(), self.free.pop_first()) else {
            tracing::error!(target: "kmd", "the card's SA table is full");
            return;
        };
        match child::install_after_auth(
            &verdict,
            &mut self.pic.driver,
            (a, b),
            &up.inbound,
            &up.outbound,
        ) {
            Ok(slots) => {
                self.seq += 1;
                tracing::info!(
                    target: "kmd",
                    "CHILD_SA {:08x}/{:08x} on the card in slots {a}/{b}",
                    up.info.spi_in,
                    up.info.spi_out
                );
                self.children.insert(
                    up.info.spi_in,
                    Programmed {
                        ike: ike_key,
                        slots,
                        after: up.replaces.filter(|_| up.hold_outbound),
                        info: up.info,
                        seq: self.seq,
                    },
                );
                // A reauthentication carries traffic now: the old IKE SA goes.
                let old = self.sas.get_mut(&ike_key).and_then(|e| e.reauth_of.take());
                if let Some(old) = old {
                    let now = self.shared.clock.now();
                    if let Some(o) = self.sas.get_mut(&old) {
                        tracing::info!(target: "kmd", "IKE SA {old:016x} replaced by {ike_key:016x}: deleting it");
                        o.sa.delete(now);
                    }
                    self.drain(old);
                }
            }
            Err(e) => {
                tracing::error!(target: "kmd", "CHILD_SA not programmed: {e}");
                self.free.insert(a);
                self.free.insert(b);
            }
        }
    }

    fn unprogram(&mut self, spi_in: u32, reason: &str) {
        let Some(p) = self.children.remove(&spi_in) else {
            return;
        };
        if let Err(e) = child::remove(&mut self.pic.driver, p.slots) {
            tracing::warn!(target: "kmd", "clearing CHILD_SA {spi_in:08x} from the card: {e}");
        }
        self.free.insert(p.slots.inbound);
        self.free.insert(p.slots.outbound);
        tracing::info!(target: "kmd", "CHILD_SA {spi_in:08x} removed from the card: {reason}");
    }

    /// The newest CHILD_SA whose selectors hold the packet.
    fn route(&self, src: IpAddr, dst: IpAddr) -> Option<&Programmed> {
        let host = |a: IpAddr| TrafficSelector::host(a);
        self.children
            .values()
            .filter(|p| {
                p.info.remote_ts.contains(&host(dst)) && p.info.local_ts.contains(&host(src))
            })
            .filter(|p| p.after.is_none_or(|old| !self.children.contains_key(&old)))
            .max_by_key(|p| p.seq)
    }

    /// A clear packet from the inside: through the card, out to the peer.
    fn outbound(&mut self, packet: &[u8]) {
        let Some((src, dst)) = datapath::inner_addresses(packet) else {
            return;
        };
        let Some(slot) = self.route(src, dst).map(|p| p.slots.outbound) else {
            self.packets.2 += 1;
            // On traffic: start the VPN that covers it.
            let now = self.shared.clock.now();
            let vpn = self.vpns.iter().find(|v| {
                !self.sas.values().any(|e| e.vpn == v.name)
                    && self.attempts.get(&v.name).is_none_or(|t| now >= *t + RETRY)
                    && local_config(&self.shared, v, self.ports)
                        .is_ok_and(|c| c.remote_ts.contains(&TrafficSelector::host(dst)))
            });
            if let Some(v) = vpn.map(|v| v.name.clone()) {
                self.initiate(&v);
            }
            return;
        };
        let done = match self.pic.process(&[Request::Encap { sa: slot, packet }]) {
            Ok(d) => d,
            Err(e) => {
                self.card_failed(&e.to_string());
                return;
            }
        };
        let mut lifetimes = Vec::new();
        for c in done {
            if let Some(ev) = c.event {
                lifetimes.push(CardEvent::Lifetime {
                    sa_index: c.sa_index,
                    event: ev,
                });
            }
            match &c.result {
                Ok(outer) => {
                    if let Some((to, esp)) = datapath::udp_payload(outer) {
                        self.packets.0 += 1;
                        let local = self
                            .children
                            .values()
                            .find(|p| p.slots.outbound == slot)
                            .and_then(|p| {
                                self.sas.get(&p.ike).map(|e| {
                                    SocketAddr::new(e.sa.summary().local.ip(), self.ports.nat_t)
                                })
                            });
                        if let Some(l) = local {
                            self.outbox.push((l, esp.to_vec(), to));
                        }
                    }
                }
                Err(e) => tracing::debug!(target: "kmd", "card refused an encap: {e}"),
            }
        }
        self.card_events(lifetimes);
    }

    /// ESP in UDP from the peer: through the card, to the inside.
    fn inbound_esp(&mut self, d: &Datagram) -> Vec<Vec<u8>> {
        let Some(outer) = datapath::udp_outer(d.from, d.local, &d.bytes) else {
            return Vec::new();
        };
        let done = match self.pic.process(&[Request::Decap {
            sa: None,
            packet: &outer,
        }]) {
            Ok(done) => done,
            Err(e) => {
                self.card_failed(&e.to_string());
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        let mut lifetimes = Vec::new();
        for c in done {
            if let Some(ev) = c.event {
                lifetimes.push(CardEvent::Lifetime {
                    sa_index: c.sa_index,
                    event: ev,
                });
            }
            match c.result {
                Ok(inner) => {
                    self.packets.1 += 1;
                    out.push(inner.to_vec());
                }
                Err(e) => {
                    tracing::debug!(target: "kmd", "card refused a decap from {}: {e}", d.from)
                }
            }
        }
        self.card_events(lifetimes);
        out
    }

    /// Lifetime interrupts: soft → rekey, hard → gone.
    /// The card stopped (a fatal fault, or the driver gave up on it): a
    /// soft reset brings it back empty, and IKE recovers the tunnels by
    /// rekeying every CHILD_SA it had (CREATE_CHILD_SA); the new pairs are
    /// programmed as they come, the old ones are deleted with the peer.
    fn card_failed(&mut self, why: &str) {
        tracing::error!(target: "kmd", "ES PIC failed: {why}; resetting it");
        self.card_resets += 1;
        if let Err(e) = self.pic.driver.reset() {
            tracing::error!(target: "kmd", "ES PIC reset failed: {e}");
            self.problems.push(format!("ES PIC reset failed: {e}"));
            return;
        }
        let _ = self.pic.driver.take_events();
        let lost: Vec<(u64, u32)> = std::mem::take(&mut self.children)
            .into_iter()
            .map(|(spi, p)| (p.ike, spi))
            .collect();
        self.free = (0..espic_hw::regs::SA_TABLE_SIZE).collect();
        let now = self.shared.clock.now();
        for (ike, spi) in lost {
            tracing::info!(target: "kmd", "CHILD_SA {spi:08x} lost with the card's SA table: rekeying");
            if let Some(e) = self.sas.get_mut(&ike) {
                e.sa.rekey_child(spi, now);
            }
            self.drain(ike);
        }
    }

    /// Lifetime events of completions (`reported`) and of interrupts.
    fn card_events(&mut self, reported: Vec<CardEvent>) {
        let now = self.shared.clock.now();
        let mut events = reported;
        for ev in self.pic.driver.take_events() {
            if !events.contains(&ev) {
                events.push(ev);
            }
        }
        for ev in events {
            let CardEvent::Lifetime { sa_index, event } = ev else {
                if let CardEvent::Fatal { code, addr } = ev {
                    self.card_failed(&format!("fatal fault {code:?} at {addr:#x}"));
                    return;
                }
                tracing::warn!(target: "kmd", "card event: {ev:?}");
                continue;
            };
            let Some((spi, ike, outbound)) = self
                .children
                .iter()
                .find(|(_, p)| p.slots.inbound == sa_index || p.slots.outbound == sa_index)
                .map(|(s, p)| (*s, p.ike, p.slots.outbound == sa_index))
            else {
                continue;
            };
            if let Some(e) = self.sas.get_mut(&ike) {
                match event {
                    // The sender rekeys: our outbound SA's soft limit is the
                    // peer's inbound one, and both rekeying the same pair
                    // would collide (RFC 7296 2.8.1).
                    LifetimeEvent::Soft if outbound => {
                        tracing::info!(target: "kmd", "CHILD_SA {spi:08x}: soft lifetime on the card, rekeying");
                        e.sa.rekey_child(spi, now)
                    }
                    LifetimeEvent::Soft => {}
                    LifetimeEvent::Hard => e.sa.child_expired(spi, now),
                }
            }
            self.drain(ike);
        }
    }

    fn queue_send(&mut self, local_ip: IpAddr, t: ikes::Transmit) {
        let (port, bytes) = if t.encap {
            let mut b = NON_ESP_MARKER.to_vec();
            b.extend_from_slice(&t.datagram);
            (self.ports.nat_t, b)
        } else {
            (self.ports.ike, t.datagram)
        };
        self.outbox
            .push((SocketAddr::new(local_ip, port), bytes, t.to));
    }

    fn publish(&mut self) {
        let mut card = BTreeMap::new();
        let slots: Vec<u32> = self
            .children
            .values()
            .flat_map(|p| [p.slots.inbound, p.slots.outbound])
            .collect();
        for s in slots {
            if let Ok(info) = self.pic.driver.query_sa(s) {
                card.insert(s, info);
            }
        }
        let sas = self
            .sas
            .iter()
            .map(|(k, e)| SaView {
                vpn: e.vpn.clone(),
                gateway: e.gateway.clone(),
                summary: e.sa.summary(),
                slots: self
                    .children
                    .iter()
                    .filter(|(_, p)| p.ike == *k)
                    .map(|(spi, p)| (*spi, p.slots.inbound, p.slots.outbound))
                    .collect(),
            })
            .collect();
        let v = View {
            sas,
            card,
            problems: self.problems.clone(),
            packets: self.packets,
            card_resets: self.card_resets,
            half_open: self.half_open(),
            cookies_sent: self.cookies_sent,
        };
        *self.view.lock().unwrap_or_else(PoisonError::into_inner) = v;
    }
}
