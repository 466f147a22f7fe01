//! The card's SA table: slots holding ESP state and keys.
//!
//! Keys enter only through SA_ADD and never leave: [`SaTable::stats`] returns
//! counters, and removing an SA (SA_DELETE, soft reset) drops its state,
//! which zeroizes the keys.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use esp::{
    CipherAlg, InboundSa, IntegAlg, Lifetime, LifetimeState, OutboundSa, SaParams, Tunnel, UdpEncap,
};
use espic_hw::Status;
use espic_hw::desc::{self, SaBlock, SaStats};
use zeroize::Zeroize;

/// An installed SA: one direction of ESP with its algorithm codes.
pub enum SaEntry {
    /// Used by ENCAP.
    Outbound(OutboundSa),
    /// Used by DECAP.
    Inbound(InboundSa),
}

struct Slot {
    entry: SaEntry,
    cipher: u8,
    integ: u8,
}

/// The SA table: [`espic_hw::regs::SA_TABLE_SIZE`] slots and an index of
/// inbound SAs by SPI.
pub struct SaTable {
    slots: Vec<Option<Slot>>,
    inbound_by_spi: HashMap<u32, u32>,
}

impl SaTable {
    /// An empty table with `capacity` slots.
    pub fn new(capacity: u32) -> Self {
        SaTable {
            slots: (0..capacity).map(|_| None).collect(),
            inbound_by_spi: HashMap::new(),
        }
    }

    /// Installs the SA described by `block` in slot `index`.
    pub fn add(&mut self, index: u32, block: &SaBlock) -> Result<(), Status> {
        let slot = self.slots.get(index as usize).ok_or(Status::BadSaIndex)?;
        if slot.is_some() {
            return Err(Status::SaExists);
        }
        let params = decode(block)?;
        let spi = params.spi;
        let entry = match block.direction {
            desc::DIR_OUTBOUND => {
                SaEntry::Outbound(OutboundSa::new(params).map_err(|_| Status::BadSaParams)?)
            }
            desc::DIR_INBOUND => {
                if self.inbound_by_spi.contains_key(&spi) {
                    return Err(Status::SaExists);
                }
                SaEntry::Inbound(InboundSa::new(params).map_err(|_| Status::BadSaParams)?)
            }
            _ => return Err(Status::BadSaParams),
        };
        if matches!(entry, SaEntry::Inbound(_)) {
            self.inbound_by_spi.insert(spi, index);
        }
        self.slots[index as usize] = Some(Slot {
            entry,
            cipher: block.cipher,
            integ: block.integ,
        });
        Ok(())
    }

    /// Removes slot `index`; its keys are zeroized as its state drops.
    pub fn delete(&mut self, index: u32) -> Result<(), Status> {
        let slot = self
            .slots
            .get_mut(index as usize)
            .ok_or(Status::BadSaIndex)?;
        let old = slot.take().ok_or(Status::UnknownSa)?;
        if let SaEntry::Inbound(sa) = &old.entry {
            self.inbound_by_spi.remove(&sa.spi());
        }
        Ok(())
    }

    /// Removes every SA (soft reset).
    pub fn clear(&mut self) {
        for s in &mut self.slots {
            *s = None;
        }
        self.inbound_by_spi.clear();
    }

    /// The SA in slot `index`.
    pub fn get_mut(&mut self, index: u32) -> Result<&mut SaEntry, Status> {
        let slot = self
            .slots
            .get_mut(index as usize)
            .ok_or(Status::BadSaIndex)?;
        slot.as_mut().map(|s| &mut s.entry).ok_or(Status::UnknownSa)
    }

    /// The slot of the inbound SA with `spi`.
    pub fn find_inbound(&self, spi: u32) -> Option<u32> {
        self.inbound_by_spi.get(&spi).copied()
    }

    /// Counters and state of slot `index`, never its keys.
    pub fn stats(&self, index: u32) -> Result<SaStats, Status> {
        let slot = self.slots.get(index as usize).ok_or(Status::BadSaIndex)?;
        let slot = slot.as_ref().ok_or(Status::UnknownSa)?;
        let (spi, direction, state, c, seq) = match &slot.entry {
            SaEntry::Outbound(sa) => (
                sa.spi(),
                desc::DIR_OUTBOUND,
                sa.state(),
                sa.counters(),
                sa.next_seq().saturating_sub(1),
            ),
            SaEntry::Inbound(sa) => (
                sa.spi(),
                desc::DIR_INBOUND,
                sa.state(),
                sa.counters(),
                u64::from(sa.highest_seq()),
            ),
        };
        Ok(SaStats {
            spi: spi.into(),
            direction,
            state: match state {
                LifetimeState::Active => desc::SA_STATE_ACTIVE,
                LifetimeState::SoftExpired => desc::SA_STATE_SOFT_EXPIRED,
                LifetimeState::HardExpired => desc::SA_STATE_HARD_EXPIRED,
            },
            cipher: slot.cipher,
            integ: slot.integ,
            packets: c.packets.into(),
            bytes: c.bytes.into(),
            auth_failures: c.auth_failures.into(),
            replay_drops: (c.replay_drops + c.outside_window_drops).into(),
            malformed: c.malformed.into(),
            seq: seq.into(),
            reserved: 0.into(),
        })
    }
}

/// Decodes an SA block into ESP parameters, checking every field the block
/// format itself constrains; `esp` checks the rest when the SA is built.
fn decode(block: &SaBlock) -> Result<SaParams, Status> {
    let cipher = match block.cipher {
        desc::CIPHER_AES128_CBC => CipherAlg::Aes128Cbc,
        desc::CIPHER_AES192_CBC => CipherAlg::Aes192Cbc,
        desc::CIPHER_AES256_CBC => CipherAlg::Aes256Cbc,
        _ => return Err(Status::BadSaParams),
    };
    let integ = match block.integ {
        desc::INTEG_HMAC_SHA1_96 => IntegAlg::HmacSha1_96,
        desc::INTEG_HMAC_SHA256_128 => IntegAlg::HmacSha256_128,
        _ => return Err(Status::BadSaParams),
    };
    if block.flags & !(desc::SA_F_IPV6 | desc::SA_F_UDP_ENCAP) != 0 {
        return Err(Status::BadSaParams);
    }
    let enc_len = usize::from(block.key_lens[0]);
    let auth_len = usize::from(block.key_lens[1]);
    let enc_key = block
        .enc_key
        .get(..enc_len)
        .ok_or(Status::BadSaParams)?
        .to_vec();
    let auth_key = block
        .auth_key
        .get(..auth_len)
        .ok_or(Status::BadSaParams)?
        .to_vec();
    let addr = |raw: &[u8; 16]| -> IpAddr {
        if block.flags & desc::SA_F_IPV6 != 0 {
            IpAddr::V6(Ipv6Addr::from(*raw))
        } else {
            IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
        }
    };
    let udp_encap = (block.flags & desc::SA_F_UDP_ENCAP != 0).then(|| UdpEncap {
        src_port: block.udp_src_port.get(),
        dst_port: block.udp_dst_port.get(),
    });
    let params = SaParams {
        spi: block.spi.get(),
        cipher,
        enc_key,
        integ,
        auth_key,
        tunnel: Tunnel {
            src: addr(&block.tunnel_src),
            dst: addr(&block.tunnel_dst),
            udp_encap,
        },
        replay_window: block.replay_window.get(),
        lifetime: Lifetime {
            soft_bytes: block.soft_bytes.get(),
            hard_bytes: block.hard_bytes.get(),
            soft_packets: block.soft_packets.get(),
            hard_packets: block.hard_packets.get(),
        },
        initial_seq: block.initial_seq.get(),
    };
    params.validate().map_err(|_| Status::BadSaParams)?;
    Ok(params)
}

/// Zeroizes the key bytes of an SA block copy once it has been consumed.
pub fn wipe(block: &mut SaBlock) {
    block.enc_key.zeroize();
    block.auth_key.zeroize();
}
