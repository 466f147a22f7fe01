//! The chassis: a routing engine and FPC slots holding PICs, one of them
//! the ES PIC (the card of `crates/espic`), with serial numbers.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::str::FromStr;

use crate::datadir::DataDir;

/// An FPC/PIC slot pair, written `F/P` (as in interface `es-F/P/0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    /// FPC slot (0..=7 on an M320).
    pub fpc: u8,
    /// PIC slot (0..=3).
    pub pic: u8,
}

/// FPC slots of the simulated M320.
pub const FPC_SLOTS: u8 = 8;
/// PIC slots per FPC.
pub const PIC_SLOTS: u8 = 4;

impl FromStr for Slot {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (f, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid slot '{s}': expecting FPC/PIC, e.g. 1/0"))?;
        let fpc: u8 = f.parse().map_err(|_| format!("invalid FPC slot '{f}'"))?;
        let pic: u8 = p.parse().map_err(|_| format!("invalid PIC slot '{p}'"))?;
        if fpc >= FPC_SLOTS || pic >= PIC_SLOTS {
            return Err(format!(
                "slot {fpc}/{pic} does not exist: FPC 0..{} and PIC 0..{}",
                FPC_SLOTS - 1,
                PIC_SLOTS - 1
            ));
        }
        Ok(Slot { fpc, pic })
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.fpc, self.pic)
    }
}

/// A PIC in an FPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pic {
    /// Where it sits.
    pub slot: Slot,
    /// Description as `show chassis hardware` prints it.
    pub description: &'static str,
    /// Part number.
    pub part: &'static str,
    /// Serial number.
    pub serial: String,
    /// Interface name prefix (`es` for the ES PIC, `ge` for Gigabit Ethernet).
    pub ifd: &'static str,
}

/// The chassis inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chassis {
    /// Chassis model.
    pub model: &'static str,
    /// Chassis serial number (what an empty `SN` in a certificate subject is filled with).
    pub serial: String,
    /// The ES PIC's slot.
    pub es_pic: Slot,
    /// Every PIC, sorted by slot.
    pub pics: Vec<Pic>,
}

impl Chassis {
    /// The chassis of the router in `dir`: its serial is made at first start
    /// (from the OS random source) and kept in the data directory.
    pub fn load_or_create(dir: &DataDir, es_pic: Slot) -> io::Result<Self> {
        let path = dir.chassis_file();
        let serial = match fs::read_to_string(&path) {
            Ok(s) if is_serial(s.trim()) => s.trim().to_string(),
            _ => {
                let mut b = [0u8; 5];
                getrandom::fill(&mut b).map_err(|e| io::Error::other(e.to_string()))?;
                let s = format!("JN{}", hex::encode_upper(b));
                fs::write(&path, format!("{s}\n"))?;
                s
            }
        };
        Ok(Self::new(serial, es_pic))
    }

    /// A chassis with `serial` and the ES PIC at `es_pic`, plus a
    /// Gigabit Ethernet PIC in FPC 0 (or FPC 1 if the ES PIC is in 0/0).
    pub fn new(serial: String, es_pic: Slot) -> Self {
        let sub = |tag: &str| format!("{}{tag}", &serial[2..serial.len().min(8)]);
        let ge_slot = if es_pic == (Slot { fpc: 0, pic: 0 }) {
            Slot { fpc: 1, pic: 0 }
        } else {
            Slot { fpc: 0, pic: 0 }
        };
        let mut pics = vec![
            Pic {
                slot: es_pic,
                description: "1x ES, Encryption Services",
                part: "750-010865",
                serial: sub("ES"),
                ifd: "es",
            },
            Pic {
                slot: ge_slot,
                description: "4x 1GE(LAN), IQ2",
                part: "750-013219",
                serial: sub("GE"),
                ifd: "ge",
            },
        ];
        pics.sort_by_key(|p| p.slot);
        Chassis {
            model: "M320",
            serial,
            es_pic,
            pics,
        }
    }

    /// The ES PIC's interface, `es-F/P/0`.
    pub fn es_interface(&self) -> String {
        format!("es-{}/0", self.es_pic)
    }

    /// `show chassis hardware`.
    pub fn render_hardware(&self) -> String {
        let mut s = String::from("Hardware inventory:\n");
        let row = |s: &mut String, item: &str, ver: &str, part: &str, serial: &str, desc: &str| {
            let _ = writeln!(s, "{item:<17}{ver:<9}{part:<13}{serial:<18}{desc}");
        };
        row(
            &mut s,
            "Item",
            "Version",
            "Part number",
            "Serial number",
            "Description",
        );
        row(&mut s, "Chassis", "", "", &self.serial, self.model);
        row(
            &mut s,
            "Midplane",
            "REV 04",
            "710-009120",
            &format!("{}MP", &self.serial[2..8.min(self.serial.len())]),
            "M320 Midplane",
        );
        row(
            &mut s,
            "Routing Engine 0",
            "REV 05",
            "740-014082",
            &format!("{}RE", &self.serial[2..8.min(self.serial.len())]),
            "RE-A-2000",
        );
        let mut fpcs: Vec<u8> = self.pics.iter().map(|p| p.slot.fpc).collect();
        fpcs.dedup();
        for f in fpcs {
            row(
                &mut s,
                &format!("FPC {f}"),
                "REV 03",
                "710-013037",
                &format!("{}F{f}", &self.serial[2..8.min(self.serial.len())]),
                "E3-FPC Type 1",
            );
            for p in self.pics.iter().filter(|p| p.slot.fpc == f) {
                row(
                    &mut s,
                    &format!("  PIC {}", p.slot.pic),
                    "REV 10",
                    p.part,
                    &p.serial,
                    p.description,
                );
            }
        }
        s
    }

    /// `show chassis hardware | display json`.
    pub fn hardware_json(&self) -> serde_json::Value {
        let pics: Vec<_> = self
            .pics
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": format!("FPC {} PIC {}", p.slot.fpc, p.slot.pic),
                    "part-number": p.part,
                    "serial-number": p.serial,
                    "description": p.description,
                })
            })
            .collect();
        serde_json::json!({
            "chassis-inventory": {
                "chassis": {
                    "name": "Chassis",
                    "serial-number": self.serial,
                    "description": self.model,
                    "chassis-module": pics,
                }
            }
        })
    }
}

fn is_serial(s: &str) -> bool {
    s.len() == 12 && s.starts_with("JN") && s[2..].chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_inventory() {
        assert_eq!("1/0".parse(), Ok(Slot { fpc: 1, pic: 0 }));
        assert!(
            "9/0"
                .parse::<Slot>()
                .unwrap_err()
                .contains("does not exist")
        );
        assert!("x".parse::<Slot>().is_err());
        let c = Chassis::new("JN0123456789".into(), Slot { fpc: 2, pic: 1 });
        assert_eq!(c.es_interface(), "es-2/1/0");
        let hw = c.render_hardware();
        assert!(
            hw.contains("Chassis                                JN0123456789      M320"),
            "{hw}"
        );
        assert!(hw.contains("FPC 2"));
        assert!(hw.contains("  PIC 1"));
        assert!(hw.contains("Encryption Services"));
    }
}
