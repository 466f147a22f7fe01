//! Unit tests: encodings against the ASN.1 modules, builders, protection.

use der::asn1::{Any, AnyRef, BitString, Null, OctetString};
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

use crate::altname::AltNames;
use crate::cmp::*;
use crate::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

fn p256() -> KeyPair {
    KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap()
}

fn self_signed(key: &KeyPair, cn: &str) -> Certificate {
    let validity = crate::issue::validity(
        std::time::Duration::from_secs(1_700_000_000),
        std::time::Duration::from_secs(1_800_000_000),
    )
    .unwrap();
    crate::issue::self_signed(key, name(cn), AltNames::default(), false, validity).unwrap()
}

/// The tag bytes of the elements of a DER SEQUENCE.
fn element_tags(der: &[u8]) -> Vec<u8> {
    let seq = AnyRef::from_der(der).unwrap();
    assert_eq!(seq.tag(), Tag::Sequence);
    let mut reader = SliceReader::new(seq.value()).unwrap();
    let mut tags = Vec::new();
    while !reader.is_finished() {
        let el: AnyRef<'_> = reader.decode().unwrap();
        tags.push(el.to_der().unwrap()[0]);
    }
    tags
}

/// The first two bytes inside the element with tag byte `tag`.
fn inner_of(der: &[u8], tag: u8) -> Vec<u8> {
    let seq = AnyRef::from_der(der).unwrap();
    let mut reader = SliceReader::new(seq.value()).unwrap();
    while !reader.is_finished() {
        let el: AnyRef<'_> = reader.decode().unwrap();
        let bytes = el.to_der().unwrap();
        if bytes[0] == tag {
            return el.value().to_vec();
        }
    }
    panic!("no element with tag {tag:#x}")
}

#[test]
fn failure_info_names_and_der() {
    let names: Vec<_> = (0..27)
        .map(|n| FailureInfo::bit(n).unwrap().names()[0])
        .collect();
    assert_eq!(
        names,
        [
            "badAlg",
            "badMessageCheck",
            "badRequest",
            "badTime",
            "badCertId",
            "badDataFormat",
            "wrongAuthority",
            "incorrectData",
            "missingTimeStamp",
            "badPOP",
            "certRevoked",
            "certConfirmed",
            "wrongIntegrity",
            "badRecipientNonce",
            "timeNotAvailable",
            "unacceptedPolicy",
            "unacceptedExtension",
            "addInfoNotAvailable",
            "badSenderNonce",
            "badCertTemplate",
            "signerNotTrusted",
            "transactionIdInUse",
            "unsupportedVersion",
            "notAuthorized",
            "systemUnavail",
            "systemFailure",
            "duplicateCertReq",
        ]
    );
    for n in names {
        assert_eq!(FailureInfo::from_name(n).unwrap().names(), [n]);
    }
    assert_eq!(FailureInfo::from_name("nope"), None);
    assert_eq!(FailureInfo::bit(32), None);
    let both = FailureInfo::BAD_POP | FailureInfo::BAD_ALG;
    assert_eq!(both.names(), ["badAlg", "badPOP"]);
    assert_eq!(both.to_string(), "badAlg, badPOP");
    assert!(both.contains(FailureInfo::BAD_POP) && !both.contains(FailureInfo::BAD_TIME));
    assert_eq!(FailureInfo::bit(29).unwrap().names(), ["bit29"]);

    // DER named bit lists: trailing zero bits removed.
    for (fail, der) in [
        (FailureInfo::NONE, vec![0x03, 0x01, 0x00]),
        (FailureInfo::BAD_ALG, vec![0x03, 0x02, 0x07, 0x80]),
        (FailureInfo::BAD_REQUEST, vec![0x03, 0x02, 0x05, 0x20]),
        (FailureInfo::BAD_POP, vec![0x03, 0x03, 0x06, 0x00, 0x40]),
        (
            FailureInfo::BAD_MESSAGE_CHECK | FailureInfo::WRONG_INTEGRITY,
            vec![0x03, 0x03, 0x03, 0x40, 0x08],
        ),
        (
            FailureInfo::DUPLICATE_CERT_REQ,
            vec![0x03, 0x05, 0x05, 0x00, 0x00, 0x00, 0x20],
        ),
    ] {
        let bits = fail.to_bit_string().unwrap();
        assert_eq!(bits.to_der().unwrap(), der, "{fail}");
        assert_eq!(FailureInfo::from_bit_string(&bits), fail);
    }
    // Not trimmed (as some peers send it): still read right.
    let loose = BitString::new(0, vec![0x00, 0x00, 0x00, 0x80]).unwrap();
    assert_eq!(
        FailureInfo::from_bit_string(&loose),
        FailureInfo::SYSTEM_UNAVAIL
    );
}

#[test]
fn status_info_builders() {
    assert_eq!(
        PkiStatusInfo::accepted().to_der().unwrap(),
        [0x30, 0x03, 0x02, 0x01, 0x00]
    );
    let rej = PkiStatusInfo::rejection(FailureInfo::BAD_POP, "POP did not verify");
    assert_eq!(rej.status, PkiStatus::Rejection);
    assert_eq!(rej.failure_info(), FailureInfo::BAD_POP);
    assert_eq!(rej.to_string(), "rejection (badPOP): POP did not verify");
    assert!(!rej.is_granted());
    let back = PkiStatusInfo::from_der(&rej.to_der().unwrap()).unwrap();
    assert_eq!(back, rej);
    assert!(PkiStatusInfo::granted_with_mods("shorter validity").is_granted());
    assert_eq!(PkiStatusInfo::waiting("").status_string, None);
    assert_eq!(PkiStatus::KeyUpdateWarning.to_string(), "keyUpdateWarning");
    // An unknown PKIStatus is a decode error.
    assert!(PkiStatusInfo::from_der(&[0x30, 0x03, 0x02, 0x01, 0x07]).is_err());
}

#[test]
fn message_time() {
    let t = MessageTime::from_unix(0).unwrap();
    assert_eq!(t.as_str(), "19700101000000Z");
    assert!(t.is_der());
    assert_eq!(t.to_der().unwrap()[..2], [0x18, 0x0f]);
    let t = MessageTime::from_unix(1_708_075_327).unwrap();
    assert_eq!(t.to_unix(), Some(1_708_075_327));
    let parse = |s: &str| {
        let mut der = vec![0x18, s.len() as u8];
        der.extend_from_slice(s.as_bytes());
        MessageTime::from_der(&der)
    };
    let t = parse("20240216102207+0100").unwrap();
    assert_eq!(t.to_unix(), Some(1_708_075_327));
    assert_eq!(t.to_der().unwrap()[2..], *b"20240216102207+0100");
    assert_eq!(
        parse("20240216092207.25Z").unwrap().to_unix(),
        Some(1_708_075_327)
    );
    assert_eq!(
        parse("20240216042207-0500").unwrap().to_unix(),
        Some(1_708_075_327)
    );
    assert_eq!(parse("20240216092207").unwrap().to_unix(), None); // local time
    assert_eq!(parse("20241316092207Z").unwrap().to_unix(), None); // month 13
    assert_eq!(parse("20240216092207+2500").unwrap().to_unix(), None);
    assert!(parse("2024021609220Zabc").is_err());
    assert!(parse("2024").is_err());
    assert!(parse(&"1".repeat(40)).is_err());
}

#[test]
fn pki_body_tags_follow_the_explicit_module() {
    let any = || Any::encode_from(&Null).unwrap();
    let status = PkiStatusInfo::accepted();
    let rep = CertRepMessage {
        ca_pubs: None,
        response: vec![],
    };
    let bodies = vec![
        PkiBody::Ir(vec![]),
        PkiBody::Ip(rep.clone()),
        PkiBody::Cr(vec![]),
        PkiBody::Cp(rep.clone()),
        PkiBody::Popdecc(any()),
        PkiBody::Popdecr(any()),
        PkiBody::Kur(vec![]),
        PkiBody::Kup(rep.clone()),
        PkiBody::Krr(vec![]),
        PkiBody::Krp(any()),
        PkiBody::Rr(vec![]),
        PkiBody::Rp(RevRepContent {
            status: vec![status.clone()],
            rev_certs: None,
            crls: None,
        }),
        PkiBody::Ccr(vec![]),
        PkiBody::Ccp(rep),
        PkiBody::Ckuann(any()),
        PkiBody::Cann(any()),
        PkiBody::Rann(any()),
        PkiBody::Crlann(any()),
        PkiBody::Pkiconf(Null),
        PkiBody::Nested(any()),
        PkiBody::Genm(vec![]),
        PkiBody::Genp(vec![]),
        PkiBody::Error(ErrorMsgContent {
            pki_status_info: status,
            error_code: Some(-1),
            error_details: None,
        }),
        PkiBody::CertConf(vec![]),
        PkiBody::PollReq(vec![PollReq { cert_req_id: 0 }]),
        PkiBody::PollRep(vec![PollRep {
            cert_req_id: 0,
            check_after: 10,
            reason: Some(vec!["busy".into()]),
        }]),
    ];
    let names = [
        "ir", "ip", "cr", "cp", "popdecc", "popdecr", "kur", "kup", "krr", "krp", "rr", "rp",
        "ccr", "ccp", "ckuann", "cann", "rann", "crlann", "pkiconf", "nested", "genm", "genp",
        "error", "certConf", "pollReq", "pollRep",
    ];
    for (body, name) in bodies.iter().zip(names) {
        let der = body.to_der().unwrap();
        let n = body.tag_number();
        // EXPLICIT: context-specific, constructed, the content's own TLV inside.
        assert_eq!(der[0], 0xA0 | n as u8, "{name}");
        assert_eq!(body_name(body), name);
        assert_eq!(body_tag_name(n), Some(name));
        assert_eq!(PkiBody::from_der(&der).unwrap(), *body, "{name}");
    }
    assert_eq!(body_tag_name(4), Some("p10cr"));
    assert_eq!(body_tag_name(27), None);
    assert_eq!(
        PkiBody::Pkiconf(Null).to_der().unwrap(),
        [0xB3, 0x02, 0x05, 0x00]
    );
}

#[test]
fn crmf_tags_follow_the_implicit_module() {
    let key = p256();
    let spki = key.public_key_info().unwrap();
    let template = CertTemplate {
        version: Some(2),
        serial_number: Some(crate::issue::random_serial()),
        signing_alg: Some(key.signature_algorithm(HashAlg::Sha256).unwrap()),
        issuer: Some(name("CN=CA")),
        validity: Some(OptionalValidity {
            not_before: None,
            not_after: Some(x509_cert::time::Time::UtcTime(
                der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(
                    1_700_000_000,
                ))
                .unwrap(),
            )),
        }),
        subject: Some(name("CN=router1")),
        public_key: Some(spki.clone()),
        issuer_uid: Some(BitString::from_bytes(&[1]).unwrap()),
        subject_uid: Some(BitString::from_bytes(&[2]).unwrap()),
        extensions: Some(vec![]),
    };
    let der = template.to_der().unwrap();
    // [0] [1] IMPLICIT primitive; [2] IMPLICIT SEQUENCE; [3] Name EXPLICIT;
    // [4] IMPLICIT SEQUENCE; [5] EXPLICIT; [6] IMPLICIT SEQUENCE;
    // [7] [8] IMPLICIT BIT STRING; [9] IMPLICIT SEQUENCE OF.
    assert_eq!(
        element_tags(&der),
        [0x80, 0x81, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0x87, 0x88, 0xA9]
    );
    assert_eq!(inner_of(&der, 0xA3)[0], 0x30, "issuer: explicit Name");
    assert_eq!(inner_of(&der, 0xA5)[0], 0x30, "subject: explicit Name");
    assert_eq!(inner_of(&der, 0xA4)[0], 0xA1, "notAfter [1] EXPLICIT Time");
    assert_eq!(inner_of(&der, 0xA4)[2], 0x17, "UTCTime inside");
    // publicKey [6] IMPLICIT: the SPKI's own elements, no SEQUENCE header.
    assert_eq!(inner_of(&der, 0xA6), spki.to_der().unwrap()[2..].to_vec());
    assert_eq!(CertTemplate::from_der(&der).unwrap(), template);
    assert_eq!(CertTemplate::default().to_der().unwrap(), [0x30, 0x00]);

    // ProofOfPossession: [0] IMPLICIT NULL, [1] IMPLICIT POPOSigningKey,
    // [2]/[3] EXPLICIT POPOPrivKey (a CHOICE) with [1] IMPLICIT INTEGER.
    let ra = ProofOfPossession::RaVerified(Null);
    assert_eq!(ra.to_der().unwrap(), [0x80, 0x00]);
    let ke = ProofOfPossession::KeyEncipherment(PopoPrivKey::SubsequentMessage(0));
    assert_eq!(ke.to_der().unwrap(), [0xA2, 0x03, 0x81, 0x01, 0x00]);
    let ka = ProofOfPossession::KeyAgreement(PopoPrivKey::EncryptedKey(RawSequence(vec![
        0x02, 0x01, 0x00,
    ])));
    assert_eq!(
        ka.to_der().unwrap(),
        [0xA3, 0x05, 0xA4, 0x03, 0x02, 0x01, 0x00]
    );
    for p in [ra, ke, ka] {
        assert_eq!(
            ProofOfPossession::from_der(&p.to_der().unwrap()).unwrap(),
            p
        );
    }

    // A signed request: [1] IMPLICIT POPOSigningKey, and it verifies.
    let msg = CertReqMsg::signed(
        0,
        CertTemplate {
            subject: Some(name("CN=router1")),
            public_key: Some(spki),
            ..Default::default()
        },
        None,
        &key,
        HashAlg::Sha256,
    )
    .unwrap();
    let der = msg.to_der().unwrap();
    assert_eq!(element_tags(&der), [0x30, 0xA1]);
    assert_eq!(inner_of(&der, 0xA1)[0], 0x30, "algorithmIdentifier first");
    msg.verify_popo().unwrap();
    assert_eq!(CertReqMsg::from_der(&der).unwrap(), msg);

    // POP failures.
    let mut bad = msg.clone();
    bad.cert_req.cert_req_id = 1;
    assert!(matches!(bad.verify_popo(), Err(CmpError::Pop(_))));
    let mut bad = msg.clone();
    bad.cert_req.cert_template.public_key = Some(p256().public_key_info().unwrap());
    assert!(matches!(bad.verify_popo(), Err(CmpError::Pop(_))));
    let mut bad = msg.clone();
    bad.cert_req.cert_template.public_key = None;
    assert!(matches!(bad.verify_popo(), Err(CmpError::Pop(_))));
    for popo in [None, Some(ProofOfPossession::RaVerified(Null))] {
        let mut bad = msg.clone();
        bad.popo = popo;
        assert!(matches!(bad.verify_popo(), Err(CmpError::Pop(_))));
    }
}

#[test]
fn kur_old_cert_id_control() {
    let key = p256();
    let cert = self_signed(&key, "CN=router1");
    let id = CertId::of(&cert);
    assert!(id.matches(&cert));
    assert!(
        !id.matches(&self_signed(&key, "CN=router1")),
        "another serial"
    );
    let control = id.to_old_cert_id_control().unwrap();
    assert_eq!(control.oid, ID_REG_CTRL_OLD_CERT_ID);
    let req = CertRequest {
        cert_req_id: 0,
        cert_template: CertTemplate::default(),
        controls: Some(vec![control]),
    };
    assert_eq!(req.old_cert_id().unwrap().unwrap(), id);
    let none = CertRequest {
        controls: None,
        ..req.clone()
    };
    assert!(none.old_cert_id().is_none());
}

#[test]
fn headers_for_requests_and_replies() {
    let h = PkiHeader::new(name("CN=router1"), name("CN=CA"), 1_708_075_327)
        .unwrap()
        .with_sender_kid(b"3078")
        .unwrap();
    assert_eq!(h.pvno, 2);
    assert_eq!(h.sender, GeneralName::DirectoryName(name("CN=router1")));
    assert_eq!(h.recipient, GeneralName::DirectoryName(name("CN=CA")));
    assert_eq!(h.message_time.as_ref().unwrap().as_str(), "20240216092207Z");
    assert_eq!(h.message_time_unix(), Some(1_708_075_327));
    assert_eq!(h.transaction_id().unwrap().len(), 16);
    assert_eq!(h.sender_nonce().unwrap().len(), 16);
    assert_ne!(h.transaction_id(), h.sender_nonce());
    assert_eq!(h.recip_nonce(), None);
    assert_eq!(h.sender_kid(), Some(&b"3078"[..]));
    assert!(!h.implicit_confirm());
    let h = h.with_implicit_confirm().unwrap().with_free_text("hello");
    assert!(h.implicit_confirm());
    assert_eq!(
        h.general_info.as_ref().unwrap()[0]
            .info_value
            .as_ref()
            .unwrap()
            .to_der()
            .unwrap(),
        [0x05, 0x00]
    );

    let r = PkiHeader::reply_to(&h, name("CN=CA"), 1_708_075_328).unwrap();
    assert_eq!(r.recipient, h.sender);
    assert_eq!(r.sender_name(), Some(&name("CN=CA")));
    assert_eq!(r.transaction_id(), h.transaction_id());
    assert_eq!(r.recip_nonce(), h.sender_nonce());
    assert_ne!(r.sender_nonce(), h.sender_nonce());
    assert_eq!(r.recip_kid, h.sender_kid);
    assert!(!r.implicit_confirm());
    // Header fields are [n] EXPLICIT.
    let der = r.to_der().unwrap();
    assert_eq!(
        element_tags(&der),
        [0x02, 0xA4, 0xA4, 0xA0, 0xA3, 0xA4, 0xA5, 0xA6]
    );
    assert_eq!(inner_of(&der, 0xA0)[0], 0x18, "GeneralizedTime inside [0]");
    assert_eq!(PkiHeader::from_der(&der).unwrap(), r);
}

fn sample_message(protection: Protection<'_>) -> PkiMessage {
    let header = PkiHeader::new(name("CN=router1"), name("CN=CA"), 1_700_000_000)
        .unwrap()
        .with_sender_kid(b"ref")
        .unwrap();
    let body = PkiBody::CertConf(vec![CertStatus {
        cert_hash: OctetString::new(vec![7; 32]).unwrap(),
        cert_req_id: 0,
        status_info: None,
        hash_alg: None,
    }]);
    protect(header, body, protection, vec![]).unwrap()
}

#[test]
fn mac_protection_round_trip_and_failures() {
    let msg = sample_message(Protection::Mac { secret: b"s3cret" });
    let params = pbm_parameters(&msg).unwrap();
    assert_eq!(params.salt.as_bytes().len(), 16);
    assert_eq!(params.iteration_count, 500);
    assert_eq!(params.owf.oid, HashAlg::Sha256.oid());
    assert_eq!(params.mac.oid, ID_HMAC_WITH_SHA256);
    let der = msg.to_der().unwrap();
    let back = decode(&der).unwrap();
    assert_eq!(back, msg);
    verify_mac(&back, b"s3cret").unwrap();
    assert!(matches!(
        verify_mac(&back, b"s3cret!"),
        Err(CmpError::BadMac)
    ));
    assert!(matches!(verify_mac(&back, b""), Err(CmpError::BadMac)));
    assert!(matches!(
        verify_signature(&back, &self_signed(&p256(), "CN=x")),
        Err(CmpError::WrongProtection { .. })
    ));
    // Two messages never share a salt.
    let other = sample_message(Protection::Mac { secret: b"s3cret" });
    assert_ne!(pbm_parameters(&other).unwrap().salt, params.salt);

    // Every single-bit change is caught.
    for i in 0..der.len() {
        for bit in [0x01, 0x80] {
            let mut bad = der.clone();
            bad[i] ^= bit;
            if let Ok(m) = decode(&bad) {
                assert!(verify_mac(&m, b"s3cret").is_err(), "byte {i} bit {bit}");
            }
        }
    }
    // A truncated MAC.
    let mut bad = back.clone();
    let mac = bad.protection.as_ref().unwrap().raw_bytes().to_vec();
    bad.protection = Some(BitString::from_bytes(&mac[..mac.len() - 1]).unwrap());
    assert!(matches!(verify_mac(&bad, b"s3cret"), Err(CmpError::BadMac)));
    let mut bad = back.clone();
    bad.protection = None;
    assert!(matches!(
        verify_mac(&bad, b"s3cret"),
        Err(CmpError::Unprotected)
    ));

    // Other algorithms.
    for (owf, mac) in [
        (HashAlg::Sha1, HashAlg::Sha1),
        (HashAlg::Sha256, HashAlg::Sha1),
        (HashAlg::Sha512, HashAlg::Sha384),
    ] {
        let config = PbmConfig {
            owf,
            mac,
            iterations: 100,
            salt_len: 8,
        };
        let m = sample_message(Protection::MacWith {
            secret: b"pw",
            config,
        });
        verify_mac(&decode(&m.to_der().unwrap()).unwrap(), b"pw").unwrap();
    }
}

/// Replaces the PBMParameter of `msg` by `f(params)`.
fn with_params(msg: &PkiMessage, f: impl FnOnce(&mut PbmParameter)) -> PkiMessage {
    let mut params = pbm_parameters(msg).unwrap();
    f(&mut params);
    let mut msg = msg.clone();
    msg.header.protection_alg.as_mut().unwrap().parameters =
        Some(Any::encode_from(&params).unwrap());
    msg
}

#[test]
fn hostile_pbm_parameters_are_refused() {
    let msg = sample_message(Protection::Mac { secret: b"pw" });
    for (count, ok) in [
        (0, false),
        (1, true),
        (100_000, true),
        (100_001, false),
        (u64::MAX, false),
    ] {
        let m = with_params(&msg, |p| p.iteration_count = count);
        match verify_mac(&m, b"pw") {
            Err(CmpError::IterationCount(n)) => assert!(!ok && n == count),
            Err(CmpError::BadMac) => assert!(ok, "{count}"),
            other => panic!("{count}: {other:?}"),
        }
    }
    let md5 = const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.2.5");
    let m = with_params(&msg, |p| p.owf.oid = md5);
    assert!(matches!(
        verify_mac(&m, b"pw"),
        Err(CmpError::UnsupportedAlgorithm(_))
    ));
    let m = with_params(&msg, |p| p.mac.oid = md5);
    assert!(matches!(
        verify_mac(&m, b"pw"),
        Err(CmpError::UnsupportedAlgorithm(_))
    ));
    let m = with_params(&msg, |p| {
        p.owf.parameters = Some(Any::encode_from(&7u8).unwrap())
    });
    assert!(matches!(
        verify_mac(&m, b"pw"),
        Err(CmpError::BadPbmParameters(_))
    ));
    // NULL parameters are fine.
    let m = with_params(&msg, |p| {
        p.owf.parameters = Some(Any::encode_from(&Null).unwrap())
    });
    assert!(matches!(verify_mac(&m, b"pw"), Err(CmpError::BadMac)));
    let mut m = msg.clone();
    m.header.protection_alg.as_mut().unwrap().parameters = None;
    assert!(matches!(
        verify_mac(&m, b"pw"),
        Err(CmpError::BadPbmParameters(_))
    ));
    let mut m = msg.clone();
    m.header.protection_alg.as_mut().unwrap().parameters = Some(Any::encode_from(&Null).unwrap());
    assert!(matches!(
        verify_mac(&m, b"pw"),
        Err(CmpError::BadPbmParameters(_))
    ));
    // We do not generate what we would refuse.
    let header = msg.header.clone();
    let config = PbmConfig {
        iterations: 100_001,
        ..PbmConfig::default()
    };
    assert!(matches!(
        protect(
            header,
            msg.body.clone(),
            Protection::MacWith {
                secret: b"pw",
                config
            },
            vec![]
        ),
        Err(CmpError::IterationCount(100_001))
    ));
}

#[test]
fn signature_protection() {
    let key = p256();
    let cert = self_signed(&key, "CN=CMP signer");
    let msg = sample_message(Protection::Signature {
        key: &key,
        hash: HashAlg::Sha256,
    });
    assert_eq!(
        msg.header.protection_alg,
        Some(key.signature_algorithm(HashAlg::Sha256).unwrap())
    );
    assert_eq!(
        protection_kind(&msg),
        ProtectionKind::Signature(msg.header.protection_alg.as_ref().unwrap().oid)
    );
    let back = decode(&msg.to_der().unwrap()).unwrap();
    verify_signature(&back, &cert).unwrap();
    assert!(matches!(
        verify_mac(&back, b"x"),
        Err(CmpError::WrongProtection { .. })
    ));
    let stranger = self_signed(&p256(), "CN=stranger");
    assert!(matches!(
        verify_signature(&back, &stranger),
        Err(CmpError::Signature(_))
    ));
    let mut tampered = back.clone();
    tampered.header.pvno = 3;
    assert!(verify_signature(&tampered, &cert).is_err());
    let mut tampered = back.clone();
    tampered.header.protection_alg = Some(AlgorithmIdentifierOwned {
        oid: const_oid::ObjectIdentifier::new_unwrap("1.2.3.4"),
        parameters: None,
    });
    assert!(matches!(
        verify_signature(&tampered, &cert),
        Err(CmpError::Signature(
            crate::verify::VerifyError::Unsupported(_)
        ))
    ));

    // extraCerts carry the signer; an unprotected message has neither.
    let header = PkiHeader::new(name("CN=a"), name("CN=b"), 0).unwrap();
    let signed = protect(
        header.clone(),
        PkiBody::Pkiconf(Null),
        Protection::Signature {
            key: &key,
            hash: HashAlg::Sha384,
        },
        vec![cert.clone()],
    )
    .unwrap();
    assert_eq!(signed.extra_certs, Some(vec![cert.clone()]));
    verify_signature(&decode(&signed.to_der().unwrap()).unwrap(), &cert).unwrap();
    let plain = protect(header, PkiBody::Pkiconf(Null), Protection::None, vec![]).unwrap();
    assert_eq!(plain.header.protection_alg, None);
    assert_eq!((plain.protection, plain.extra_certs), (None, None));
}

#[test]
fn cert_hash_uses_the_signature_hash() {
    let key = p256();
    let cert = self_signed(&key, "CN=x");
    assert_eq!(
        cert_hash(&cert).unwrap(),
        HashAlg::Sha256.digest(&cert.to_der().unwrap())
    );
    let p384 = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 384).unwrap()).unwrap();
    let cert = self_signed(&p384, "CN=y");
    assert_eq!(cert_hash(&cert).unwrap().len(), 48);
}

#[test]
fn garbage_never_panics() {
    assert!(matches!(decode(&[]), Err(CmpError::Decode(_))));
    assert!(matches!(decode(&[0x30, 0x00]), Err(CmpError::Decode(_))));
    assert!(matches!(decode(&[0x30, 0x80]), Err(CmpError::Decode(_))));
    assert!(matches!(
        decode(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
        Err(CmpError::Decode(_))
    ));
    // Pseudo-random bytes behind a SEQUENCE header.
    let mut x: u32 = 0x1234_5678;
    for len in 0..300usize {
        let mut der = vec![0x30, 0x82, (len >> 8) as u8, len as u8];
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            der.push(x as u8);
        }
        let _ = decode(&der);
    }
}

/// A peer that leaves a SET OF unsorted (here a multi-valued RDN in its
/// sender name) MACs its own encoding: `der` sorts the set when decoding,
/// so only the bytes as received verify.
#[test]
fn protection_is_checked_over_the_bytes_as_received() {
    let secret = b"pw";
    let sender = name("CN=b+O=a");
    let header = PkiHeader::new(sender, name("CN=CA"), 0).unwrap();
    let msg = protect(
        header,
        PkiBody::Pkiconf(Null),
        Protection::Mac { secret },
        vec![],
    )
    .unwrap();
    let der = msg.to_der().unwrap();
    // The RDN's two values in DER order; swap them.
    let atvs: Vec<Vec<u8>> = name("CN=b+O=a")
        .iter()
        .map(|atv| atv.to_der().unwrap())
        .collect();
    assert_eq!(atvs.len(), 2);
    let (first, second) = (&atvs[0], &atvs[1]);
    let sorted = [first.as_slice(), second.as_slice()].concat();
    assert!(first < second, "DER order");
    let at = der.windows(sorted.len()).position(|w| w == sorted).unwrap();
    let mut peer = der.clone();
    peer[at..at + sorted.len()].copy_from_slice(&[second.as_slice(), first.as_slice()].concat());
    // The peer MACs its own bytes.
    let mac = Received::decode(&peer)
        .unwrap()
        .compute_mac(secret)
        .unwrap();
    let n = peer.len();
    peer[n - mac.len()..].copy_from_slice(&mac);

    let received = Received::decode(&peer).unwrap();
    assert_eq!(
        received.message.to_der().unwrap(),
        der[..n - mac.len()]
            .iter()
            .chain(&mac)
            .copied()
            .collect::<Vec<_>>(),
        "decoding sorted the set"
    );
    assert!(matches!(
        verify_mac(&received.message, secret),
        Err(CmpError::BadMac)
    ));
    received.verify_mac(secret).unwrap();
    assert!(matches!(
        received.verify_mac(b"wrong"),
        Err(CmpError::BadMac)
    ));
    // For DER input both agree.
    let canonical = Received::decode(&der).unwrap();
    assert_eq!(
        canonical.protected_part(),
        protected_part(&msg.header, &msg.body).unwrap()
    );
    canonical.verify_mac(secret).unwrap();
    assert_eq!(canonical.into_message(), msg);
}

#[test]
fn small_builders() {
    let cert = self_signed(&p256(), "CN=x");
    let ok = CertResponse::accepted(0, cert.clone());
    assert_eq!(ok.certificate(), Some(&cert));
    let no = CertResponse::without_certificate(
        1,
        PkiStatusInfo::rejection(FailureInfo::BAD_CERT_TEMPLATE, "no"),
    );
    assert_eq!(no.certificate(), None);
    assert_eq!(no.status.failure_info().names(), ["badCertTemplate"]);
    let st = CertStatus::for_certificate(&cert, 0, None).unwrap();
    assert!(st.matches(&cert) && st.is_accepted());
    let rejected = CertStatus::for_certificate(
        &cert,
        0,
        Some(PkiStatusInfo::rejection(FailureInfo::BAD_CERT_TEMPLATE, "")),
    )
    .unwrap();
    assert!(!rejected.is_accepted());
    let err = ErrorMsgContent::new(PkiStatusInfo::rejection(FailureInfo::BAD_REQUEST, "x"));
    assert_eq!(err.error_code, None);
    let secret = b"do-not-print";
    let dbg = format!(
        "{:?} {:?}",
        Protection::Mac { secret },
        Protection::MacWith {
            secret,
            config: PbmConfig::default()
        }
    );
    assert!(
        !dbg.contains("do-not-print") && dbg.contains("redacted"),
        "{dbg}"
    );
}
