//! The sending side of an SA: tunnel-mode encapsulation (RFC 4303 3.3).

use std::sync::Arc;

use crate::batch::{SealKeys, Span};
use crate::crypto::{BLOCK_LEN, CbcEncryptor, IntegKey};
use crate::error::{EspError, MalformedReason as M};
use crate::sa::{LifetimeState, LifetimeTracker, Outcome, SaCounters, SaParams, Tunnel};
use crate::wire;

/// ESP header: SPI and sequence number.
pub(crate) const ESP_HEADER_LEN: usize = 8;
/// ESP trailer: pad length and next header.
pub(crate) const TRAILER_LEN: usize = 2;
/// Next header value for an inner IPv4 packet.
pub(crate) const NEXT_IPV4: u8 = 4;
/// Next header value for an inner IPv6 packet.
pub(crate) const NEXT_IPV6: u8 = 41;

/// Padding that brings `inner_len` plus the trailer to a block multiple.
pub(crate) fn pad_len(inner_len: usize) -> usize {
    (BLOCK_LEN - (inner_len + TRAILER_LEN) % BLOCK_LEN) % BLOCK_LEN
}

/// An outbound SA: keys, tunnel, sequence counter, lifetime.
#[derive(Debug)]
pub struct OutboundSa {
    spi: u32,
    keys: Arc<SealKeys>,
    tunnel: Tunnel,
    /// Sequence number of the next packet, as u64 so that 2^32 means "exhausted".
    next_seq: u64,
    lifetime: LifetimeTracker,
    counters: SaCounters,
}

impl OutboundSa {
    /// Builds the SA, expanding keys once.
    pub fn new(params: SaParams) -> Result<Self, EspError> {
        params.validate()?;
        Ok(OutboundSa {
            spi: params.spi,
            keys: Arc::new(SealKeys {
                enc: CbcEncryptor::new(params.cipher, &params.enc_key)?,
                integ: IntegKey::new(params.integ, &params.auth_key)?,
            }),
            tunnel: params.tunnel,
            next_seq: u64::from(params.initial_seq) + 1,
            lifetime: LifetimeTracker::new(params.lifetime),
            counters: SaCounters::default(),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The keys, for sealing prepared packets on any thread.
    pub fn keys(&self) -> &Arc<SealKeys> {
        &self.keys
    }

    /// Sequence number the next packet will carry (2^32 once exhausted).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Lifetime state.
    pub fn state(&self) -> LifetimeState {
        self.lifetime.state()
    }

    /// Counters.
    pub fn counters(&self) -> SaCounters {
        self.counters
    }

    /// Bytes [`Self::encap`] writes for an inner packet of `inner_len` bytes.
    pub fn encap_len(&self, inner_len: usize) -> usize {
        wire::outer_len(&self.tunnel)
            + ESP_HEADER_LEN
            + BLOCK_LEN
            + inner_len
            + pad_len(inner_len)
            + TRAILER_LEN
            + self.keys.icv_len()
    }

    /// Encapsulates the IP packet `inner` into `out`, using `iv` as the CBC IV.
    ///
    /// The IV must be unpredictable (fresh random bytes per packet); it is a
    /// parameter so that the card can draw IVs in bulk and tests can pin it.
    /// On error nothing is written and only the counters may change.
    pub fn encap(
        &mut self,
        inner: &[u8],
        iv: &[u8; BLOCK_LEN],
        out: &mut [u8],
    ) -> Result<Outcome, EspError> {
        let prepared = self.prepare(inner, iv, out)?;
        let esp = out
            .get_mut(prepared.esp.range())
            .ok_or(EspError::BadParams("prepared span outside the buffer"))?;
        self.keys.seal(esp)?;
        prepared.finish(out);
        Ok(prepared.outcome)
    }

    /// The serial half of [`Self::encap`]: checks `inner` and the room in
    /// `out`, takes the next sequence number, accounts the packet against
    /// the lifetime and writes the outer header, ESP header, IV, plaintext,
    /// padding and trailer. The ESP part (returned as a span of `out`) is
    /// then sealed with [`SealKeys::seal`] or [`SealKeys::seal_many`], on
    /// any thread, and the packet completed with [`Prepared::finish`];
    /// until then it must not leave.
    ///
    /// On error nothing is written and only the counters may change.
    pub fn prepare(
        &mut self,
        inner: &[u8],
        iv: &[u8; BLOCK_LEN],
        out: &mut [u8],
    ) -> Result<Prepared, EspError> {
        self.counted(|sa| sa.try_prepare(Inner::Copy(inner), iv, out))
    }

    /// Where in its output buffer an encapsulated packet's plaintext
    /// starts: after the outer header, ESP header and IV.
    pub fn payload_offset(&self) -> usize {
        wire::outer_len(&self.tunnel) + ESP_HEADER_LEN + BLOCK_LEN
    }

    /// [`Self::prepare`] for an inner packet of `inner_len` bytes that is
    /// already in `out` at [`Self::payload_offset`]: what a card does when
    /// it reads the packet from host memory straight into its place, with
    /// no copy in between.
    ///
    /// On error the inner packet stays as it was, nothing else is
    /// written and only the counters may change.
    pub fn prepare_in_place(
        &mut self,
        inner_len: usize,
        iv: &[u8; BLOCK_LEN],
        out: &mut [u8],
    ) -> Result<Prepared, EspError> {
        self.counted(|sa| sa.try_prepare(Inner::InPlace(inner_len), iv, out))
    }

    /// Runs `f`, counting a malformed packet.
    fn counted(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Prepared, EspError>,
    ) -> Result<Prepared, EspError> {
        let result = f(self);
        if let Err(EspError::Malformed(_)) = result {
            self.counters.malformed += 1;
        }
        result
    }

    fn try_prepare(
        &mut self,
        inner: Inner<'_>,
        iv: &[u8; BLOCK_LEN],
        out: &mut [u8],
    ) -> Result<Prepared, EspError> {
        let payload_at = self.payload_offset();
        let (inner_len, first) = match inner {
            Inner::Copy(p) => (p.len(), p.first().copied()),
            Inner::InPlace(n) => {
                let end = payload_at.saturating_add(n);
                if out.len() < end {
                    return Err(EspError::DestTooSmall {
                        needed: end,
                        available: out.len(),
                    });
                }
                (n, out.get(payload_at).copied().filter(|_| n > 0))
            }
        };
        let next_header = match first.map(|b| b >> 4) {
            None => return Err(M::InnerEmpty.into()),
            Some(4) => NEXT_IPV4,
            Some(6) => NEXT_IPV6,
            Some(version) => return Err(M::InnerNotIp { version }.into()),
        };
        let total = self.encap_len(inner_len);
        let hdr = wire::outer_len(&self.tunnel);
        // IPv4 total length, or IPv6 payload length, must fit 16 bits.
        let length_field = if self.tunnel.dst.is_ipv4() {
            total
        } else {
            total - wire::IPV6_HEADER_LEN
        };
        if length_field > usize::from(u16::MAX) {
            return Err(M::InnerTooLarge { len: inner_len }.into());
        }
        if out.len() < total {
            return Err(EspError::DestTooSmall {
                needed: total,
                available: out.len(),
            });
        }
        self.lifetime.check()?;
        let seq = u32::try_from(self.next_seq).map_err(|_| EspError::SeqOverflow)?;

        let out = &mut out[..total];
        let icv_len = self.keys.icv_len();
        let esp = &mut out[hdr..];
        esp[0..4].copy_from_slice(&self.spi.to_be_bytes());
        esp[4..8].copy_from_slice(&seq.to_be_bytes());
        esp[8..8 + BLOCK_LEN].copy_from_slice(iv);
        let ct_start = ESP_HEADER_LEN + BLOCK_LEN;
        let ct_end = esp.len() - icv_len;
        let pad = pad_len(inner_len);
        {
            let payload = &mut esp[ct_start..ct_end];
            if let Inner::Copy(inner) = inner {
                payload[..inner_len].copy_from_slice(inner);
            }
            for (i, b) in payload[inner_len..inner_len + pad].iter_mut().enumerate() {
                *b = (i + 1) as u8;
            }
            payload[inner_len + pad] = pad as u8;
            payload[inner_len + pad + 1] = next_header;
        }
        let esp_len = esp.len();
        wire::write_outer(&self.tunnel, out, esp_len, seq);

        self.next_seq += 1;
        self.counters.packets += 1;
        self.counters.bytes += inner_len as u64;
        let event = self.lifetime.account(&self.counters);
        Ok(Prepared {
            outcome: Outcome {
                len: total,
                seq,
                event,
            },
            esp: Span::new(hdr, esp_len),
        })
    }
}

/// Where [`OutboundSa::try_prepare`] finds the inner packet.
#[derive(Clone, Copy)]
enum Inner<'a> {
    /// In this slice, to be copied into place.
    Copy(&'a [u8]),
    /// Already in place: this many bytes at the payload offset.
    InPlace(usize),
}

/// A packet [`OutboundSa::prepare`] laid out, waiting to be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// What [`OutboundSa::encap`] would return for it.
    pub outcome: Outcome,
    /// Its ESP part (SPI .. ICV) in the output buffer.
    pub esp: Span,
}

impl Prepared {
    /// Completes the sealed packet in `out` (the buffer given to
    /// [`OutboundSa::prepare`]): the UDP checksum of an IPv6 tunnel, which
    /// covers the ciphertext and ICV.
    pub fn finish(&self, out: &mut [u8]) {
        if let Some(packet) = out.get_mut(..self.outcome.len) {
            wire::finish_outer(packet);
        }
    }
}
