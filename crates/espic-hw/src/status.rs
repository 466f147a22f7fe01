//! Opcodes, completion status codes and fault codes.

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident : $repr:ty { $($(#[$vm:meta])* $var:ident = $val:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr($repr)]
        pub enum $name {
            $($(#[$vm])* $var = $val,)*
        }
        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$var,)*];
            /// Decodes a raw value; `None` for a value the datasheet does not define.
            pub fn from_raw(raw: $repr) -> Option<Self> {
                match raw {
                    $($val => Some($name::$var),)*
                    _ => None,
                }
            }
            /// The datasheet name.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$var => stringify!($var),)*
                }
            }
        }
    };
}

code_enum! {
    /// Descriptor opcode (byte 0 of a [`crate::Descriptor`]).
    Opcode: u8 {
        /// Do nothing; completes with OK (used to fence).
        Nop = 0,
        /// Encapsulate the inner packet at src with the outbound SA into dst.
        Encap = 1,
        /// Decapsulate the ESP packet at src with the inbound SA into dst.
        Decap = 2,
        /// Install the [`crate::SaBlock`] at src into SA slot `sa_index`.
        SaAdd = 3,
        /// Remove SA slot `sa_index` and zeroize its keys.
        SaDelete = 4,
        /// Write the [`crate::SaStats`] of slot `sa_index` to dst.
        SaQuery = 5,
    }
}

code_enum! {
    /// Completion status (the `status` field of a [`crate::Completion`]).
    Status: u16 {
        /// Done.
        Ok = 0,
        /// The ICV did not match.
        AuthFailed = 1,
        /// The sequence number was already received.
        Replay = 2,
        /// The sequence number is left of the anti-replay window.
        OutsideWindow = 3,
        /// No SA at that index, or no inbound SA with that SPI.
        UnknownSa = 4,
        /// The opcode is not defined.
        BadOpcode = 5,
        /// The destination buffer cannot hold the result.
        DstTooSmall = 6,
        /// The packet is not a well-formed ESP or inner IP packet.
        Malformed = 7,
        /// A buffer lies outside host memory (FAULT_ADDR/FAULT_CODE set).
        DmaFault = 8,
        /// The SA reached its hard lifetime.
        LifetimeExpired = 9,
        /// The outbound sequence number would wrap.
        SeqOverflow = 10,
        /// The SA block is invalid (algorithm, key length, window, family).
        BadSaParams = 11,
        /// SA_ADD to a slot that is in use.
        SaExists = 12,
        /// The SA index is beyond SA_CAPACITY.
        BadSaIndex = 13,
        /// The descriptor was drained by a soft reset before it ran.
        Aborted = 14,
        /// The SA's direction does not fit the opcode (encap with an inbound SA).
        WrongDirection = 15,
    }
}

code_enum! {
    /// Value of the `FAULT_CODE` register.
    FaultCode: u32 {
        /// No fault.
        None = 0,
        /// A read outside host memory.
        DmaRead = 1,
        /// A write outside host memory.
        DmaWrite = 2,
        /// CMD_TAIL beyond CMD_SIZE (fatal).
        CmdIndex = 3,
        /// CPL_HEAD beyond CPL_SIZE (fatal).
        CplIndex = 4,
        /// Invalid ring base, size or alignment (fatal).
        RingConfig = 5,
        /// A descriptor could not be read or a completion written (fatal).
        RingDma = 6,
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Status {
    /// The counter register a descriptor completing with this status bumps
    /// (besides CNT_DESCRIPTORS); `None` for Ok. See REGISTERS.md.
    pub fn counter(self) -> Option<u32> {
        use crate::regs;
        Some(match self {
            Status::Ok => return None,
            Status::AuthFailed => regs::CNT_AUTH_FAIL,
            Status::Replay => regs::CNT_REPLAY,
            Status::OutsideWindow => regs::CNT_OUTSIDE_WINDOW,
            Status::UnknownSa => regs::CNT_UNKNOWN_SA,
            Status::BadOpcode => regs::CNT_BAD_OPCODE,
            Status::DstTooSmall => regs::CNT_DST_TOO_SMALL,
            Status::Malformed => regs::CNT_MALFORMED,
            Status::DmaFault => regs::CNT_DMA_FAULT,
            Status::LifetimeExpired => regs::CNT_LIFETIME_EXPIRED,
            Status::SeqOverflow => regs::CNT_SEQ_OVERFLOW,
            Status::BadSaParams
            | Status::SaExists
            | Status::BadSaIndex
            | Status::WrongDirection => regs::CNT_BAD_SA,
            Status::Aborted => regs::CNT_ABORTED,
        })
    }
}
