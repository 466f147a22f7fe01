//! The ES PIC datasheet in code.
//!
//! Everything both sides of the card's host interface must agree on, and
//! nothing else: register offsets and fields ([`regs`]), descriptor,
//! completion and SA block layouts ([`desc`]), opcodes and status codes
//! ([`status`]), the register-access and interrupt types that connect a host
//! to a card ([`bus`]). No logic, no I/O.
//!
//! The device (`espic`) and the host driver (`espic-driver`) both depend on
//! this crate and never on each other. The tables in `docs/espic/` are the
//! human-readable form of the same facts and are checked against this crate
//! by its tests.

pub mod bus;
pub mod desc;
pub mod regs;
pub mod status;

pub use bus::{HostMemory, Interrupt, Mmio, dma_read, dma_write};
pub use desc::{Completion, Descriptor, SaBlock, SaStats};
pub use status::{FaultCode, Opcode, Status};
