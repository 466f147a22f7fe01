//! Revocation by CRL (RFC 5280 section 6.3 in spirit).
//!
//! For every certificate of a path below the trust anchor, unless
//! revocation is [`RevocationMode::Disabled`], the issuer's CRL is asked of
//! the [`CrlSource`] with the certificate's distribution point URLs. A CRL
//! is used only when it checks out: issued by the issuer's name, signed by
//! its key, the issuer's keyUsage (when present) allows cRLSign, the
//! validation time is between thisUpdate and nextUpdate, it carries a
//! non-critical cRLNumber, it is not a delta CRL and has no other critical
//! extension (an issuingDistributionPoint, a critical entry extension).
//! The certificate's serial on it means revoked, with the entry's reason
//! (removeFromCRL entries are ignored). No CRL, or a failure to get one,
//! refuses under [`RevocationMode::Required`] and is accepted under
//! [`RevocationMode::BestEffort`]; a CRL that was had but does not check
//! out refuses under both.

use const_oid::db::rfc5280 as oids;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{CrlDistributionPoints, CrlReason, KeyUsage, KeyUsages};

use super::path::{name_text, subject_text};
use super::{CrlSource, Policy, Refusal, RevocationMode};

/// A [`CrlSource`] over a fixed list of CRLs (tests, `mtsim pki
/// verify-chain --crl`): for an issuer, the CRL naming it as issuer whose
/// signature verifies with its key (the latest by thisUpdate when several
/// do).
#[derive(Debug, Clone, Default)]
pub struct StaticCrls(pub Vec<CertificateList>);

impl CrlSource for StaticCrls {
    fn crl(
        &self,
        issuer: &Certificate,
        _distribution_points: &[String],
    ) -> Result<Option<CertificateList>, String> {
        let tbs = issuer.tbs_certificate();
        let mut best: Option<&CertificateList> = None;
        for crl in &self.0 {
            if &crl.tbs_cert_list.issuer != tbs.subject()
                || pki::verify::crl(crl, tbs.subject_public_key_info()).is_err()
            {
                continue;
            }
            let newer = best.is_none_or(|b| {
                crl.tbs_cert_list.this_update.to_unix_duration()
                    > b.tbs_cert_list.this_update.to_unix_duration()
            });
            if newer {
                best = Some(crl);
            }
        }
        Ok(best.cloned())
    }
}

/// The URLs of a certificate's CRL distribution points (none when it has
/// none or they do not parse).
pub fn distribution_points(cert: &Certificate) -> Vec<String> {
    let Ok(Some((_, cdp))) = cert
        .tbs_certificate()
        .get_extension::<CrlDistributionPoints>()
    else {
        return Vec::new();
    };
    cdp.0
        .iter()
        .filter_map(|dp: &DistributionPoint| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|g| match g {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}

/// Why `crl` is not a usable CRL of `issuer` at the policy's time.
fn check_crl(crl: &CertificateList, issuer: &Certificate, policy: &Policy) -> Result<(), String> {
    let itbs = issuer.tbs_certificate();
    let tbs = &crl.tbs_cert_list;
    if &tbs.issuer != itbs.subject() {
        return Err(format!(
            "the CRL is issued by '{}', not by the CA",
            name_text(&tbs.issuer)
        ));
    }
    if tbs.signature != crl.signature_algorithm {
        return Err("the CRL's signature algorithm inside and outside differ".into());
    }
    pki::verify::crl(crl, itbs.subject_public_key_info())
        .map_err(|e| format!("the CRL's signature: {e}"))?;
    let ku = itbs
        .get_extension::<KeyUsage>()
        .map_err(|e| format!("the CA's keyUsage: {e}"))?;
    if ku.is_some_and(|(_, k)| !k.0.contains(KeyUsages::CRLSign)) {
        return Err("the CA's keyUsage does not allow cRLSign".into());
    }
    let now = policy.time.as_secs();
    if now < tbs.this_update.to_unix_duration().as_secs() {
        return Err(format!(
            "the CRL is not valid before {}",
            tbs.this_update.to_date_time()
        ));
    }
    if let Some(next) = tbs.next_update
        && now > next.to_unix_duration().as_secs()
    {
        return Err(format!("the CRL expired on {}", next.to_date_time()));
    }
    let exts = tbs.crl_extensions.as_deref().unwrap_or(&[]);
    let mut number = false;
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|o| o.extn_id == e.extn_id) {
            return Err(format!("CRL extension {} appears twice", e.extn_id));
        }
        if e.extn_id == oids::ID_CE_CRL_NUMBER {
            if e.critical {
                return Err("the CRL's cRLNumber is critical".into());
            }
            number = true;
        } else if e.extn_id == oids::ID_CE_DELTA_CRL_INDICATOR {
            return Err("delta CRLs are not supported".into());
        } else if e.critical {
            return Err(format!(
                "the CRL has a critical extension {} that is not understood",
                e.extn_id
            ));
        }
    }
    if !number {
        return Err("the CRL has no cRLNumber".into());
    }
    for entry in tbs.revoked_certificates.as_deref().unwrap_or(&[]) {
        if let Some(e) = entry
            .crl_entry_extensions
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .find(|e| e.critical)
        {
            return Err(format!(
                "a CRL entry has a critical extension {} that is not understood",
                e.extn_id
            ));
        }
    }
    Ok(())
}

fn reason_text(r: CrlReason) -> &'static str {
    match r {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "key compromise",
        CrlReason::CaCompromise => "CA compromise",
        CrlReason::AffiliationChanged => "affiliation changed",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessation of operation",
        CrlReason::CertificateHold => "certificate hold",
        CrlReason::RemoveFromCRL => "remove from CRL",
        CrlReason::PrivilegeWithdrawn => "privilege withdrawn",
        CrlReason::AaCompromise => "AA compromise",
    }
}

/// Revocation of `cert` by `issuer`.
pub fn check(
    cert: &Certificate,
    issuer: &Certificate,
    crls: &dyn CrlSource,
    policy: &Policy,
) -> Result<(), Refusal> {
    if policy.revocation == RevocationMode::Disabled {
        return Ok(());
    }
    let issuer_text = subject_text(issuer);
    let unavailable = |why: String| match policy.revocation {
        RevocationMode::Required => Err(Refusal::CrlUnavailable {
            issuer: issuer_text.clone(),
            why,
        }),
        _ => {
            tracing::debug!(issuer = %issuer_text, %why, "no CRL: revocation not checked");
            Ok(())
        }
    };
    let crl = match crls.crl(issuer, &distribution_points(cert)) {
        Ok(Some(crl)) => crl,
        Ok(None) => return unavailable("no CRL".into()),
        Err(why) => return unavailable(why),
    };
    check_crl(&crl, issuer, policy).map_err(|why| Refusal::CrlUnavailable {
        issuer: issuer_text.clone(),
        why,
    })?;
    let serial = cert.tbs_certificate().serial_number();
    for entry in crl
        .tbs_cert_list
        .revoked_certificates
        .as_deref()
        .unwrap_or(&[])
    {
        if entry.serial_number.as_bytes() != serial.as_bytes() {
            continue;
        }
        let reason = entry
            .crl_entry_extensions
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .find(|e| e.extn_id == oids::ID_CE_CRL_REASONS)
            .map(|e| {
                use der::Decode;
                CrlReason::from_der(e.extn_value.as_bytes())
            })
            .transpose()
            .map_err(|e| Refusal::CrlUnavailable {
                issuer: issuer_text.clone(),
                why: format!("a CRL entry's reason: {e}"),
            })?
            .unwrap_or(CrlReason::Unspecified);
        if reason == CrlReason::RemoveFromCRL {
            continue;
        }
        return Err(Refusal::Revoked {
            subject: subject_text(cert),
            serial: pki::info::serial_hex(serial.as_bytes()),
            reason: reason_text(reason).into(),
        });
    }
    Ok(())
}

/// Revocation of every certificate of `path` (peer first, anchor last)
/// below the anchor.
pub(super) fn check_path(
    path: &[&Certificate],
    crls: &dyn CrlSource,
    policy: &Policy,
) -> Result<(), Refusal> {
    for pair in path.windows(2) {
        check(pair[0], pair[1], crls, policy)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::super::testutil::{DAY, NOW, Pki, crl};
    use super::super::{Chain, validate};
    use super::*;

    fn run(pki: &Pki, crls: Vec<CertificateList>, mode: RevocationMode) -> Result<Chain, Refusal> {
        let mut p = Policy::new(Duration::from_secs(NOW));
        p.revocation = mode;
        validate(
            &pki.peer,
            std::slice::from_ref(&pki.ica),
            std::slice::from_ref(&pki.root),
            &StaticCrls(crls),
            &p,
        )
    }

    #[test]
    fn revoked_peer() {
        let pki = Pki::new();
        let serial = pki.peer.tbs_certificate().serial_number().clone();
        let crls = vec![
            crl(&pki.root, &pki.root_key, &[]),
            crl(
                &pki.ica,
                &pki.ica_key,
                &[(&serial, CrlReason::KeyCompromise)],
            ),
        ];
        for mode in [RevocationMode::Required, RevocationMode::BestEffort] {
            let e = run(&pki, crls.clone(), mode).unwrap_err();
            assert!(
                matches!(e, Refusal::Revoked { ref reason, .. } if reason == "key compromise"),
                "{e}"
            );
        }
        run(&pki, crls, RevocationMode::Disabled).unwrap();
    }

    #[test]
    fn not_on_the_crl() {
        let pki = Pki::new();
        let other = pki.ica.tbs_certificate().serial_number().clone();
        let crls = vec![
            crl(&pki.root, &pki.root_key, &[]),
            crl(&pki.ica, &pki.ica_key, &[(&other, CrlReason::Superseded)]),
        ];
        run(&pki, crls, RevocationMode::Required).unwrap();
    }

    #[test]
    fn crl_unavailable() {
        let pki = Pki::new();
        let e = run(&pki, vec![], RevocationMode::Required).unwrap_err();
        assert!(matches!(e, Refusal::CrlUnavailable { .. }), "{e}");
        run(&pki, vec![], RevocationMode::BestEffort).unwrap();
        // Only the root's CRL: the ICA's is missing.
        let e = run(
            &pki,
            vec![crl(&pki.root, &pki.root_key, &[])],
            RevocationMode::Required,
        )
        .unwrap_err();
        assert!(
            matches!(e, Refusal::CrlUnavailable { ref issuer, .. } if issuer.contains("Test ICA")),
            "{e}"
        );
    }

    #[test]
    fn crl_must_check_out() {
        let pki = Pki::new();
        // A CRL naming the ICA but signed by another key is not picked.
        let forged = crl(&pki.ica, &pki.root_key, &[]);
        assert_eq!(
            StaticCrls(vec![forged.clone()]).crl(&pki.ica, &[]).unwrap(),
            None
        );
        // Given anyway (a source that does not check), it refuses.
        struct Any(CertificateList);
        impl CrlSource for Any {
            fn crl(
                &self,
                _: &Certificate,
                _: &[String],
            ) -> Result<Option<CertificateList>, String> {
                Ok(Some(self.0.clone()))
            }
        }
        let mut p = Policy::new(Duration::from_secs(NOW));
        p.revocation = RevocationMode::BestEffort;
        let e = check(&pki.peer, &pki.ica, &Any(forged), &p).unwrap_err();
        assert!(matches!(e, Refusal::CrlUnavailable { .. }), "{e}");
        // An expired CRL.
        p.time = Duration::from_secs(NOW + 30 * DAY);
        let stale = crl(&pki.ica, &pki.ica_key, &[]);
        let e = check(&pki.peer, &pki.ica, &Any(stale), &p).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
    }
}
