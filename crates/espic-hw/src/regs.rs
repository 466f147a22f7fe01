//! Register map of BAR 0. The table in `docs/espic/REGISTERS.md` is the
//! source of truth; `tests/register_table.rs` checks [`REGISTERS`] against it.

/// Size of the register window in bytes.
pub const BAR_SIZE: u32 = 0x1000;

/// How software may access a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-only; writes are ignored.
    Ro,
    /// Read-write.
    Rw,
    /// Write 1 to clear.
    W1c,
    /// Write-only; reads as 0.
    Wo,
}

/// One register of the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegDef {
    /// Name as in the datasheet.
    pub name: &'static str,
    /// Byte offset in BAR 0.
    pub offset: u32,
    /// Width in bits (32 or 64).
    pub width: u8,
    /// Access type.
    pub access: Access,
    /// Value at power-on (see PROGRAMMING-MODEL.md for what a soft reset
    /// keeps: ring registers, INT_MASK, BATCH_MAX).
    pub reset: u64,
}

macro_rules! registers {
    ($($name:ident = $off:literal, $width:literal, $access:ident, $reset:literal;)*) => {
        $(
            #[doc = concat!("Offset of `", stringify!($name), "` (see docs/espic/REGISTERS.md).")]
            pub const $name: u32 = $off;
        )*
        /// Every register, in offset order.
        pub const REGISTERS: &[RegDef] = &[
            $(RegDef { name: stringify!($name), offset: $off, width: $width, access: Access::$access, reset: $reset },)*
        ];
    };
}

registers! {
    ID = 0x000, 32, Ro, 0x4553_5043;
    VERSION = 0x004, 32, Ro, 0x0001_0000;
    CAPS = 0x008, 32, Ro, 0x0000_003F;
    SA_CAPACITY = 0x00C, 32, Ro, 0x0000_0400;
    CTRL = 0x010, 32, Rw, 0;
    STATUS = 0x014, 32, Ro, 0;
    INT_STATUS = 0x018, 32, W1c, 0;
    INT_MASK = 0x01C, 32, Rw, 0xFFFF_FFFF;
    CMD_BASE_LO = 0x020, 32, Rw, 0;
    CMD_BASE_HI = 0x024, 32, Rw, 0;
    CMD_SIZE = 0x028, 32, Rw, 0;
    CMD_TAIL = 0x02C, 32, Rw, 0;
    CMD_HEAD = 0x030, 32, Ro, 0;
    CPL_BASE_LO = 0x034, 32, Rw, 0;
    CPL_BASE_HI = 0x038, 32, Rw, 0;
    CPL_SIZE = 0x03C, 32, Rw, 0;
    CPL_HEAD = 0x040, 32, Rw, 0;
    CPL_TAIL = 0x044, 32, Ro, 0;
    FAULT_ADDR_LO = 0x048, 32, Ro, 0;
    FAULT_ADDR_HI = 0x04C, 32, Ro, 0;
    FAULT_CODE = 0x050, 32, Ro, 0;
    BATCH_MAX = 0x054, 32, Rw, 0x40;
    SA_EVENT = 0x058, 32, Ro, 0xFFFF_FFFF;
    BAD_ACCESS = 0x05C, 32, Ro, 0;
    ERR_INJECT = 0x060, 32, Rw, 0;
    CNT_ENCAP_PKTS = 0x100, 64, Ro, 0;
    CNT_ENCAP_BYTES = 0x108, 64, Ro, 0;
    CNT_DECAP_PKTS = 0x110, 64, Ro, 0;
    CNT_DECAP_BYTES = 0x118, 64, Ro, 0;
    CNT_AUTH_FAIL = 0x120, 64, Ro, 0;
    CNT_REPLAY = 0x128, 64, Ro, 0;
    CNT_OUTSIDE_WINDOW = 0x130, 64, Ro, 0;
    CNT_UNKNOWN_SA = 0x138, 64, Ro, 0;
    CNT_BAD_OPCODE = 0x140, 64, Ro, 0;
    CNT_DST_TOO_SMALL = 0x148, 64, Ro, 0;
    CNT_MALFORMED = 0x150, 64, Ro, 0;
    CNT_DMA_FAULT = 0x158, 64, Ro, 0;
    CNT_LIFETIME_EXPIRED = 0x160, 64, Ro, 0;
    CNT_SEQ_OVERFLOW = 0x168, 64, Ro, 0;
    CNT_BAD_SA = 0x170, 64, Ro, 0;
    CNT_ABORTED = 0x178, 64, Ro, 0;
    CNT_DESCRIPTORS = 0x180, 64, Ro, 0;
    CNT_INTERRUPTS = 0x188, 64, Ro, 0;
}

/// Value of `ID`: ASCII "ESPC".
pub const ID_VALUE: u32 = 0x4553_5043;
/// Number of SA table entries (value of `SA_CAPACITY`).
pub const SA_TABLE_SIZE: u32 = 1024;
/// Smallest ring size the card accepts.
pub const RING_MIN: u32 = 2;
/// Largest ring size the card accepts.
pub const RING_MAX: u32 = 4096;
/// Largest value `BATCH_MAX` accepts.
pub const BATCH_LIMIT: u32 = 256;

/// `CTRL` fields.
pub mod ctrl {
    /// The engine processes the command ring.
    pub const ENABLE: u32 = 1 << 0;
    /// Write 1 to reset; reads 1 until the reset is done.
    pub const SOFT_RESET: u32 = 1 << 1;
}

/// `STATUS` fields.
pub mod status {
    /// The engine is enabled and its rings are valid.
    pub const RUNNING: u32 = 1 << 0;
    /// A fatal fault stopped the engine until a soft reset.
    pub const FATAL: u32 = 1 << 1;
    /// The engine is stalled on a full completion ring.
    pub const CPL_FULL: u32 = 1 << 2;
}

/// `CAPS` fields.
pub mod caps {
    /// AES-128-CBC.
    pub const AES128_CBC: u32 = 1 << 0;
    /// AES-192-CBC.
    pub const AES192_CBC: u32 = 1 << 1;
    /// AES-256-CBC.
    pub const AES256_CBC: u32 = 1 << 2;
    /// HMAC-SHA1-96.
    pub const HMAC_SHA1_96: u32 = 1 << 3;
    /// HMAC-SHA-256-128.
    pub const HMAC_SHA256_128: u32 = 1 << 4;
    /// UDP encapsulation of ESP (RFC 3948).
    pub const UDP_ENCAP: u32 = 1 << 5;
}

/// `INT_STATUS` / `INT_MASK` causes.
pub mod int {
    /// A batch of completions was published.
    pub const COMPLETION: u32 = 1 << 0;
    /// A DMA access fell outside host memory.
    pub const DMA_FAULT: u32 = 1 << 1;
    /// A fatal fault stopped the engine.
    pub const FATAL: u32 = 1 << 2;
    /// An SA reached its soft lifetime.
    pub const SA_SOFT: u32 = 1 << 3;
    /// An SA reached its hard lifetime.
    pub const SA_HARD: u32 = 1 << 4;
    /// The engine stalled on a full completion ring.
    pub const CPL_FULL: u32 = 1 << 5;
    /// A soft reset finished.
    pub const RESET_DONE: u32 = 1 << 6;
    /// Every defined cause.
    pub const ALL: u32 = 0x7F;
}

/// Looks up the register at `offset`.
pub fn find(offset: u32) -> Option<&'static RegDef> {
    REGISTERS.iter().find(|r| r.offset == offset)
}
