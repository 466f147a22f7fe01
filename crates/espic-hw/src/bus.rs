//! How a host reaches a card: register access, shared memory, interrupts.

/// Host memory the card reaches by DMA, addressed by bus address.
///
/// Bus addresses are [`vm_memory::GuestAddress`] values; every access through
/// the [`vm_memory::Bytes`] trait is bounds-checked.
pub type HostMemory = vm_memory::GuestMemoryMmap<()>;

/// A bus address as written into registers and descriptors.
pub type BusAddr = vm_memory::GuestAddress;

/// The card's register window (BAR 0) as the host sees it.
///
/// The width of each access is in the method name, as on a real bus. An
/// offset that does not name a register of that width reads as all ones and
/// ignores writes (see `docs/espic/REGISTERS.md`).
pub trait Mmio: Send + Sync {
    /// 32-bit read at `offset` in the register window.
    fn read32(&self, offset: u32) -> u32;
    /// 32-bit write at `offset` in the register window.
    fn write32(&self, offset: u32, value: u32);
    /// 64-bit read at `offset` (the counters).
    fn read64(&self, offset: u32) -> u64;
}

/// One interrupt event on the card's interrupt line (a message-signalled
/// interrupt), carrying the unmasked causes pending when it was sent.
///
/// The host still reads and clears `INT_STATUS`; the snapshot is a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupt {
    /// `INT_STATUS & !INT_MASK` at the time the event was raised.
    pub causes: u32,
}

/// Copies `buf.len()` bytes of host memory at bus address `addr` into
/// `buf`; `false` (and `buf` unspecified) if any byte lies outside memory.
///
/// A range inside one memory region (the usual case) is one bounds-checked
/// slice and one copy; only a range that spans regions takes `vm-memory`'s
/// general, slower path.
pub fn dma_read(mem: &HostMemory, addr: u64, buf: &mut [u8]) -> bool {
    use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};
    match mem.get_slice(GuestAddress(addr), buf.len()) {
        Ok(s) => s.copy_to(buf) == buf.len(),
        Err(_) => mem.read_slice(buf, GuestAddress(addr)).is_ok(),
    }
}

/// Copies `buf` into host memory at bus address `addr`; `false` (and
/// nothing or part written) if any byte lies outside memory. See
/// [`dma_read`].
pub fn dma_write(mem: &HostMemory, addr: u64, buf: &[u8]) -> bool {
    use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};
    match mem.get_slice(GuestAddress(addr), buf.len()) {
        Ok(s) => {
            s.copy_from(buf);
            true
        }
        Err(_) => mem.write_slice(buf, GuestAddress(addr)).is_ok(),
    }
}
