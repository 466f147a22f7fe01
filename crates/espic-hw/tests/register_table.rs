//! The register table in docs/espic/REGISTERS.md and the constants in
//! `espic_hw::regs` must say the same thing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use espic_hw::regs::{self, Access, REGISTERS};

const DOC: &str = include_str!("../../../docs/espic/REGISTERS.md");

#[derive(Debug, PartialEq)]
struct Row {
    name: String,
    offset: u32,
    width: u8,
    access: Access,
    reset: u64,
}

fn parse_hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("bad hex {s}"))
}

fn doc_rows() -> Vec<Row> {
    DOC.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | name | offset | width | access | reset | meaning |
            if cells.len() < 7 || !cells[2].starts_with("0x") {
                return None;
            }
            let access = match cells[4] {
                "RO" => Access::Ro,
                "RW" => Access::Rw,
                "W1C" => Access::W1c,
                "WO" => Access::Wo,
                other => panic!("unknown access {other} in row {line}"),
            };
            Some(Row {
                name: cells[1].to_string(),
                offset: parse_hex(cells[2]) as u32,
                width: cells[3].parse().unwrap(),
                access,
                reset: parse_hex(cells[5]),
            })
        })
        .collect()
}

#[test]
fn doc_table_matches_code() {
    let doc = doc_rows();
    let code: Vec<Row> = REGISTERS
        .iter()
        .map(|r| Row {
            name: r.name.to_string(),
            offset: r.offset,
            width: r.width,
            access: r.access,
            reset: r.reset,
        })
        .collect();
    assert_eq!(doc.len(), code.len(), "row count differs");
    for (d, c) in doc.iter().zip(&code) {
        assert_eq!(d, c);
    }
}

#[test]
fn registers_are_aligned_sorted_and_disjoint() {
    let mut end = 0;
    for r in REGISTERS {
        let bytes = u32::from(r.width / 8);
        assert!(r.width == 32 || r.width == 64, "{}", r.name);
        assert_eq!(r.offset % bytes, 0, "{} misaligned", r.name);
        assert!(r.offset >= end, "{} overlaps its predecessor", r.name);
        end = r.offset + bytes;
        assert!(end <= regs::BAR_SIZE);
    }
}

#[test]
fn documented_constants_agree() {
    assert_eq!(
        regs::find(regs::ID).unwrap().reset,
        u64::from(regs::ID_VALUE)
    );
    assert_eq!(
        regs::find(regs::SA_CAPACITY).unwrap().reset,
        u64::from(regs::SA_TABLE_SIZE)
    );
    assert_eq!(regs::find(regs::BATCH_MAX).unwrap().reset, 64);
}

#[test]
fn status_and_fault_tables_match_docs() {
    let descriptors = include_str!("../../../docs/espic/DESCRIPTORS.md");
    for s in espic_hw::Status::ALL {
        let row = format!("| {} | {} |", *s as u16, s.name());
        assert!(
            descriptors.contains(&row),
            "DESCRIPTORS.md lacks status row `{row}`"
        );
    }
    for o in espic_hw::Opcode::ALL {
        let row = format!("| {} | {} |", *o as u8, o.name());
        assert!(
            descriptors.contains(&row),
            "DESCRIPTORS.md lacks opcode row `{row}`"
        );
    }
}
