//! Driver errors, and the one place where the card's status codes become
//! Rust errors.

use espic_hw::{FaultCode, Status};

/// A descriptor the card completed with a failure status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The ICV did not match.
    #[error("authentication failed (ICV mismatch)")]
    AuthFailed,
    /// The sequence number was already received.
    #[error("replayed packet")]
    Replay,
    /// The sequence number is left of the anti-replay window.
    #[error("sequence number outside the anti-replay window")]
    OutsideWindow,
    /// No such SA on the card.
    #[error("unknown SA")]
    UnknownSa,
    /// The opcode is not one the card knows.
    #[error("bad opcode")]
    BadOpcode,
    /// The destination buffer was too small.
    #[error("destination buffer too small")]
    DstTooSmall,
    /// Not a well-formed ESP or IP packet.
    #[error("malformed packet")]
    Malformed,
    /// A buffer lay outside host memory.
    #[error("DMA fault")]
    DmaFault,
    /// The SA reached its hard lifetime.
    #[error("SA lifetime expired")]
    LifetimeExpired,
    /// The outbound sequence number would wrap.
    #[error("sequence number overflow")]
    SeqOverflow,
    /// The SA block was refused.
    #[error("invalid SA parameters")]
    BadSaParams,
    /// The SA slot is in use, or the inbound SPI is taken.
    #[error("SA already exists")]
    SaExists,
    /// The SA index is beyond the card's table.
    #[error("SA index out of range")]
    BadSaIndex,
    /// Drained by a soft reset.
    #[error("aborted by a card reset")]
    Aborted,
    /// The SA's direction does not fit the operation.
    #[error("SA direction does not fit the operation")]
    WrongDirection,
    /// A status code this driver does not know.
    #[error("unknown device status {0}")]
    Unknown(u16),
}

impl DeviceError {
    /// Maps a raw completion status: `Ok(())` for success.
    pub fn check(raw: u16) -> Result<(), DeviceError> {
        let Some(status) = Status::from_raw(raw) else {
            return Err(DeviceError::Unknown(raw));
        };
        Err(match status {
            Status::Ok => return Ok(()),
            Status::AuthFailed => DeviceError::AuthFailed,
            Status::Replay => DeviceError::Replay,
            Status::OutsideWindow => DeviceError::OutsideWindow,
            Status::UnknownSa => DeviceError::UnknownSa,
            Status::BadOpcode => DeviceError::BadOpcode,
            Status::DstTooSmall => DeviceError::DstTooSmall,
            Status::Malformed => DeviceError::Malformed,
            Status::DmaFault => DeviceError::DmaFault,
            Status::LifetimeExpired => DeviceError::LifetimeExpired,
            Status::SeqOverflow => DeviceError::SeqOverflow,
            Status::BadSaParams => DeviceError::BadSaParams,
            Status::SaExists => DeviceError::SaExists,
            Status::BadSaIndex => DeviceError::BadSaIndex,
            Status::Aborted => DeviceError::Aborted,
            Status::WrongDirection => DeviceError::WrongDirection,
        })
    }
}

/// Why a driver call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The register window does not identify an ES PIC.
    #[error("no ES PIC at this BAR (ID register reads {0:#010x})")]
    NoCard(u32),
    /// The card's programming model is not one this driver speaks.
    #[error("unsupported ES PIC programming model version {0:#010x}")]
    Version(u32),
    /// The DMA window given to the driver cannot hold its rings and buffers.
    #[error("DMA window at {base:#x} ({len} bytes) is not usable: {why}")]
    Window {
        /// Window base.
        base: u64,
        /// Window length.
        len: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid driver configuration: {0}")]
    Config(&'static str),
    /// The command ring has no free slot.
    #[error("command ring full")]
    RingFull,
    /// The packet does not fit a slot buffer.
    #[error("packet of {len} bytes exceeds the {max}-byte slot buffer")]
    TooLarge {
        /// Packet length.
        len: usize,
        /// Slot buffer size.
        max: usize,
    },
    /// The SA description is invalid.
    #[error("invalid SA: {0}")]
    InvalidSa(&'static str),
    /// The card completed the request with a failure.
    #[error("card refused the request: {0}")]
    Device(#[from] DeviceError),
    /// The card stopped on a fatal fault.
    #[error("card stopped on a fatal fault: {code:?} at {addr:#x}")]
    Fatal {
        /// FAULT_CODE.
        code: Option<FaultCode>,
        /// FAULT_ADDR.
        addr: u64,
    },
    /// The card did not answer in time.
    #[error("card did not answer: {0}")]
    Timeout(&'static str),
    /// The card wrote something the driver cannot make sense of.
    #[error("card protocol violation: {0}")]
    Protocol(&'static str),
    /// Host memory access failed.
    #[error("host memory access failed at {0:#x}")]
    Memory(u64),
}
