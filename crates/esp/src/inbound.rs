//! The receiving side of an SA: tunnel-mode decapsulation (RFC 4303 3.4).
//!
//! Order of checks: outer headers, SPI, lifetime, anti-replay (cheap, before
//! any crypto), ICV in constant time, then decryption, padding and next
//! header. Only an authenticated packet moves the replay window.

use std::sync::Arc;

use crate::batch::{OpenKeys, Span};
use crate::crypto::{BLOCK_LEN, CbcDecryptor, IntegKey};
use crate::error::{EspError, MalformedReason as M};
use crate::outbound::{ESP_HEADER_LEN, NEXT_IPV4, NEXT_IPV6, TRAILER_LEN};
use crate::replay::ReplayWindow;
use crate::sa::{LifetimeState, LifetimeTracker, Outcome, SaCounters, SaParams, Tunnel};
use crate::wire;

/// Largest tail of plaintext decrypted to a scratch buffer when the output
/// is too small for the whole payload: the partial last inner block, up to
/// 255 bytes of padding and the trailer, in whole blocks.
const TAIL_MAX: usize = 18 * BLOCK_LEN;

/// An inbound SA: keys, tunnel, anti-replay window, lifetime.
#[derive(Debug)]
pub struct InboundSa {
    spi: u32,
    keys: Arc<OpenKeys>,
    tunnel: Tunnel,
    window: Option<ReplayWindow>,
    highest: u32,
    lifetime: LifetimeTracker,
    counters: SaCounters,
}

impl InboundSa {
    /// Builds the SA, expanding keys once.
    pub fn new(params: SaParams) -> Result<Self, EspError> {
        params.validate()?;
        Ok(InboundSa {
            spi: params.spi,
            keys: Arc::new(OpenKeys {
                dec: CbcDecryptor::new(params.cipher, &params.enc_key)?,
                integ: IntegKey::new(params.integ, &params.auth_key)?,
            }),
            tunnel: params.tunnel,
            window: (params.replay_window != 0).then(|| ReplayWindow::new(params.replay_window)),
            highest: 0,
            lifetime: LifetimeTracker::new(params.lifetime),
            counters: SaCounters::default(),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The keys, for opening checked packets on any thread.
    pub fn keys(&self) -> &Arc<OpenKeys> {
        &self.keys
    }

    /// Highest sequence number accepted so far.
    pub fn highest_seq(&self) -> u32 {
        self.highest
    }

    /// Lifetime state.
    pub fn state(&self) -> LifetimeState {
        self.lifetime.state()
    }

    /// Counters.
    pub fn counters(&self) -> SaCounters {
        self.counters
    }

    /// Decapsulates the outer packet `packet`, writing the inner IP packet to `out`.
    ///
    /// On error the SA's replay window and lifetime are unchanged; the
    /// matching failure counter is incremented.
    pub fn decap(&mut self, packet: &[u8], out: &mut [u8]) -> Result<Outcome, EspError> {
        let checked = self.check(packet)?;
        let opened = match packet.get(checked.esp.range()) {
            Some(esp) => self.keys.open(esp, out),
            None => Err(EspError::BadParams("checked span outside the packet")),
        };
        self.commit(&checked, opened)
    }

    /// The first serial step of [`Self::decap`]: outer headers, SPI,
    /// lifetime and the anti-replay window (cheap checks, before any
    /// crypto). Changes nothing but the failure counters. The ESP part is
    /// then opened with [`OpenKeys::open`] or [`OpenKeys::open_many`], on
    /// any thread, and the outcome handed to [`Self::commit`].
    pub fn check(&mut self, packet: &[u8]) -> Result<Checked, EspError> {
        let result = self.try_check(packet);
        self.count(result)
    }

    /// The last serial step of [`Self::decap`], in packet order: takes what
    /// opening the packet gave (its inner length or why it failed), checks
    /// the lifetime and anti-replay window again (packets checked together
    /// may repeat a sequence number), then moves the window and accounts
    /// the packet.
    pub fn commit(
        &mut self,
        checked: &Checked,
        opened: Result<usize, EspError>,
    ) -> Result<Outcome, EspError> {
        let result = opened.and_then(|inner_len| self.try_commit(checked.seq, inner_len));
        self.count(result)
    }

    fn count<T>(&mut self, result: Result<T, EspError>) -> Result<T, EspError> {
        match result {
            Err(EspError::AuthFailed) => self.counters.auth_failures += 1,
            Err(EspError::Replay { .. }) => self.counters.replay_drops += 1,
            Err(EspError::OutsideWindow { .. }) => self.counters.outside_window_drops += 1,
            Err(EspError::Malformed(_)) | Err(EspError::AddressFamilyMismatch) => {
                self.counters.malformed += 1
            }
            _ => {}
        }
        result
    }

    fn try_check(&self, packet: &[u8]) -> Result<Checked, EspError> {
        let udp = self.tunnel.udp_encap;
        let outer = wire::parse_outer(packet, udp.is_some())?;
        if (outer.version == 4) != self.tunnel.dst.is_ipv4() {
            return Err(EspError::AddressFamilyMismatch);
        }
        if let (Some(u), Some(got)) = (udp, outer.udp_dst_port)
            && got != u.dst_port
        {
            return Err(M::UdpPortMismatch {
                expected: u.dst_port,
                got,
            }
            .into());
        }
        let esp = &packet[outer.esp_start..outer.esp_end];
        let icv_len = self.keys.icv_len();
        let min = ESP_HEADER_LEN + BLOCK_LEN + BLOCK_LEN + icv_len;
        if esp.len() < min {
            return Err(M::EspTruncated { len: esp.len() }.into());
        }
        let spi = u32::from_be_bytes([esp[0], esp[1], esp[2], esp[3]]);
        if spi != self.spi {
            return Err(EspError::SpiMismatch {
                expected: self.spi,
                got: spi,
            });
        }
        let seq = u32::from_be_bytes([esp[4], esp[5], esp[6], esp[7]]);
        self.lifetime.check()?;
        if let Some(w) = &self.window {
            w.check(seq)?;
        }
        Ok(Checked {
            esp: Span::new(outer.esp_start, esp.len()),
            seq,
        })
    }

    fn try_commit(&mut self, seq: u32, inner_len: usize) -> Result<Outcome, EspError> {
        self.lifetime.check()?;
        if let Some(w) = &mut self.window {
            w.check(seq)?;
            w.update(seq);
        }
        self.highest = self.highest.max(seq);
        self.counters.packets += 1;
        self.counters.bytes += inner_len as u64;
        let event = self.lifetime.account(&self.counters);
        Ok(Outcome {
            len: inner_len,
            seq,
            event,
        })
    }
}

/// A packet [`InboundSa::check`] let through, waiting to be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Its ESP part (SPI .. ICV) in the packet.
    pub esp: Span,
    /// Its sequence number.
    pub seq: u32,
}

/// Decrypts `ct` and checks the trailer; writes the inner packet to the
/// start of `out` and returns its length. If `out` has room for all of
/// `ct`, it is decrypted there in one call (the bytes after the inner
/// packet then hold padding and trailer); otherwise exactly the inner
/// packet is written, and nothing if `out` cannot hold it.
pub(crate) fn decrypt(
    dec: &CbcDecryptor,
    iv: &[u8; BLOCK_LEN],
    ct: &[u8],
    out: &mut [u8],
) -> Result<usize, EspError> {
    if let Some(whole) = out.get_mut(..ct.len()) {
        dec.decrypt_b2b(iv, ct, whole)?;
        return check_trailer(whole);
    }
    let blocks = ct.len() / BLOCK_LEN;
    // The last block alone tells the pad length and next header.
    let prev = if blocks >= 2 {
        &ct[ct.len() - 2 * BLOCK_LEN..ct.len() - BLOCK_LEN]
    } else {
        iv.as_slice()
    };
    let mut prev_iv = [0u8; BLOCK_LEN];
    prev_iv.copy_from_slice(prev);
    let mut last = [0u8; BLOCK_LEN];
    last.copy_from_slice(&ct[ct.len() - BLOCK_LEN..]);
    dec.decrypt_in_place(&prev_iv, &mut last)?;
    let pad = usize::from(last[BLOCK_LEN - 2]);
    let next_header = last[BLOCK_LEN - 1];
    let inner_len = ct
        .len()
        .checked_sub(TRAILER_LEN + pad)
        .ok_or(M::BadPadding)?;
    if out.len() < inner_len {
        return Err(EspError::DestTooSmall {
            needed: inner_len,
            available: out.len(),
        });
    }
    // Whole blocks of inner data go straight to `out`; the rest (partial
    // block, padding, trailer) to a scratch buffer.
    let direct = (inner_len / BLOCK_LEN).min(blocks - 1);
    let split = direct * BLOCK_LEN;
    if direct > 0 {
        dec.decrypt_b2b(iv, &ct[..split], &mut out[..split])?;
    }
    let mut tail_iv = *iv;
    if direct > 0 {
        tail_iv.copy_from_slice(&ct[split - BLOCK_LEN..split]);
    }
    let tail_ct = &ct[split..];
    let mut scratch = [0u8; TAIL_MAX];
    let tail = scratch.get_mut(..tail_ct.len()).ok_or(M::BadPadding)?;
    dec.decrypt_b2b(&tail_iv, tail_ct, tail)?;
    let tail_inner = inner_len - split;
    let padding = &tail[tail_inner..tail.len() - TRAILER_LEN];
    // RFC 4303 2.4: the default padding is 1, 2, 3, ...; the sender
    // (us, scapy, strongSwan, Junos) always uses it, so anything else is
    // treated as tampering.
    if padding.iter().enumerate().any(|(i, &b)| b != (i + 1) as u8) {
        return Err(M::BadPadding.into());
    }
    let version = if split > 0 { out[0] >> 4 } else { tail[0] >> 4 };
    let expected = match next_header {
        NEXT_IPV4 => 4,
        NEXT_IPV6 => 6,
        other => return Err(M::UnknownNextHeader(other).into()),
    };
    if inner_len > 0 && version != expected {
        return Err(M::InnerVersionMismatch {
            next_header,
            version,
        }
        .into());
    }
    out[split..inner_len].copy_from_slice(&tail[..tail_inner]);
    Ok(inner_len)
}

/// Checks the padding, pad length and next header of a decrypted payload
/// (inner packet, padding, trailer); returns the inner packet's length.
pub(crate) fn check_trailer(plain: &[u8]) -> Result<usize, EspError> {
    let [.., pad, next_header] = *plain else {
        return Err(M::BadPadding.into());
    };
    let inner_len = plain
        .len()
        .checked_sub(TRAILER_LEN + usize::from(pad))
        .ok_or(M::BadPadding)?;
    let padding = &plain[inner_len..plain.len() - TRAILER_LEN];
    if padding.iter().enumerate().any(|(i, &b)| b != (i + 1) as u8) {
        return Err(M::BadPadding.into());
    }
    let expected = match next_header {
        NEXT_IPV4 => 4,
        NEXT_IPV6 => 6,
        other => return Err(M::UnknownNextHeader(other).into()),
    };
    if inner_len > 0 && plain[0] >> 4 != expected {
        return Err(M::InnerVersionMismatch {
            next_header,
            version: plain[0] >> 4,
        }
        .into());
    }
    Ok(inner_len)
}
