//! CHILD_SAs on the card, gated by the authenticator: a pair (inbound and
//! outbound) is programmed through the ES PIC driver only when the peer's
//! verdict is an accepted chain; removed when the SA is deleted or reaches
//! its hard lifetime, and marked for rekey at the soft lifetime (the card's
//! lifetime interrupts).

use espic_driver::{CardEvent, Driver, LifetimeEvent, SaSpec};

use crate::auth::{Chain, Refusal};

/// The card as IKE sees it: SA slots to program and clear. The driver is
/// the real one; tests may count calls.
pub trait SaTable {
    /// Programs `spec` into slot `index`.
    fn install(&mut self, index: u32, spec: &SaSpec) -> Result<(), String>;
    /// Clears slot `index`.
    fn remove(&mut self, index: u32) -> Result<(), String>;
}

impl SaTable for Driver {
    fn install(&mut self, index: u32, spec: &SaSpec) -> Result<(), String> {
        self.add_sa(index, spec).map_err(|e| e.to_string())
    }

    fn remove(&mut self, index: u32) -> Result<(), String> {
        self.delete_sa(index).map_err(|e| e.to_string())
    }
}

/// A CHILD_SA pair programmed on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSa {
    /// The inbound SA's slot.
    pub inbound: u32,
    /// The outbound SA's slot.
    pub outbound: u32,
}

/// Why a pair was not programmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// The peer was not authenticated: nothing reaches the card.
    #[error("peer not authenticated, no SA programmed: {0}")]
    NotAuthenticated(Refusal),
    /// The card refused an SA (the other one of the pair is cleared again).
    #[error("the card refused the SA: {0}")]
    Card(String),
}

/// Programs the pair in slots `slots` (inbound, outbound) if and only if
/// `verdict` accepted the peer. If the outbound SA fails, the inbound one
/// is cleared again: the card never holds half a pair.
pub fn install_after_auth(
    verdict: &Result<Chain, Refusal>,
    card: &mut dyn SaTable,
    slots: (u32, u32),
    inbound: &SaSpec,
    outbound: &SaSpec,
) -> Result<ChildSa, InstallError> {
    if let Err(why) = verdict {
        tracing::warn!(target: "ike", "CHILD_SA not programmed: {why}");
        return Err(InstallError::NotAuthenticated(why.clone()));
    }
    card.install(slots.0, inbound).map_err(InstallError::Card)?;
    if let Err(e) = card.install(slots.1, outbound) {
        let _ = card.remove(slots.0);
        return Err(InstallError::Card(e));
    }
    tracing::info!(
        target: "ike",
        "CHILD_SA programmed: inbound SPI {:#010x} in slot {}, outbound SPI {:#010x} in slot {}",
        inbound.spi,
        slots.0,
        outbound.spi,
        slots.1
    );
    Ok(ChildSa {
        inbound: slots.0,
        outbound: slots.1,
    })
}

/// Clears both SAs of `child` (a DELETE, or a hard expiry).
pub fn remove(card: &mut dyn SaTable, child: ChildSa) -> Result<(), String> {
    let a = card.remove(child.inbound);
    let b = card.remove(child.outbound);
    a.and(b)
}

/// What a card event asks of the IKE daemon for its CHILD_SAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The soft lifetime passed: negotiate a new pair.
    Rekey(ChildSa),
    /// The hard lifetime was reached: the pair is removed.
    Remove(ChildSa),
}

/// The action for `event` among `children` (None: not one of ours).
pub fn on_event(event: &CardEvent, children: &[ChildSa]) -> Option<Action> {
    let CardEvent::Lifetime { sa_index, event } = event else {
        return None;
    };
    let child = children
        .iter()
        .find(|c| c.inbound == *sa_index || c.outbound == *sa_index)?;
    Some(match event {
        LifetimeEvent::Soft => Action::Rekey(*child),
        LifetimeEvent::Hard => Action::Remove(*child),
    })
}
