//! Distinguished names the Junos way.
//!
//! Three jobs, all on top of [`x509_cert::name::Name`]:
//!
//! 1. [`parse_subject`] turns the operator's `subject` argument
//!    (`DC=juniper,CN=local,OU=marketing,O=juniper,L=sunnyvale,ST=california,C=us`)
//!    into a [`Name`], keeping the order as typed: the first attribute typed
//!    is the first RDN of the encoded SEQUENCE (unlike RFC 4514 strings and
//!    `Name::from_str`, which reverse it).
//! 2. [`subject_string`], [`issued_by`], [`labelled`] / [`labelled_line`] and
//!    [`common_name`] render any [`Name`] (also ones from certificates made by
//!    other software) the ways Junos shows them.
//! 3. [`value_text`] gives the text of one attribute value whatever its ASN.1
//!    string type.
//!
//! # Subject syntax accepted by [`parse_subject`]
//!
//! * Attributes are separated by `,`; each is `KEY=value`. Keys are matched
//!   case-insensitively: `DC`, `CN`, `OU`, `O`, `L`, `ST`, `C`, `SN` (also
//!   `serialNumber`; the Junos `SN` is the X.520 *serialNumber* 2.5.4.5, not
//!   the RFC 4519 *surname*), `emailAddress` (also `E` and `EMAIL`), and
//!   dotted-decimal OIDs such as `2.5.4.12` (so that every string
//!   [`subject_string`] prints parses back).
//! * Any subset, any order, repeats allowed (two `DC`, two `OU`).
//! * `SN` without a value (`SN` alone or `SN=`) takes the chassis serial
//!   number.
//! * Whitespace around `,`, `+` and `=` is ignored; escaped whitespace
//!   (`\ ` or a hex pair) is kept.
//! * RFC 4514 escapes: `\,` `\+` `\"` `\\` `\<` `\>` `\;` `\=` `\ ` `\#`
//!   and `\XX` hex pairs (several pairs may form one UTF-8 character, e.g.
//!   `caf\C3\A9`). Any other character after a backslash is an error. The
//!   characters `"`, `<`, `>`, `;` and `=` are also accepted unescaped inside
//!   a value.
//! * After a dotted-OID key, a value that is `#` followed by the hex of one
//!   complete DER value (RFC 4514 §2.4, e.g. `2.5.4.12=#0c04626f7373`) is
//!   taken as that DER value as is, without the checks below. After a named
//!   key (`CN=#1`), and for any other value, a leading `#` is plain text
//!   (`\#` is accepted too).
//! * Multi-valued RDNs are supported: an unescaped `+` joins attributes into
//!   one RDN (`OU=sales+CN=bob`); write `\+` for a literal plus sign. The
//!   attributes of one RDN are kept in DER SET order, as DER demands.
//!
//! # Value encodings produced
//!
//! * `C`: PrintableString, exactly two ASCII letters (case kept as typed).
//! * `SN`/serialNumber: PrintableString, at most 64 characters.
//! * `DC`: IA5String, at most 63 characters; `emailAddress`: IA5String, at
//!   most 255 characters.
//! * `CN`, `OU`, `O` (at most 64 characters), `L`, `ST` (at most 128) and
//!   dotted OIDs: PrintableString when every character fits PrintableString
//!   (OpenSSL's traditional `default` string mask, and what most network
//!   gear emits), UTF8String otherwise.
//!
//! Lengths are RFC 5280 upper bounds counted in characters.

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc3280, rfc4519};
use der::asn1::Any;
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

// ---------------------------------------------------------------- errors

/// Why an operator's subject string could not be turned into a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing (or only whitespace) was given.
    #[error("subject is empty")]
    Empty,
    /// Two separators in a row, or a separator at the start or end.
    #[error(
        "empty attribute at character {at} of the subject (two separators in a row, or one at the start or end?)"
    )]
    EmptyComponent {
        /// 1-based character position of the empty component.
        at: usize,
    },
    /// `=value` with nothing before the `=`.
    #[error("value without an attribute name at character {at} of the subject")]
    MissingAttribute {
        /// 1-based character position of the component.
        at: usize,
    },
    /// A key that is neither a known short name nor a dotted OID.
    #[error("unknown attribute '{0}' in subject; use DC, CN, OU, O, SN, L, ST, C or emailAddress")]
    UnknownAttribute(String),
    /// `CN`, `CN=` or `CN=  ` (only `SN` may be left empty).
    #[error("attribute '{0}' has no value")]
    MissingValue(String),
    /// An unescaped `+` followed by something that is not `KEY=value`.
    #[error(
        "unescaped '+' at character {at} of the subject starts a second attribute of the same RDN, but '{text}' is not KEY=value; write \\+ for a literal plus sign"
    )]
    BadMultiValue {
        /// 1-based character position of the `+`.
        at: usize,
        /// What followed the `+`.
        text: String,
    },
    /// The same attribute and value twice in one multi-valued RDN.
    #[error("attribute '{0}' appears twice in the same multi-valued RDN")]
    DuplicateInRdn(String),
    /// A backslash escape that RFC 4514 does not allow, or hex-escaped bytes
    /// that are not UTF-8.
    #[error("broken escape at character {at} of the subject: {text}")]
    BadEscape {
        /// 1-based character position of the offending backslash.
        at: usize,
        /// What is wrong.
        text: String,
    },
    /// A country that is not exactly two letters.
    #[error("country '{0}' must be two letters")]
    BadCountry(String),
    /// A value outside PrintableString for an attribute that needs it.
    #[error(
        "value '{value}' of attribute '{attr}' has characters outside PrintableString (letters, digits, space and ' ( ) + , - . / : = ?)"
    )]
    NotPrintable {
        /// The attribute key as typed.
        attr: String,
        /// The offending value.
        value: String,
    },
    /// A non-ASCII value for an IA5String attribute (DC, emailAddress).
    #[error("value '{value}' of attribute '{attr}' must be plain ASCII (IA5String)")]
    NotIa5 {
        /// The attribute key as typed.
        attr: String,
        /// The offending value.
        value: String,
    },
    /// A value longer than its RFC 5280 upper bound.
    #[error("value of attribute '{attr}' is longer than {max} characters")]
    TooLong {
        /// The attribute key as typed.
        attr: String,
        /// The upper bound, in characters.
        max: usize,
    },
    /// The DER encoder refused the name.
    #[error("cannot encode the subject: {0}")]
    Encoding(String),
}

impl From<der::Error> for NameError {
    fn from(e: der::Error) -> Self {
        NameError::Encoding(e.to_string())
    }
}

// ---------------------------------------------------------------- labels

/// The kinds of attribute shown in the parsed (labelled) view, in the fixed
/// order Junos shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    /// organizationName (O).
    Organization,
    /// organizationalUnitName (OU).
    OrganizationalUnit,
    /// countryName (C).
    Country,
    /// stateOrProvinceName (ST).
    State,
    /// localityName (L).
    Locality,
    /// commonName (CN).
    CommonName,
    /// emailAddress.
    Email,
    /// domainComponent (DC).
    DomainComponent,
    /// serialNumber (SN).
    SerialNumber,
}

impl Label {
    /// Every label, in display order.
    pub const ALL: [Label; 9] = [
        Label::Organization,
        Label::OrganizationalUnit,
        Label::Country,
        Label::State,
        Label::Locality,
        Label::CommonName,
        Label::Email,
        Label::DomainComponent,
        Label::SerialNumber,
    ];

    /// The label in text output (`Organization`, `Common name`, ...).
    pub fn text(self) -> &'static str {
        match self {
            Label::Organization => "Organization",
            Label::OrganizationalUnit => "Organizational unit",
            Label::Country => "Country",
            Label::State => "State",
            Label::Locality => "Locality",
            Label::CommonName => "Common name",
            Label::Email => "Email address",
            Label::DomainComponent => "Domain component",
            Label::SerialNumber => "Serial number",
        }
    }

    /// The Junos XML/JSON element name (`organization-name`, ...).
    pub fn json_key(self) -> &'static str {
        match self {
            Label::Organization => "organization-name",
            Label::OrganizationalUnit => "organizational-unit-name",
            Label::Country => "country-name",
            Label::State => "state-or-province-name",
            Label::Locality => "locality-name",
            Label::CommonName => "common-name",
            Label::Email => "email-address",
            Label::DomainComponent => "domain-component",
            Label::SerialNumber => "dn-serial-number",
        }
    }
}

// ---------------------------------------------------------------- attribute kinds

/// The attributes this module knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dc,
    Cn,
    Ou,
    O,
    L,
    St,
    C,
    Sn,
    Email,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Dc,
        Kind::Cn,
        Kind::Ou,
        Kind::O,
        Kind::L,
        Kind::St,
        Kind::C,
        Kind::Sn,
        Kind::Email,
    ];

    fn from_key(key: &str) -> Option<Kind> {
        let k = key.to_ascii_uppercase();
        Some(match k.as_str() {
            "DC" => Kind::Dc,
            "CN" => Kind::Cn,
            "OU" => Kind::Ou,
            "O" => Kind::O,
            "L" => Kind::L,
            "ST" => Kind::St,
            "C" => Kind::C,
            "SN" | "SERIALNUMBER" => Kind::Sn,
            "EMAILADDRESS" | "E" | "EMAIL" => Kind::Email,
            _ => return None,
        })
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            Kind::Dc => rfc4519::DOMAIN_COMPONENT,
            Kind::Cn => rfc4519::COMMON_NAME,
            Kind::Ou => rfc4519::ORGANIZATIONAL_UNIT_NAME,
            Kind::O => rfc4519::ORGANIZATION_NAME,
            Kind::L => rfc4519::LOCALITY_NAME,
            Kind::St => rfc4519::ST,
            Kind::C => rfc4519::COUNTRY_NAME,
            Kind::Sn => rfc4519::SERIAL_NUMBER,
            Kind::Email => rfc3280::EMAIL_ADDRESS,
        }
    }

    fn from_oid(oid: &ObjectIdentifier) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.oid() == *oid)
    }

    /// Short name in [`subject_string`] and [`issued_by`] (OpenSSL's names).
    fn short(self) -> &'static str {
        match self {
            Kind::Dc => "DC",
            Kind::Cn => "CN",
            Kind::Ou => "OU",
            Kind::O => "O",
            Kind::L => "L",
            Kind::St => "ST",
            Kind::C => "C",
            Kind::Sn => "serialNumber",
            Kind::Email => "emailAddress",
        }
    }

    /// RFC 5280 upper bound, in characters.
    fn max_len(self) -> usize {
        match self {
            Kind::Dc => 63,
            Kind::Cn | Kind::Ou | Kind::O | Kind::Sn => 64,
            Kind::L | Kind::St => 128,
            Kind::C => 2,
            Kind::Email => 255,
        }
    }

    fn label(self) -> Label {
        match self {
            Kind::O => Label::Organization,
            Kind::Ou => Label::OrganizationalUnit,
            Kind::C => Label::Country,
            Kind::St => Label::State,
            Kind::L => Label::Locality,
            Kind::Cn => Label::CommonName,
            Kind::Email => Label::Email,
            Kind::Dc => Label::DomainComponent,
            Kind::Sn => Label::SerialNumber,
        }
    }
}

/// An attribute type as typed: a known kind or a dotted OID.
#[derive(Debug, Clone, Copy)]
enum AttrType {
    Known(Kind),
    Oid(ObjectIdentifier),
}

impl AttrType {
    /// The type named by `key`, and whether it was written as a dotted OID.
    fn resolve(key: &str) -> Option<(AttrType, bool)> {
        if let Some(k) = Kind::from_key(key) {
            return Some((AttrType::Known(k), false));
        }
        if key.starts_with(|c: char| c.is_ascii_digit())
            && let Ok(oid) = ObjectIdentifier::new(key)
        {
            let attr = match Kind::from_oid(&oid) {
                Some(k) => AttrType::Known(k),
                None => AttrType::Oid(oid),
            };
            return Some((attr, true));
        }
        None
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            AttrType::Known(k) => k.oid(),
            AttrType::Oid(o) => o,
        }
    }
}

fn is_printable_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            ' ' | '\'' | '(' | ')' | '+' | ',' | '-' | '.' | '/' | ':' | '=' | '?'
        )
}

fn is_printable(s: &str) -> bool {
    s.chars().all(is_printable_char)
}

/// PrintableString when it fits, UTF8String otherwise (see the module docs).
fn directory_string(value: &str) -> Result<Any, NameError> {
    let tag = if is_printable(value) {
        Tag::PrintableString
    } else {
        Tag::Utf8String
    };
    Ok(Any::new(tag, value.as_bytes())?)
}

// ---------------------------------------------------------------- parsing

/// Parse the Junos `subject` argument into a [`Name`], keeping the typed
/// order (first typed = first RDN). `SN` without a value is filled with
/// `chassis_serial`. See the module documentation for the syntax.
pub fn parse_subject(s: &str, chassis_serial: &str) -> Result<Name, NameError> {
    if s.trim().is_empty() {
        return Err(NameError::Empty);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut rdns = Vec::new();
    for (cs, ce) in split_unescaped(&chars, 0, chars.len(), ',') {
        if chars[cs..ce].iter().all(|c| c.is_whitespace()) {
            return Err(NameError::EmptyComponent { at: cs + 1 });
        }
        let mut atavs: Vec<AttributeTypeAndValue> = Vec::new();
        for (i, (ps, pe)) in split_unescaped(&chars, cs, ce, '+').into_iter().enumerate() {
            if chars[ps..pe].iter().all(|c| c.is_whitespace()) {
                return Err(NameError::EmptyComponent { at: ps + 1 });
            }
            let atav = parse_atav(&chars, ps, pe, i > 0, chassis_serial)?;
            if atavs.contains(&atav) {
                let key: String = chars[ps..pe].iter().collect();
                return Err(NameError::DuplicateInRdn(key.trim().to_string()));
            }
            atavs.push(atav);
        }
        rdns.push(RelativeDistinguishedName::try_from(atavs)?);
    }
    let der = RdnSequence::from(rdns).to_der()?;
    Ok(Name::from_der(&der)?)
}

/// Ranges `[start, end)` of `chars[from..to]` split at unescaped `sep`.
fn split_unescaped(chars: &[char], from: usize, to: usize, sep: char) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = from;
    let mut i = from;
    while i < to {
        let c = chars[i];
        if c == '\\' {
            i += 2;
            continue;
        }
        if c == sep {
            out.push((start, i));
            start = i + 1;
        }
        i += 1;
    }
    out.push((start, to));
    out
}

/// Parse one `KEY=value` (or bare `KEY`) in `chars[start..end]`.
fn parse_atav(
    chars: &[char],
    start: usize,
    end: usize,
    after_plus: bool,
    chassis_serial: &str,
) -> Result<AttributeTypeAndValue, NameError> {
    // First unescaped '='.
    let mut eq = None;
    let mut i = start;
    while i < end {
        match chars[i] {
            '\\' => i += 2,
            '=' => {
                eq = Some(i);
                break;
            }
            _ => i += 1,
        }
    }

    let (key_end, value) = match eq {
        Some(e) => (e, Some((e + 1, end))),
        None => (end, None),
    };
    let key: String = chars[start..key_end].iter().collect();
    let key = key.trim().to_string();
    if key.is_empty() {
        return Err(NameError::MissingAttribute { at: start + 1 });
    }

    let Some((attr, dotted)) = AttrType::resolve(&key) else {
        if after_plus && value.is_none() {
            return Err(NameError::BadMultiValue {
                at: start,
                text: key,
            });
        }
        return Err(NameError::UnknownAttribute(key));
    };

    // Trim unescaped whitespace around the value.
    let (mut vs, mut ve) = value.unwrap_or((end, end));
    while vs < ve && chars[vs].is_whitespace() {
        vs += 1;
    }
    while ve > vs && chars[ve - 1].is_whitespace() && !is_escaped(chars, vs, ve - 1) {
        ve -= 1;
    }

    // After a dotted OID: `#` + hex of one DER value (RFC 4514 §2.4).
    if dotted
        && vs < ve
        && chars[vs] == '#'
        && let Some(any) = hex_der(&chars[vs + 1..ve])
    {
        return Ok(AttributeTypeAndValue {
            oid: attr.oid(),
            value: any,
        });
    }

    let mut text = unescape(chars, vs, ve)?;
    if text.is_empty() {
        match attr {
            AttrType::Known(Kind::Sn) if !chassis_serial.trim().is_empty() => {
                text = chassis_serial.trim().to_string();
            }
            _ => return Err(NameError::MissingValue(key)),
        }
    }
    let value = encode_value(attr, &key, &text)?;
    Ok(AttributeTypeAndValue {
        oid: attr.oid(),
        value,
    })
}

/// Is `chars[pos]` escaped by an odd run of backslashes starting at or after `from`?
fn is_escaped(chars: &[char], from: usize, pos: usize) -> bool {
    let mut n = 0;
    let mut i = pos;
    while i > from && chars[i - 1] == '\\' {
        n += 1;
        i -= 1;
    }
    n % 2 == 1
}

/// `hex` as the DER of exactly one value, if it is that.
fn hex_der(hex: &[char]) -> Option<Any> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return None;
    }
    let mut bytes = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks(2) {
        let hi = pair.first()?.to_digit(16)?;
        let lo = pair.get(1)?.to_digit(16)?;
        bytes.push((hi * 16 + lo) as u8);
    }
    Any::from_der(&bytes).ok()
}

fn is_special(c: char) -> bool {
    matches!(
        c,
        ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | ' ' | '#'
    )
}

/// Undo RFC 4514 escapes in `chars[start..end]`.
fn unescape(chars: &[char], start: usize, end: usize) -> Result<String, NameError> {
    let mut out: Vec<u8> = Vec::new();
    // For every output byte, the 1-based position of the character it came from.
    let mut origin: Vec<usize> = Vec::new();
    let mut buf = [0u8; 4];
    let mut i = start;
    while i < end {
        let c = chars[i];
        if c != '\\' {
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            out.extend_from_slice(bytes);
            origin.extend(std::iter::repeat_n(i + 1, bytes.len()));
            i += 1;
            continue;
        }
        let at = i + 1;
        let next = if i + 1 < end {
            Some(chars[i + 1])
        } else {
            None
        };
        match next {
            None => {
                return Err(NameError::BadEscape {
                    at,
                    text: "'\\' at the end of a value escapes nothing (write \\\\ for a backslash)"
                        .to_string(),
                });
            }
            Some(n) if is_special(n) => {
                let bytes = n.encode_utf8(&mut buf).as_bytes();
                out.extend_from_slice(bytes);
                origin.extend(std::iter::repeat_n(at, bytes.len()));
                i += 2;
            }
            Some(h) if h.is_ascii_hexdigit() => {
                let lo = if i + 2 < end {
                    Some(chars[i + 2])
                } else {
                    None
                };
                match (h.to_digit(16), lo.and_then(|l| l.to_digit(16))) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        origin.push(at);
                        i += 3;
                    }
                    _ => {
                        let shown: String = chars[i..(i + 3).min(end)].iter().collect();
                        return Err(NameError::BadEscape {
                            at,
                            text: format!("'{shown}' is not a backslash and two hex digits"),
                        });
                    }
                }
            }
            Some(other) => {
                return Err(NameError::BadEscape {
                    at,
                    text: format!(
                        "'\\{other}' is neither an escaped special character (, + \" \\ < > ; = space #) nor two hex digits"
                    ),
                });
            }
        }
    }
    String::from_utf8(out).map_err(|e| {
        let at = origin
            .get(e.utf8_error().valid_up_to())
            .copied()
            .unwrap_or(start + 1);
        NameError::BadEscape {
            at,
            text: "the hex-escaped bytes are not valid UTF-8".to_string(),
        }
    })
}

/// Check `text` against the rules of `attr` and encode it.
fn encode_value(attr: AttrType, key: &str, text: &str) -> Result<Any, NameError> {
    let kind = match attr {
        AttrType::Known(k) => k,
        AttrType::Oid(_) => return directory_string(text),
    };
    let not_printable = || NameError::NotPrintable {
        attr: key.to_string(),
        value: text.to_string(),
    };
    let not_ia5 = || NameError::NotIa5 {
        attr: key.to_string(),
        value: text.to_string(),
    };
    let too_long = || NameError::TooLong {
        attr: key.to_string(),
        max: kind.max_len(),
    };
    let len = text.chars().count();
    match kind {
        Kind::C => {
            if len != 2 || !text.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(NameError::BadCountry(text.to_string()));
            }
            Ok(Any::new(Tag::PrintableString, text.as_bytes())?)
        }
        Kind::Sn => {
            if !is_printable(text) {
                return Err(not_printable());
            }
            if len > kind.max_len() {
                return Err(too_long());
            }
            Ok(Any::new(Tag::PrintableString, text.as_bytes())?)
        }
        Kind::Dc | Kind::Email => {
            if !text.is_ascii() {
                return Err(not_ia5());
            }
            if len > kind.max_len() {
                return Err(too_long());
            }
            Ok(Any::new(Tag::Ia5String, text.as_bytes())?)
        }
        Kind::Cn | Kind::Ou | Kind::O | Kind::L | Kind::St => {
            if len > kind.max_len() {
                return Err(too_long());
            }
            directory_string(text)
        }
    }
}

// ---------------------------------------------------------------- value text

/// The text of a string value, or `None` when `value` is not a string type
/// (or is a UTF8String/BMPString that is not valid).
fn string_value(value: &Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String => std::str::from_utf8(bytes).ok().map(str::to_string),
        Tag::PrintableString | Tag::Ia5String | Tag::VisibleString | Tag::NumericString => {
            Some(match std::str::from_utf8(bytes) {
                Ok(s) => s.to_string(),
                Err(_) => latin1(bytes),
            })
        }
        Tag::TeletexString | Tag::VideotexString | Tag::GeneralString => Some(latin1(bytes)),
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units = bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]));
            Some(
                char::decode_utf16(units)
                    .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
            )
        }
        _ => None,
    }
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// `#` + lower-case hex of the DER of `value`.
fn hex_of(value: &Any) -> String {
    match value.to_der() {
        Ok(der) => format!("#{}", hex::encode(der)),
        Err(_) => format!("#{}", hex::encode(value.value())),
    }
}

/// The string value of an attribute whatever its string type (UTF8String,
/// PrintableString, IA5String, TeletexString as Latin-1, BMPString as
/// UCS-2, ...); `#` + hex of the DER for anything that is not a string.
pub fn value_text(value: &Any) -> String {
    string_value(value).unwrap_or_else(|| hex_of(value))
}

fn short_name(oid: &ObjectIdentifier) -> String {
    match Kind::from_oid(oid) {
        Some(k) => k.short().to_string(),
        None => oid.to_string(),
    }
}

// ---------------------------------------------------------------- rendering

/// RFC 4514 escaping for one value, so that [`parse_subject`] reads it back.
pub fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let count = v.chars().count();
    let mut buf = [0u8; 4];
    for (i, c) in v.chars().enumerate() {
        let edge = i == 0 || i + 1 == count;
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if edge => out.push_str("\\ "),
            c if c.is_control() || (edge && c.is_whitespace()) => {
                for b in c.encode_utf8(&mut buf).as_bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// One attribute in [`subject_string`] form.
fn subject_atav(atav: &AttributeTypeAndValue) -> String {
    match (Kind::from_oid(&atav.oid), string_value(&atav.value)) {
        (Some(kind), Some(text)) => format!("{}={}", kind.short(), escape_value(&text)),
        // Unknown OIDs: text only when it parses back to the same DER.
        (None, Some(text))
            if !text.is_empty() && directory_string(&text).is_ok_and(|a| a == atav.value) =>
        {
            format!("{}={}", atav.oid, escape_value(&text))
        }
        // Not a string: the dotted OID and the DER in hex, which parse back.
        _ => format!("{}={}", atav.oid, hex_of(&atav.value)),
    }
}

/// The subject string: RDNs in certificate order, `KEY=value` joined by
/// `, ` (attributes of a multi-valued RDN by `+`), values escaped per RFC
/// 4514 so that [`parse_subject`] reads the string back. Unknown OIDs are
/// shown dotted, with the value as `#` + DER hex unless it is text that
/// would parse back to the same encoding; a known attribute whose value is
/// not a string is shown the same dotted-hex way. Names that
/// [`parse_subject`] made come back identical; string values in other
/// encodings (a UTF8String `CN` that fits PrintableString, a BMPString)
/// come back as the same text in this module's encodings.
pub fn subject_string(name: &Name) -> String {
    name.iter_rdn()
        .map(|rdn| rdn.iter().map(subject_atav).collect::<Vec<_>>().join("+"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// OpenSSL "oneline" quoting: values with special characters go in double
/// quotes (with `"` and `\` backslash-escaped inside), control characters
/// become `\XX`.
fn oneline_value(v: &str) -> String {
    let needs_quotes = v.contains([',', '+', '"', '\\', '<', '>', ';'])
        || v.starts_with(['#', ' '])
        || v.ends_with(' ');
    let mut out = String::with_capacity(v.len() + 2);
    if needs_quotes {
        out.push('"');
    }
    let mut buf = [0u8; 4];
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                for b in c.encode_utf8(&mut buf).as_bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    if needs_quotes {
        out.push('"');
    }
    out
}

/// OpenSSL's oneline style used in Junos brief output:
/// `C = US, O = Let's Encrypt, CN = R13` (certificate order; attributes of
/// a multi-valued RDN joined by ` + `).
pub fn issued_by(name: &Name) -> String {
    name.iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atav| {
                    let value = match string_value(&atav.value) {
                        Some(text) => oneline_value(&text),
                        None => hex_of(&atav.value),
                    };
                    format!("{} = {}", short_name(&atav.oid), value)
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The parsed view: `(label, value)` pairs in the fixed Junos order
/// (organization, organizational unit, country, state, locality, common
/// name, email, domain component, serial number), each kind's occurrences
/// in certificate order. Attributes of other types are left out.
pub fn labelled(name: &Name) -> Vec<(Label, String)> {
    let mut out = Vec::new();
    for label in Label::ALL {
        for atav in name.iter() {
            if Kind::from_oid(&atav.oid).map(Kind::label) == Some(label) {
                out.push((label, value_text(&atav.value)));
            }
        }
    }
    out
}

/// [`labelled`] as one line:
/// `Organization: juniper, Organizational unit: marketing, ...`.
pub fn labelled_line(name: &Name) -> String {
    labelled(name)
        .into_iter()
        .map(|(label, value)| format!("{}: {}", label.text(), value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first common name, for "Issued to".
pub fn common_name(name: &Name) -> Option<String> {
    name.iter()
        .find(|atav| atav.oid == rfc4519::COMMON_NAME)
        .map(|atav| value_text(&atav.value))
}

// ---------------------------------------------------------------- tests

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SUBJECT: &str =
        "DC=juniper,CN=local,OU=marketing,O=juniper,L=sunnyvale,ST=california,C=us";

    fn parse(s: &str) -> Result<Name, NameError> {
        parse_subject(s, "JN1234ABCD")
    }

    /// (oid, tag, text) of every attribute, in encoded order.
    fn atavs(n: &Name) -> Vec<(ObjectIdentifier, Tag, String)> {
        n.iter()
            .map(|a| (a.oid, a.value.tag(), value_text(&a.value)))
            .collect()
    }

    fn only_value(n: &Name) -> String {
        let all = atavs(n);
        assert_eq!(all.len(), 1, "{all:?}");
        all[0].2.clone()
    }

    #[test]
    fn order_is_kept() {
        let n = parse(SUBJECT).unwrap();
        let got: Vec<_> = atavs(&n).into_iter().map(|(o, _, v)| (o, v)).collect();
        let want = vec![
            (rfc4519::DOMAIN_COMPONENT, "juniper"),
            (rfc4519::COMMON_NAME, "local"),
            (rfc4519::ORGANIZATIONAL_UNIT_NAME, "marketing"),
            (rfc4519::ORGANIZATION_NAME, "juniper"),
            (rfc4519::LOCALITY_NAME, "sunnyvale"),
            (rfc4519::ST, "california"),
            (rfc4519::COUNTRY_NAME, "us"),
        ];
        let want: Vec<_> = want.into_iter().map(|(o, v)| (o, v.to_string())).collect();
        assert_eq!(got, want);
        assert_eq!(n.len(), 7);
        // The DER itself starts with the DC RDN.
        let der = n.to_der().unwrap();
        let dc = rfc4519::DOMAIN_COMPONENT.to_der().unwrap();
        let cn = rfc4519::COMMON_NAME.to_der().unwrap();
        let pos = |needle: &[u8]| der.windows(needle.len()).position(|w| w == needle).unwrap();
        assert!(pos(&dc) < pos(&cn));

        let s = subject_string(&n);
        assert_eq!(
            s,
            "DC=juniper, CN=local, OU=marketing, O=juniper, L=sunnyvale, ST=california, C=us"
        );
        assert_eq!(parse(&s).unwrap(), n);
    }

    #[test]
    fn encodings() {
        let n = parse("DC=x, CN=plain, O=Müller, C=US, SN=ab-1, E=a@b.c").unwrap();
        let tags: Vec<Tag> = atavs(&n).into_iter().map(|(_, t, _)| t).collect();
        assert_eq!(
            tags,
            vec![
                Tag::Ia5String,
                Tag::PrintableString,
                Tag::Utf8String,
                Tag::PrintableString,
                Tag::PrintableString,
                Tag::Ia5String,
            ]
        );
        assert_eq!(
            subject_string(&n),
            "DC=x, CN=plain, O=Müller, C=US, serialNumber=ab-1, emailAddress=a@b.c"
        );
    }

    #[test]
    fn repeats_and_case_and_whitespace() {
        let n = parse("  dc = a ,Dc=b, ou=x , OU = y  ").unwrap();
        assert_eq!(subject_string(&n), "DC=a, DC=b, OU=x, OU=y");
    }

    #[test]
    fn serial_from_chassis() {
        for s in [
            "CN=r1,SN",
            "CN=r1,SN=",
            "CN=r1, sn = ",
            "CN=r1,serialNumber",
        ] {
            let n = parse(s).unwrap();
            assert_eq!(subject_string(&n), "CN=r1, serialNumber=JN1234ABCD", "{s}");
            assert_eq!(labelled(&n)[1], (Label::SerialNumber, "JN1234ABCD".into()));
        }
        let n = parse("SN=ABC123,CN=r1").unwrap();
        assert_eq!(subject_string(&n), "serialNumber=ABC123, CN=r1");
        assert_eq!(
            parse_subject("SN", ""),
            Err(NameError::MissingValue("SN".into()))
        );
    }

    #[test]
    fn escapes() {
        let cases = [
            (r"CN=a\,b", "a,b"),
            (r"CN=\23hash", "#hash"),
            (r"CN=\#hash", "#hash"),
            (r"CN=caf\C3\A9", "café"),
            (r"O=x\+y", "x+y"),
            (r#"CN=\"q\" \<a\> \; \= \\"#, r#""q" <a> ; = \"#),
            (r"CN=\ lead and trail\ ", " lead and trail "),
            (r"CN=  spaced out  ", "spaced out"),
            (r"CN=a\20", "a "),
            ("CN=#hash", "#hash"),
            ("CN=a=b", "a=b"),
        ];
        for (s, want) in cases {
            let n = parse(s).unwrap();
            assert_eq!(only_value(&n), want, "{s}");
            let back = subject_string(&n);
            assert_eq!(parse(&back).unwrap(), n, "{s} -> {back}");
        }
        assert_eq!(subject_string(&parse(r"CN=a\,b").unwrap()), r"CN=a\,b");
        assert_eq!(subject_string(&parse(r"CN=\23hash").unwrap()), r"CN=\#hash");
        assert_eq!(subject_string(&parse(r"CN=caf\C3\A9").unwrap()), "CN=café");
        assert_eq!(subject_string(&parse(r"O=x\+y").unwrap()), r"O=x\+y");
        assert_eq!(subject_string(&parse(r"CN=\ x\ ").unwrap()), r"CN=\ x\ ");
    }

    #[test]
    fn hex_der_values_and_oids() {
        // 2.5.4.12 (title) as a UTF8String via RFC 4514 hex.
        let n = parse("2.5.4.12=#0c0462c3b873").unwrap();
        assert_eq!(atavs(&n)[0].1, Tag::Utf8String);
        assert_eq!(only_value(&n), "bøs");
        assert_eq!(subject_string(&n), "2.5.4.12=bøs");
        // Printable-looking UTF8String under an unknown OID stays hex.
        let n = parse("2.5.4.12=#0c03626f73").unwrap();
        assert_eq!(subject_string(&n), "2.5.4.12=#0c03626f73");
        assert_eq!(parse(&subject_string(&n)).unwrap(), n);
        // Non-string value.
        let n = parse("CN=x,1.2.3.4=#020105").unwrap();
        assert_eq!(subject_string(&n), "CN=x, 1.2.3.4=#020105");
        assert_eq!(issued_by(&n), "CN = x, 1.2.3.4 = #020105");
        // A known attribute given as a dotted OID is shown by name, and
        // checked like one.
        assert_eq!(subject_string(&parse("2.5.4.3=bob").unwrap()), "CN=bob");
        assert_eq!(
            parse("2.5.4.6=USA"),
            Err(NameError::BadCountry("USA".into()))
        );
        // ... but a non-string value for it stays dotted hex.
        let n = parse("2.5.4.3=#0500").unwrap();
        assert_eq!(subject_string(&n), "2.5.4.3=#0500");
        assert_eq!(parse(&subject_string(&n)).unwrap(), n);
        // After a named key, '#' is text even when it looks like hex DER.
        assert_eq!(only_value(&parse("CN=#0500").unwrap()), "#0500");
        assert_eq!(subject_string(&parse("CN=#0500").unwrap()), r"CN=\#0500");
    }

    #[test]
    fn multi_valued_rdn() {
        let n = parse("OU=sales+CN=bob, O=acme").unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n.iter_rdn().next().unwrap().len(), 2);
        let s = subject_string(&n);
        // DER SET order: CN (2.5.4.3) before OU (2.5.4.11).
        assert_eq!(s, "CN=bob+OU=sales, O=acme");
        assert_eq!(parse(&s).unwrap(), n);
        assert_eq!(issued_by(&n), "CN = bob + OU = sales, O = acme");
        assert!(matches!(
            parse("O=AT+T"),
            Err(NameError::BadMultiValue { at: 5, .. })
        ));
        assert!(matches!(
            parse("CN=a+CN=a"),
            Err(NameError::DuplicateInRdn(_))
        ));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("FOO=bar"),
            Err(NameError::UnknownAttribute("FOO".into()))
        );
        assert_eq!(parse("CN="), Err(NameError::MissingValue("CN".into())));
        assert_eq!(parse("CN"), Err(NameError::MissingValue("CN".into())));
        assert_eq!(parse("CN=  "), Err(NameError::MissingValue("CN".into())));
        assert!(matches!(
            parse(r"CN=a\"),
            Err(NameError::BadEscape { at: 5, .. })
        ));
        assert!(matches!(
            parse(r"CN=a\zz"),
            Err(NameError::BadEscape { at: 5, .. })
        ));
        assert!(matches!(
            parse(r"CN=a\4"),
            Err(NameError::BadEscape { at: 5, .. })
        ));
        assert!(matches!(
            parse(r"CN=ok\C3\28"),
            Err(NameError::BadEscape { .. })
        ));
        assert_eq!(parse("C=USA"), Err(NameError::BadCountry("USA".into())));
        assert_eq!(parse("C=U1"), Err(NameError::BadCountry("U1".into())));
        assert_eq!(parse(""), Err(NameError::Empty));
        assert_eq!(parse("   "), Err(NameError::Empty));
        assert_eq!(parse("CN=x,,O=y"), Err(NameError::EmptyComponent { at: 6 }));
        assert_eq!(parse("CN=x,"), Err(NameError::EmptyComponent { at: 6 }));
        assert_eq!(parse("=x"), Err(NameError::MissingAttribute { at: 1 }));
        assert_eq!(
            parse("SN=a_b"),
            Err(NameError::NotPrintable {
                attr: "SN".into(),
                value: "a_b".into()
            })
        );
        assert_eq!(
            parse("DC=ké"),
            Err(NameError::NotIa5 {
                attr: "DC".into(),
                value: "ké".into()
            })
        );
        assert_eq!(
            parse(&format!("CN={}", "x".repeat(65))),
            Err(NameError::TooLong {
                attr: "CN".into(),
                max: 64
            })
        );
        assert!(parse(&format!("CN={}", "é".repeat(64))).is_ok());
        assert_eq!(
            parse(&format!("L={}", "x".repeat(129))),
            Err(NameError::TooLong {
                attr: "L".into(),
                max: 128
            })
        );
        assert_eq!(
            NameError::UnknownAttribute("FOO".into()).to_string(),
            "unknown attribute 'FOO' in subject; use DC, CN, OU, O, SN, L, ST, C or emailAddress"
        );
        assert_eq!(
            NameError::BadCountry("USA".into()).to_string(),
            "country 'USA' must be two letters"
        );
    }

    #[test]
    fn renderings() {
        let n = parse(SUBJECT).unwrap();
        assert_eq!(
            labelled_line(&n),
            "Organization: juniper, Organizational unit: marketing, Country: us, \
             State: california, Locality: sunnyvale, Common name: local, \
             Domain component: juniper"
        );
        assert_eq!(
            issued_by(&n),
            "DC = juniper, CN = local, OU = marketing, O = juniper, L = sunnyvale, \
             ST = california, C = us"
        );
        assert_eq!(common_name(&n).as_deref(), Some("local"));

        let le = parse("C=US, O=Let's Encrypt, CN=R13").unwrap();
        assert_eq!(issued_by(&le), "C = US, O = Let's Encrypt, CN = R13");
        let dc = parse(r"C=US, O=DigiCert\, Inc., CN=x").unwrap();
        assert_eq!(issued_by(&dc), r#"C = US, O = "DigiCert, Inc.", CN = x"#);

        let two = parse("OU=b, CN=c, OU=a, E=x@y, SN=9").unwrap();
        assert_eq!(
            labelled(&two),
            vec![
                (Label::OrganizationalUnit, "b".to_string()),
                (Label::OrganizationalUnit, "a".to_string()),
                (Label::CommonName, "c".to_string()),
                (Label::Email, "x@y".to_string()),
                (Label::SerialNumber, "9".to_string()),
            ]
        );
        assert_eq!(common_name(&parse("O=x").unwrap()), None);
        assert_eq!(Label::SerialNumber.json_key(), "dn-serial-number");
        assert_eq!(Label::Email.text(), "Email address");
    }

    #[test]
    fn foreign_string_types() {
        let t61 = Any::new(Tag::TeletexString, vec![b'c', b'a', b'f', 0xE9]).unwrap();
        assert_eq!(value_text(&t61), "café");
        let bmp = Any::new(Tag::BmpString, vec![0x00, b'h', 0x00, 0xE9, 0x4E, 0x2D]).unwrap();
        assert_eq!(value_text(&bmp), "hé中");
        let int = Any::new(Tag::Integer, vec![0x05]).unwrap();
        assert_eq!(value_text(&int), "#020105");
        let odd = Any::new(Tag::BmpString, vec![0x00]).unwrap();
        assert_eq!(value_text(&odd), "#1e0100");

        // A name with a BMPString CN and a T61 O renders as text.
        let rdn = |oid, value| {
            RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue { oid, value }]).unwrap()
        };
        let seq = RdnSequence::from(vec![
            rdn(rfc4519::COMMON_NAME, bmp),
            rdn(rfc4519::ORGANIZATION_NAME, t61),
        ]);
        let n = Name::from_der(&seq.to_der().unwrap()).unwrap();
        assert_eq!(subject_string(&n), "CN=hé中, O=café");
        assert_eq!(labelled_line(&n), "Organization: café, Common name: hé中");
        assert_eq!(common_name(&n).as_deref(), Some("hé中"));
    }

    #[test]
    fn escape_edges() {
        assert_eq!(escape_value("#a#"), r"\#a#");
        assert_eq!(escape_value(" "), r"\ ");
        assert_eq!(escape_value("a\tb\u{0}"), r"a\09b\00");
        assert_eq!(escape_value("\u{a0}x\u{3000}"), r"\C2\A0x\E3\80\80");
    }

    fn value_for(kind: Kind) -> BoxedStrategy<String> {
        match kind {
            Kind::C => "[A-Za-z]{2}".boxed(),
            Kind::Sn => "[A-Za-z0-9 '()+,./:=?-]{1,20}".boxed(),
            Kind::Dc | Kind::Email => "[\\x00-\\x7f]{1,20}".boxed(),
            _ => prop::collection::vec(any::<char>(), 1..20)
                .prop_map(String::from_iter)
                .boxed(),
        }
    }

    fn subject_parts() -> impl Strategy<Value = Vec<(Kind, String)>> {
        prop::collection::vec(
            prop::sample::select(Kind::ALL.to_vec())
                .prop_flat_map(|k| value_for(k).prop_map(move |v| (k, v))),
            1..8,
        )
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_dn_like(s in "[A-Za-z0-9=,+#\\\\\" ;<>\u{e9}\u{2000}]{0,40}") {
            if let Ok(n) = parse(&s) {
                let back = subject_string(&n);
                let again = parse(&back).unwrap();
                prop_assert_eq!(&again, &n);
                let _ = issued_by(&again);
                let _ = labelled_line(&again);
            }
        }

        #[test]
        fn round_trip(parts in subject_parts(), sep in prop::sample::select(vec![",", ", ", " , "])) {
            let s = parts
                .iter()
                .map(|(k, v)| format!("{}={}", k.short(), escape_value(v)))
                .collect::<Vec<_>>()
                .join(sep);
            let n = parse(&s).unwrap();
            let got: Vec<(ObjectIdentifier, String)> =
                atavs(&n).into_iter().map(|(o, _, v)| (o, v)).collect();
            let want: Vec<(ObjectIdentifier, String)> =
                parts.iter().map(|(k, v)| (k.oid(), v.clone())).collect();
            prop_assert_eq!(got, want);
            let back = subject_string(&n);
            prop_assert_eq!(parse(&back).unwrap(), n);
        }
    }
}
