//! Path building and validation (RFC 5280 section 6 in spirit).
//!
//! From the peer certificate, depth first: the candidate issuers of a
//! certificate are the trust anchors, then the certificates the peer sent,
//! whose subject is the certificate's issuer (exact name equality) and
//! whose key verifies its signature. A path ends at a trust anchor. When a
//! branch fails the next candidate is tried; when all fail, the most
//! specific refusal met is returned (a certificate that is wrong says more
//! than an issuer that was not found).
//!
//! Every certificate of a path, the trust anchor included, must be within
//! its validity at the policy's time, carry no critical extension the
//! validator does not understand (basicConstraints, keyUsage,
//! extendedKeyUsage, subjectAltName, nameConstraints and
//! certificatePolicies are understood), and follow the RFC 5280 profile
//! where breaking it changes what a certificate may do: a CA certificate
//! has a critical basicConstraints, a subjectKeyIdentifier and a subject; a
//! certificate that is not a CA has neither keyCertSign, a
//! pathLenConstraint nor nameConstraints; a certificate that is not
//! self-issued names its issuer's key in an authorityKeyIdentifier; the
//! signature algorithm inside and outside the signed part agree; no
//! extension appears twice. The trust anchor's own signature is not
//! checked. Certificates that issue (intermediates and the anchor) must be
//! CAs with keyCertSign when keyUsage is present; pathLenConstraint counts
//! the intermediates below that are not self-issued; name constraints of
//! every CA apply to the certificates below it (self-issued intermediates
//! excepted). The peer, which may be a CA certificate, needs
//! digitalSignature when it has a keyUsage and the policy asks for it.
//! Revocation is checked last, see [`super::revocation`].

use std::collections::HashMap;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use x509_cert::Certificate;
use x509_cert::ext::pkix::constraints::name::NameConstraints;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use super::{Chain, CrlSource, DEFAULT_MAX_DEPTH, Policy, Refusal, constraints, revocation};

/// How many issuer candidates path building examines before it gives up.
const WORK_LIMIT: usize = 2000;

/// A name as an operator reads it.
pub(super) fn name_text(name: &Name) -> String {
    if name.is_empty() {
        "(empty name)".into()
    } else {
        pki::name::subject_string(name)
    }
}

/// The certificate's subject as an operator reads it.
pub(super) fn subject_text(cert: &Certificate) -> String {
    name_text(cert.tbs_certificate().subject())
}

fn self_issued(cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    tbs.subject() == tbs.issuer()
}

/// Extensions whose critical form the validator processes.
const UNDERSTOOD: [ObjectIdentifier; 6] = [
    oids::ID_CE_BASIC_CONSTRAINTS,
    oids::ID_CE_KEY_USAGE,
    oids::ID_CE_EXT_KEY_USAGE,
    oids::ID_CE_SUBJECT_ALT_NAME,
    oids::ID_CE_NAME_CONSTRAINTS,
    oids::ID_CE_CERTIFICATE_POLICIES,
];

/// Where a certificate sits in a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Peer,
    Intermediate,
    Anchor,
}

fn malformed(subject: &str, what: impl std::fmt::Display) -> Refusal {
    Refusal::Malformed(format!("certificate '{subject}': {what}"))
}

/// The checks of one certificate on its own in `role`.
fn check_certificate(cert: &Certificate, role: Role, policy: &Policy) -> Result<(), Refusal> {
    let tbs = cert.tbs_certificate();
    let subject = subject_text(cert);
    let now = policy.time.as_secs();
    let validity = tbs.validity();
    if now < validity.not_before.to_unix_duration().as_secs() {
        return Err(Refusal::NotYetValid {
            subject,
            not_before: validity.not_before.to_date_time().to_string(),
        });
    }
    if now > validity.not_after.to_unix_duration().as_secs() {
        return Err(Refusal::Expired {
            subject,
            not_after: validity.not_after.to_date_time().to_string(),
        });
    }
    if tbs.signature() != cert.signature_algorithm() {
        return Err(malformed(
            &subject,
            "the signature algorithm inside and outside the signed part differ",
        ));
    }
    if tbs.issuer().is_empty() {
        return Err(malformed(&subject, "empty issuer name"));
    }
    let exts = tbs.extensions().map(|e| e.as_slice()).unwrap_or(&[]);
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|o| o.extn_id == e.extn_id) {
            return Err(malformed(
                &subject,
                format!("extension {} appears twice", e.extn_id),
            ));
        }
        if e.critical && !UNDERSTOOD.contains(&e.extn_id) {
            return Err(Refusal::UnknownCriticalExtension {
                subject,
                oid: e.extn_id.to_string(),
            });
        }
    }
    let bad = |what: &str, e: der::Error| malformed(&subject, format!("{what}: {e}"));
    let bc = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|e| bad("basicConstraints", e))?;
    let ku = tbs
        .get_extension::<KeyUsage>()
        .map_err(|e| bad("keyUsage", e))?
        .map(|(_, k)| k);
    let san = tbs
        .get_extension::<SubjectAltName>()
        .map_err(|e| bad("subjectAltName", e))?;
    let nc = tbs
        .get_extension::<NameConstraints>()
        .map_err(|e| bad("nameConstraints", e))?;
    let ski = tbs
        .get_extension::<SubjectKeyIdentifier>()
        .map_err(|e| bad("subjectKeyIdentifier", e))?;
    let aki = tbs
        .get_extension::<AuthorityKeyIdentifier>()
        .map_err(|e| bad("authorityKeyIdentifier", e))?;
    let is_ca = bc.as_ref().is_some_and(|(_, b)| b.ca);
    let has = |bit: KeyUsages| ku.as_ref().is_none_or(|k| k.0.contains(bit));
    if is_ca {
        if bc.as_ref().is_some_and(|(critical, _)| !critical) {
            return Err(malformed(
                &subject,
                "a CA whose basicConstraints is not critical",
            ));
        }
        if ski.is_none() {
            return Err(malformed(&subject, "a CA without subjectKeyIdentifier"));
        }
        if tbs.subject().is_empty() {
            return Err(malformed(&subject, "a CA with an empty subject"));
        }
    } else {
        if bc
            .as_ref()
            .is_some_and(|(_, b)| b.path_len_constraint.is_some())
        {
            return Err(malformed(&subject, "pathLenConstraint without cA"));
        }
        if ku.is_some() && has(KeyUsages::KeyCertSign) {
            return Err(Refusal::KeyUsage {
                subject,
                what: "keyCertSign in a certificate that is not a CA".into(),
            });
        }
        if nc.is_some() {
            return Err(malformed(
                &subject,
                "nameConstraints in a certificate that is not a CA",
            ));
        }
    }
    if let Some((_, nc)) = &nc {
        constraints::check_extension(nc).map_err(|e| malformed(&subject, e))?;
    }
    if tbs.subject().is_empty() && !san.as_ref().is_some_and(|(critical, _)| *critical) {
        return Err(malformed(
            &subject,
            "an empty subject needs a critical subjectAltName",
        ));
    }
    if role != Role::Anchor
        && !self_issued(cert)
        && aki.as_ref().is_none_or(|(_, a)| a.key_identifier.is_none())
    {
        return Err(malformed(
            &subject,
            "no authorityKeyIdentifier keyIdentifier",
        ));
    }
    match role {
        Role::Peer => {
            // RFC 4945 5.1.3.2: either bit will do for IKE.
            if policy.require_digital_signature
                && ku.is_some()
                && !has(KeyUsages::DigitalSignature)
                && !has(KeyUsages::NonRepudiation)
            {
                return Err(Refusal::KeyUsage {
                    subject,
                    what: "neither digitalSignature nor nonRepudiation is allowed".into(),
                });
            }
        }
        Role::Intermediate | Role::Anchor => {
            if !is_ca || !has(KeyUsages::KeyCertSign) {
                return Err(Refusal::NotCa { subject });
            }
        }
    }
    Ok(())
}

/// pathLenConstraint of every CA in `path` (peer first).
fn check_path_length(path: &[&Certificate]) -> Result<(), Refusal> {
    for (k, ca) in path.iter().enumerate().skip(1) {
        let limit = ca
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
            .ok()
            .flatten()
            .and_then(|(_, b)| b.path_len_constraint);
        if let Some(limit) = limit {
            let below = path[1..k].iter().filter(|c| !self_issued(c)).count();
            if below > usize::from(limit) {
                return Err(Refusal::PathLength {
                    subject: subject_text(ca),
                });
            }
        }
    }
    Ok(())
}

/// Name constraints of every CA in `path` over the certificates below it.
fn check_name_constraints(path: &[&Certificate]) -> Result<(), Refusal> {
    for (k, ca) in path.iter().enumerate().skip(1) {
        let Some((_, nc)) = ca
            .tbs_certificate()
            .get_extension::<NameConstraints>()
            .map_err(|e| Refusal::Malformed(format!("nameConstraints: {e}")))?
        else {
            continue;
        };
        for (j, below) in path[..k].iter().enumerate() {
            if j > 0 && self_issued(below) {
                continue;
            }
            let names = constraints::names_of(below)?;
            constraints::apply(&nc, &names, &subject_text(below))?;
        }
    }
    Ok(())
}

/// How telling a refusal is when choosing among failed branches.
fn rank(r: &Refusal) -> u8 {
    match r {
        Refusal::UnknownCa { .. } => 0,
        Refusal::TooDeep { .. } => 1,
        Refusal::BadSignature { .. } => 2,
        _ => 3,
    }
}

struct Builder<'a> {
    /// The peer, the anchors, then the other certificates it sent.
    pool: Vec<&'a Certificate>,
    anchors: usize,
    crls: &'a dyn CrlSource,
    policy: &'a Policy,
    max: usize,
    signatures: HashMap<(usize, usize), bool>,
    checked: HashMap<(usize, Role), Result<(), Refusal>>,
    work: usize,
    best: Option<Refusal>,
}

impl Builder<'_> {
    fn note(&mut self, r: Refusal) {
        if self.best.as_ref().is_none_or(|b| rank(&r) > rank(b)) {
            self.best = Some(r);
        }
    }

    fn is_anchor(&self, i: usize) -> bool {
        i >= 1 && i <= self.anchors
    }

    fn signed_by(&mut self, child: usize, issuer: usize) -> bool {
        if let Some(ok) = self.signatures.get(&(child, issuer)) {
            return *ok;
        }
        let spki = self.pool[issuer]
            .tbs_certificate()
            .subject_public_key_info();
        let ok = pki::verify::certificate(self.pool[child], spki).is_ok();
        self.signatures.insert((child, issuer), ok);
        ok
    }

    fn check(&mut self, i: usize, role: Role) -> Result<(), Refusal> {
        if let Some(r) = self.checked.get(&(i, role)) {
            return r.clone();
        }
        let r = check_certificate(self.pool[i], role, self.policy);
        self.checked.insert((i, role), r.clone());
        r
    }

    /// The checks of a whole path that ends at an anchor.
    fn finish(&self, path: &[usize]) -> Result<(), Refusal> {
        let certs: Vec<&Certificate> = path.iter().map(|i| self.pool[*i]).collect();
        check_path_length(&certs)?;
        check_name_constraints(&certs)?;
        revocation::check_path(&certs, self.crls, self.policy)
    }

    /// Extends `path` (peer first) to an anchor; true when it got there.
    fn extend(&mut self, path: &mut Vec<usize>) -> bool {
        let Some(&child) = path.last() else {
            return false;
        };
        let wanted = self.pool[child].tbs_certificate().issuer().clone();
        let mut named = false;
        for c in 1..self.pool.len() {
            if path.contains(&c) || self.pool[c].tbs_certificate().subject() != &wanted {
                continue;
            }
            named = true;
            self.work += 1;
            if self.work > WORK_LIMIT {
                self.note(Refusal::Malformed(format!(
                    "path building gave up after examining {WORK_LIMIT} issuer candidates"
                )));
                return false;
            }
            if !self.signed_by(child, c) {
                self.note(Refusal::BadSignature {
                    subject: subject_text(self.pool[child]),
                });
                continue;
            }
            let anchor = self.is_anchor(c);
            let role = if anchor {
                Role::Anchor
            } else {
                Role::Intermediate
            };
            if let Err(e) = self.check(c, role) {
                self.note(e);
                continue;
            }
            if anchor {
                path.push(c);
                match self.finish(path) {
                    Ok(()) => return true,
                    Err(e) => self.note(e),
                }
                path.pop();
                continue;
            }
            // path holds the peer and the intermediates so far.
            if path.len() > self.max {
                self.note(Refusal::TooDeep { max: self.max });
                continue;
            }
            path.push(c);
            if self.extend(path) {
                return true;
            }
            path.pop();
            if self.work > WORK_LIMIT {
                return false;
            }
        }
        if !named {
            self.note(Refusal::UnknownCa {
                issuer: name_text(&wanted),
            });
        }
        false
    }
}

/// Builds and validates a path from `peer` (with the `untrusted`
/// intermediates it sent) to one of `anchors`.
pub fn validate(
    peer: &Certificate,
    untrusted: &[Certificate],
    anchors: &[Certificate],
    crls: &dyn CrlSource,
    policy: &Policy,
) -> Result<Chain, Refusal> {
    check_certificate(peer, Role::Peer, policy)?;
    let mut pool: Vec<&Certificate> = vec![peer];
    for a in anchors {
        if !pool.contains(&a) {
            pool.push(a);
        }
    }
    let n_anchors = pool.len() - 1;
    for u in untrusted {
        if !pool.contains(&u) {
            pool.push(u);
        }
    }
    let mut b = Builder {
        pool,
        anchors: n_anchors,
        crls,
        policy,
        max: policy.max_depth.unwrap_or(DEFAULT_MAX_DEPTH),
        signatures: HashMap::new(),
        checked: HashMap::new(),
        work: 0,
        best: None,
    };
    let mut path = vec![0];
    if b.extend(&mut path) {
        tracing::debug!(
            peer = %subject_text(peer),
            length = path.len(),
            "certificate path validated"
        );
        return Ok(Chain(path.iter().map(|i| b.pool[*i].clone()).collect()));
    }
    let refusal = b.best.take().unwrap_or_else(|| Refusal::UnknownCa {
        issuer: name_text(peer.tbs_certificate().issuer()),
    });
    tracing::debug!(peer = %subject_text(peer), %refusal, "certificate path refused");
    Err(refusal)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
    use x509_cert::ext::pkix::name::GeneralName;

    use super::super::testutil::{DAY, NOW, Pki, Spec, ext, key, make};
    use super::super::{PeerId, RevocationMode, StaticCrls, authenticate};
    use super::*;

    fn policy() -> Policy {
        let mut p = Policy::new(Duration::from_secs(NOW));
        p.revocation = RevocationMode::Disabled;
        p
    }

    fn run(
        pki: &Pki,
        peer: &Certificate,
        untrusted: &[Certificate],
        p: &Policy,
    ) -> Result<Chain, Refusal> {
        validate(
            peer,
            untrusted,
            std::slice::from_ref(&pki.root),
            &StaticCrls::default(),
            p,
        )
    }

    #[test]
    fn three_levels_accepted() {
        let pki = Pki::new();
        let chain = run(&pki, &pki.peer, std::slice::from_ref(&pki.ica), &policy()).unwrap();
        assert_eq!(
            chain.0,
            vec![pki.peer.clone(), pki.ica.clone(), pki.root.clone()]
        );
        let id = PeerId::Fqdn("peer.example.net".into());
        let ica = [pki.ica.clone()];
        let anchors = [pki.root.clone()];
        authenticate(
            &pki.peer,
            &ica,
            &anchors,
            &StaticCrls::default(),
            &id,
            &policy(),
        )
        .unwrap();
        let other = PeerId::Fqdn("other.example.net".into());
        assert!(matches!(
            authenticate(
                &pki.peer,
                &ica,
                &anchors,
                &StaticCrls::default(),
                &other,
                &policy()
            ),
            Err(Refusal::IdentityMismatch { .. })
        ));
    }

    #[test]
    fn validity_window() {
        let pki = Pki::new();
        let ica = [pki.ica.clone()];
        let mut p = policy();
        p.time = Duration::from_secs(NOW + 400 * DAY);
        let e = run(&pki, &pki.peer, &ica, &p).unwrap_err();
        assert!(
            matches!(e, Refusal::Expired { ref subject, .. } if subject.contains("peer")),
            "{e}"
        );
        assert!(e.to_string().contains("expired"));
        p.time = Duration::from_secs(NOW - 2 * DAY);
        let e = run(&pki, &pki.peer, &ica, &p).unwrap_err();
        assert!(matches!(e, Refusal::NotYetValid { .. }), "{e}");
        // notAfter itself is still valid; a second later is not.
        let mut spec = Spec::ee("CN=short", &["short.example.net"]);
        spec.valid = (NOW - DAY, NOW);
        let short = pki.peer_from(spec);
        run(&pki, &short, &ica, &policy()).unwrap();
        p.time = Duration::from_secs(NOW + 1);
        assert!(matches!(
            run(&pki, &short, &ica, &p),
            Err(Refusal::Expired { .. })
        ));
        // An expired intermediate.
        let mut spec = Spec::ca("CN=Old ICA", Some(0));
        spec.valid = (NOW - 10 * DAY, NOW - DAY);
        let old = make(spec, &pki.ica_key, Some((&pki.root, &pki.root_key)));
        let peer = make(
            Spec::ee("CN=p", &["p.example.net"]),
            &pki.peer_key,
            Some((&old, &pki.ica_key)),
        );
        assert!(matches!(
            run(&pki, &peer, &[old], &policy()),
            Err(Refusal::Expired { .. })
        ));
    }

    #[test]
    fn unknown_ca_and_bad_signature() {
        let pki = Pki::new();
        let other = make(Spec::ca("CN=Other Root", None), &key(), None);
        let e = validate(
            &pki.peer,
            std::slice::from_ref(&pki.ica),
            std::slice::from_ref(&other),
            &StaticCrls::default(),
            &policy(),
        )
        .unwrap_err();
        assert!(
            matches!(e, Refusal::UnknownCa { ref issuer } if issuer.contains("Test Root")),
            "{e}"
        );
        // An anchor of the same name with another key.
        let impostor = make(Spec::ca("CN=Test Root,O=Example", None), &key(), None);
        let e = validate(
            &pki.peer,
            std::slice::from_ref(&pki.ica),
            std::slice::from_ref(&impostor),
            &StaticCrls::default(),
            &policy(),
        )
        .unwrap_err();
        assert!(
            matches!(e, Refusal::BadSignature { ref subject } if subject.contains("Test ICA")),
            "{e}"
        );
        // Missing intermediate.
        assert!(matches!(
            run(&pki, &pki.peer, &[], &policy()),
            Err(Refusal::UnknownCa { .. })
        ));
        // Same issuer name, another key.
        let forged = make(
            Spec::ee("CN=peer,O=Example", &["peer.example.net"]),
            &pki.peer_key,
            Some((&pki.ica, &key())),
        );
        let e = run(&pki, &forged, std::slice::from_ref(&pki.ica), &policy()).unwrap_err();
        assert!(matches!(e, Refusal::BadSignature { .. }), "{e}");
    }

    #[test]
    fn intermediate_must_be_a_ca() {
        let pki = Pki::new();
        let not_ca = make(
            Spec::ee("CN=Not A CA", &[]),
            &pki.ica_key,
            Some((&pki.root, &pki.root_key)),
        );
        let peer = make(
            Spec::ee("CN=p", &["p.example.net"]),
            &pki.peer_key,
            Some((&not_ca, &pki.ica_key)),
        );
        let e = run(&pki, &peer, &[not_ca], &policy()).unwrap_err();
        assert!(
            matches!(e, Refusal::NotCa { ref subject } if subject.contains("Not A CA")),
            "{e}"
        );
    }

    #[test]
    fn path_length() {
        let pki = Pki::new();
        // root -> ICA (pathlen 0) -> ICA2 -> peer
        let k2 = key();
        let ica2 = make(
            Spec::ca("CN=ICA2", None),
            &k2,
            Some((&pki.ica, &pki.ica_key)),
        );
        let peer = make(
            Spec::ee("CN=p", &["p.example.net"]),
            &pki.peer_key,
            Some((&ica2, &k2)),
        );
        let untrusted = [pki.ica.clone(), ica2.clone()];
        let e = run(&pki, &peer, &untrusted, &policy()).unwrap_err();
        assert!(
            matches!(e, Refusal::PathLength { ref subject } if subject.contains("Test ICA")),
            "{e}"
        );
        // The depth limit.
        let mut p = policy();
        p.max_depth = Some(0);
        let e = run(&pki, &pki.peer, std::slice::from_ref(&pki.ica), &p).unwrap_err();
        assert_eq!(e, Refusal::TooDeep { max: 0 });
    }

    #[test]
    fn key_usage_of_the_peer() {
        let pki = Pki::new();
        let ku = KeyUsage(KeyUsages::KeyEncipherment.into());
        let mut spec = Spec::ee("CN=enc", &["enc.example.net"]);
        spec.extra = vec![ext(oids::ID_CE_KEY_USAGE, true, &ku)];
        let peer = pki.peer_from(spec);
        let ica = [pki.ica.clone()];
        let e = run(&pki, &peer, &ica, &policy()).unwrap_err();
        assert!(matches!(e, Refusal::KeyUsage { .. }), "{e}");
        let mut p = policy();
        p.require_digital_signature = false;
        run(&pki, &peer, &ica, &p).unwrap();
        // No keyUsage at all is fine.
        let mut spec = Spec::ee("CN=noku", &["noku.example.net"]);
        spec.drop = vec![oids::ID_CE_KEY_USAGE];
        run(&pki, &pki.peer_from(spec), &ica, &policy()).unwrap();
    }

    #[test]
    fn unknown_critical_extension() {
        let pki = Pki::new();
        let oid = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55738.666.1");
        let mut spec = Spec::ee("CN=odd", &["odd.example.net"]);
        spec.extra = vec![ext(oid, true, &der::asn1::Null)];
        let peer = pki.peer_from(spec);
        let e = run(&pki, &peer, std::slice::from_ref(&pki.ica), &policy()).unwrap_err();
        assert!(
            matches!(e, Refusal::UnknownCriticalExtension { ref oid, .. } if oid == "1.3.6.1.4.1.55738.666.1"),
            "{e}"
        );
        // Not critical: ignored.
        let mut spec = Spec::ee("CN=odd", &["odd.example.net"]);
        spec.extra = vec![ext(oid, false, &der::asn1::Null)];
        run(
            &pki,
            &pki.peer_from(spec),
            std::slice::from_ref(&pki.ica),
            &policy(),
        )
        .unwrap();
    }

    #[test]
    fn name_constraints() {
        let pki = Pki::new();
        let nc = NameConstraints {
            permitted_subtrees: Some(vec![GeneralSubtree {
                base: GeneralName::DnsName(der::asn1::Ia5String::new("example.net").unwrap()),
                minimum: 0,
                maximum: None,
            }]),
            excluded_subtrees: None,
        };
        let k = key();
        let mut spec = Spec::ca("CN=Constrained", Some(0));
        spec.extra = vec![ext(oids::ID_CE_NAME_CONSTRAINTS, true, &nc)];
        let ca = make(spec, &k, Some((&pki.root, &pki.root_key)));
        let good = make(
            Spec::ee("CN=g", &["vpn.example.net"]),
            &pki.peer_key,
            Some((&ca, &k)),
        );
        run(&pki, &good, std::slice::from_ref(&ca), &policy()).unwrap();
        let bad = make(
            Spec::ee("CN=b", &["vpn.example.org"]),
            &pki.peer_key,
            Some((&ca, &k)),
        );
        let e = run(&pki, &bad, std::slice::from_ref(&ca), &policy()).unwrap_err();
        assert!(
            matches!(e, Refusal::NameConstraints { ref name, .. } if name == "DNS:vpn.example.org"),
            "{e}"
        );
    }

    #[test]
    fn alternative_paths() {
        // The peer's issuer exists twice: an expired copy and a good one.
        let pki = Pki::new();
        let mut spec = Spec::ca("CN=Test ICA,O=Example", Some(0));
        spec.valid = (NOW - 10 * DAY, NOW - DAY);
        let old = make(spec, &pki.ica_key, Some((&pki.root, &pki.root_key)));
        let chain = run(&pki, &pki.peer, &[old.clone(), pki.ica.clone()], &policy()).unwrap();
        assert_eq!(chain.0[1], pki.ica);
        // Only the expired one: the specific reason, not "unknown CA".
        assert!(matches!(
            run(&pki, &pki.peer, &[old], &policy()),
            Err(Refusal::Expired { .. })
        ));
    }
}
