//! Typed command arguments.

use std::net::IpAddr;

/// The type of a command argument; values are checked while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgType {
    /// One bare word.
    Word,
    /// Free text (quote it when it has spaces).
    Text,
    /// A file name (no `/`, `..` or NUL: files live in the router's directories).
    Filename,
    /// An unsigned number in `min..=max`.
    Uint {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// An IPv4 or IPv6 address.
    IpAddr,
    /// A date as `set date` takes it: `YYYYMMDDhhmm.ss`.
    Date,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

/// A parsed argument value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Word, text, file name, date or choice.
    Text(String),
    /// A number.
    Uint(u64),
    /// An address.
    Ip(IpAddr),
    /// A flag that was given.
    Flag,
}

impl ArgType {
    /// The placeholder shown by `?`, e.g. `<filename>`.
    pub fn placeholder(&self, name: &str) -> String {
        // The same for every type: the parameter's name.
        format!("<{name}>")
    }

    /// Parses `text` as this type; the error says what was expected.
    pub fn parse(&self, name: &str, text: &str) -> Result<Value, String> {
        match self {
            ArgType::Word | ArgType::Text => Ok(Value::Text(text.to_string())),
            ArgType::Filename => {
                if text.is_empty()
                    || text.contains('/')
                    || text.contains('\0')
                    || text == "."
                    || text == ".."
                {
                    Err(format!("invalid file name '{text}' for {name}"))
                } else {
                    Ok(Value::Text(text.to_string()))
                }
            }
            ArgType::Uint { min, max } => match text.parse::<u64>() {
                Ok(v) if (*min..=*max).contains(&v) => Ok(Value::Uint(v)),
                Ok(v) => Err(format!(
                    "value {v} is not within range ({min}..{max}) for {name}"
                )),
                Err(_) => Err(format!("invalid numeric value '{text}' for {name}")),
            },
            ArgType::IpAddr => text
                .parse()
                .map(Value::Ip)
                .map_err(|_| format!("invalid IP address '{text}' for {name}")),
            ArgType::Date => {
                if parse_date(text).is_some() {
                    Ok(Value::Text(text.to_string()))
                } else {
                    Err(format!("invalid date '{text}': expecting YYYYMMDDhhmm.ss"))
                }
            }
            ArgType::Choice(words) => {
                if words.contains(&text) {
                    Ok(Value::Text(text.to_string()))
                } else {
                    Err(format!(
                        "invalid value '{text}' for {name}: expecting one of {}",
                        words.join(", ")
                    ))
                }
            }
        }
    }
}

/// A calendar date and time (UTC) as `set date` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Year (1970..=9999).
    pub year: u32,
    /// Month 1..=12.
    pub month: u32,
    /// Day 1..=31 (checked against the month).
    pub day: u32,
    /// Hour 0..=23.
    pub hour: u32,
    /// Minute 0..=59.
    pub minute: u32,
    /// Second 0..=59.
    pub second: u32,
}

/// Parses `YYYYMMDDhhmm.ss` (seconds optional: `YYYYMMDDhhmm`).
pub fn parse_date(text: &str) -> Option<DateTime> {
    let (main, secs) = match text.split_once('.') {
        Some((m, s)) => (m, s),
        None => (text, "00"),
    };
    if main.len() != 12
        || secs.len() != 2
        || !main.chars().chain(secs.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let n = |s: &str| s.parse::<u32>().ok();
    let d = DateTime {
        year: n(&main[0..4])?,
        month: n(&main[4..6])?,
        day: n(&main[6..8])?,
        hour: n(&main[8..10])?,
        minute: n(&main[10..12])?,
        second: n(secs)?,
    };
    let leap =
        d.year.is_multiple_of(4) && (!d.year.is_multiple_of(100) || d.year.is_multiple_of(400));
    let days = match d.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    let ok = (1970..=9999).contains(&d.year)
        && (1..=days).contains(&d.day)
        && d.hour < 24
        && d.minute < 60
        && d.second < 60;
    ok.then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let size = ArgType::Uint {
            min: 512,
            max: 4096,
        };
        assert_eq!(size.parse("size", "2048"), Ok(Value::Uint(2048)));
        assert_eq!(
            size.parse("size", "70000"),
            Err("value 70000 is not within range (512..4096) for size".into())
        );
        assert!(
            size.parse("size", "big")
                .unwrap_err()
                .contains("invalid numeric value")
        );
        assert!(ArgType::Filename.parse("f", "../etc/passwd").is_err());
        assert!(ArgType::IpAddr.parse("a", "1.2.3").is_err());
        assert!(parse_date("202611231200.30").is_some());
        assert!(parse_date("202602301200.00").is_none());
        assert!(parse_date("20261123120").is_none());
        assert!(parse_date("202402291200").is_some());
    }
}
