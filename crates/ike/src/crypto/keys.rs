//! SKEYSEED and the IKE SA keys (RFC 7296 2.14, 2.18), and the CHILD_SA
//! keying material (2.17).

use std::fmt;

use zeroize::Zeroizing;

use super::suite::{IkeSuite, Prf};

/// Takes the next `n` bytes of keying material (fewer if it runs out,
/// which the lengths the callers ask for never make happen).
fn take(rest: &mut &[u8], n: usize) -> Zeroizing<Vec<u8>> {
    let (head, tail) = rest.split_at(n.min(rest.len()));
    *rest = tail;
    Zeroizing::new(head.to_vec())
}

/// The keys of an IKE SA.
pub struct IkeKeys {
    /// The algorithms the keys are for.
    pub suite: IkeSuite,
    /// SK_d: the key CHILD_SA keying material is derived from.
    pub sk_d: Zeroizing<Vec<u8>>,
    /// SK_ai: the initiator's integrity key.
    pub sk_ai: Zeroizing<Vec<u8>>,
    /// SK_ar: the responder's integrity key.
    pub sk_ar: Zeroizing<Vec<u8>>,
    /// SK_ei: the initiator's encryption key.
    pub sk_ei: Zeroizing<Vec<u8>>,
    /// SK_er: the responder's encryption key.
    pub sk_er: Zeroizing<Vec<u8>>,
    /// SK_pi: the key of the initiator's AUTH payload.
    pub sk_pi: Zeroizing<Vec<u8>>,
    /// SK_pr: the key of the responder's AUTH payload.
    pub sk_pr: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeKeys")
            .field("suite", &self.suite)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl IkeKeys {
    /// RFC 7296 2.14: `SKEYSEED = prf(Ni | Nr, g^ir)`; `{SK_d | SK_ai |
    /// SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr |
    /// SPIi | SPIr)`. The HMAC PRFs take the whole `Ni | Nr` as their key.
    pub fn derive(
        suite: IkeSuite,
        ni: &[u8],
        nr: &[u8],
        g_ir: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> IkeKeys {
        let key = Zeroizing::new([ni, nr].concat());
        let skeyseed = suite.prf.prf(&key, g_ir);
        Self::from_skeyseed(suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    /// RFC 7296 2.18 (IKE SA rekey): `SKEYSEED = prf_old(SK_d (old), g^ir
    /// (new) | Ni | Nr)`, then the keys as in [`IkeKeys::derive`] with the
    /// new suite, nonces and SPIs.
    #[allow(clippy::too_many_arguments)]
    pub fn rekeyed(
        old_prf: Prf,
        old_sk_d: &[u8],
        suite: IkeSuite,
        ni: &[u8],
        nr: &[u8],
        g_ir: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> IkeKeys {
        let data = Zeroizing::new([g_ir, ni, nr].concat());
        let skeyseed = old_prf.prf(old_sk_d, &data);
        Self::from_skeyseed(suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    fn from_skeyseed(
        suite: IkeSuite,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> IkeKeys {
        let seed = [ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()].concat();
        let keymat = suite.prf.prf_plus(skeyseed, &seed, suite.keymat_len());
        let (p, a, e) = (
            suite.prf.key_len(),
            suite.integ.key_len(),
            suite.encr.key_len(),
        );
        let mut rest: &[u8] = &keymat;
        IkeKeys {
            suite,
            sk_d: take(&mut rest, p),
            sk_ai: take(&mut rest, a),
            sk_ar: take(&mut rest, a),
            sk_ei: take(&mut rest, e),
            sk_er: take(&mut rest, e),
            sk_pi: take(&mut rest, p),
            sk_pr: take(&mut rest, p),
        }
    }

    /// The sender's (encryption, integrity) keys: SK_ei/SK_ai for the
    /// initiator, SK_er/SK_ar for the responder.
    pub fn sender_keys(&self, sender_is_initiator: bool) -> (&[u8], &[u8]) {
        if sender_is_initiator {
            (&self.sk_ei, &self.sk_ai)
        } else {
            (&self.sk_er, &self.sk_ar)
        }
    }
}

/// CHILD_SA keying material (RFC 7296 2.17), in the order it is taken from
/// KEYMAT.
pub struct ChildKeys {
    /// Initiator-to-responder encryption key.
    pub ei: Zeroizing<Vec<u8>>,
    /// Initiator-to-responder integrity key.
    pub ai: Zeroizing<Vec<u8>>,
    /// Responder-to-initiator encryption key.
    pub er: Zeroizing<Vec<u8>>,
    /// Responder-to-initiator integrity key.
    pub ar: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ChildKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildKeys")
            .field("enc_len", &self.ei.len())
            .field("integ_len", &self.ai.len())
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// CHILD_SA keying material (RFC 7296 2.17): `KEYMAT = prf+(SK_d, [g^ir
/// (new) |] Ni | Nr)`, taken in order: initiator-to-responder encryption
/// key, i-to-r integrity key, responder-to-initiator encryption key, r-to-i
/// integrity key. `g_ir` is the new shared secret of a CREATE_CHILD_SA
/// exchange with a KE payload (PFS).
pub fn child_keys(
    prf: Prf,
    sk_d: &[u8],
    g_ir: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    enc_len: usize,
    integ_len: usize,
) -> ChildKeys {
    let seed = Zeroizing::new([g_ir.unwrap_or_default(), ni, nr].concat());
    let each = enc_len.saturating_add(integ_len);
    let keymat = prf.prf_plus(sk_d, &seed, each.saturating_mul(2));
    let mut rest: &[u8] = &keymat;
    ChildKeys {
        ei: take(&mut rest, enc_len),
        ai: take(&mut rest, integ_len),
        er: take(&mut rest, enc_len),
        ar: take(&mut rest, integ_len),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crypto::suite::{DhGroup, Encr, Integ};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn range(a: u8, b: u8) -> Vec<u8> {
        (a..b).collect()
    }

    const SUITE: IkeSuite = IkeSuite {
        encr: Encr::AesCbc128,
        prf: Prf::HmacSha256,
        integ: Integ::HmacSha256_128,
        dh: DhGroup::Ecp256,
    };

    // The expected values in these tests were computed once with Python's
    // hmac and hashlib modules (a direct transcription of RFC 7296 2.13,
    // 2.14, 2.17 and 2.18), independently of this code.

    #[test]
    fn derive_known_answer() {
        let k = IkeKeys::derive(
            SUITE,
            &range(0, 32),
            &range(32, 64),
            &range(64, 96),
            0x0102030405060708,
            0x1112131415161718,
        );
        let want = [
            (
                &k.sk_d,
                "0c26341d77313c227236f4aebf29182f0629dbe10e8ac56347f067a8defc22d5",
            ),
            (
                &k.sk_ai,
                "8748594d3353b3e04121026ebf49d4a4907e2ae4eb2a9831832397da89af6f79",
            ),
            (
                &k.sk_ar,
                "68b67ce3c70fad273ae0bbb34ee581341bbfd3303ab1d48166dde54604d0286b",
            ),
            (&k.sk_ei, "d75427665fbbb117f4d9f877d73606ca"),
            (&k.sk_er, "959fbdb34f746d24f8939191f8d3af60"),
            (
                &k.sk_pi,
                "fc816d7edfca54ae0e23cdb44dc9e8476619d587774b27a4824b6c47d2e341e5",
            ),
            (
                &k.sk_pr,
                "7237e03458c7e3e9ef8a55ca566e9ba411bc3eec87b56ee85d17b5e931c8851f",
            ),
        ];
        for (got, want) in want {
            assert_eq!(**got, hex(want));
        }
        let dbg = format!("{k:?}");
        assert!(dbg.contains("redacted") && !dbg.contains("12, 38"), "{dbg}");
        let (e, a) = k.sender_keys(true);
        assert_eq!((e, a), (&k.sk_ei[..], &k.sk_ai[..]));
        let (e, a) = k.sender_keys(false);
        assert_eq!((e, a), (&k.sk_er[..], &k.sk_ar[..]));
    }

    #[test]
    fn rekeyed_known_answer() {
        let old_sk_d = hex("0c26341d77313c227236f4aebf29182f0629dbe10e8ac56347f067a8defc22d5");
        let k = IkeKeys::rekeyed(
            Prf::HmacSha256,
            &old_sk_d,
            SUITE,
            &range(100, 116),
            &range(116, 132),
            &range(132, 164),
            0xa1a2a3a4a5a6a7a8,
            0xb1b2b3b4b5b6b7b8,
        );
        assert_eq!(
            *k.sk_d,
            hex("ba96dcf4abe68437cf699e06ae4d315a57da97c58ea69f51c42753d57b71ca1e")
        );
        assert_eq!(*k.sk_ei, hex("3f59de2c73187bfda0176cf10a61bbf4"));
        assert_eq!(*k.sk_er, hex("2bcb4abef4b70c1bb2047990177bd386"));
        assert_eq!(
            *k.sk_pr,
            hex("9625ae6cb35688261f6f7c6a8b147168c04a42ad3d9d0b6a1eb88c812f3b4e6f")
        );
    }

    #[test]
    fn child_keys_known_answer() {
        let sk_d = hex("0c26341d77313c227236f4aebf29182f0629dbe10e8ac56347f067a8defc22d5");
        let (ni, nr, g) = (range(100, 116), range(116, 132), range(132, 164));
        let c = child_keys(Prf::HmacSha256, &sk_d, None, &ni, &nr, 16, 20);
        assert_eq!(*c.ei, hex("8e691ed152387cd5ccf1d95bdf944760"));
        assert_eq!(*c.ai, hex("4d09699ebda6b9e67a267ba3dd72c0e4e943694e"));
        assert_eq!(*c.er, hex("f197c7616e4f9c2362090f773fb0f236"));
        assert_eq!(*c.ar, hex("706fef61ef5601629a003100b76587076df75038"));
        let c = child_keys(Prf::HmacSha256, &sk_d, Some(&g), &ni, &nr, 16, 20);
        assert_eq!(*c.ei, hex("23142021268941de745da2e2c92e1550"));
        assert_eq!(*c.ai, hex("738ee4273007a5504fc6bbe78123adac240f7092"));
        assert_eq!(*c.er, hex("45b9e90e231d59b3bbf665a8ace13653"));
        assert_eq!(*c.ar, hex("9cc6a32279d1be089bef0b478238e423ca43982f"));
        assert!(format!("{c:?}").contains("redacted"));
    }

    #[test]
    fn key_lengths_follow_the_suite() {
        let suite = IkeSuite {
            encr: Encr::AesCbc256,
            prf: Prf::HmacSha1,
            integ: Integ::HmacSha512_256,
            dh: DhGroup::Modp2048,
        };
        let k = IkeKeys::derive(suite, b"ni", b"nr", b"g", 1, 2);
        assert_eq!(k.sk_d.len(), 20);
        assert_eq!(k.sk_ai.len(), 64);
        assert_eq!(k.sk_er.len(), 32);
        assert_eq!(k.sk_pr.len(), 20);
        // Absurd lengths do not panic.
        let c = child_keys(Prf::HmacSha1, b"d", None, b"", b"", usize::MAX, 1);
        assert!(c.ar.is_empty());
    }
}
