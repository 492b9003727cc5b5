//! The two cipher suites the bastion speaks, and nothing weaker: 17 (RAKP-HMAC-SHA256,
//! HMAC-SHA256-128, AES-CBC-128) and 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128).

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

use super::IpmiError;

/// A MAC keyed with `key` over `parts`.
fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> M {
    let mut m = <M as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    parts.iter().for_each(|p| m.update(p));
    m
}

/// A cipher suite with authentication, integrity and confidentiality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// Suite 17: SHA-256 everywhere, AES-CBC-128.
    S17,
    /// Suite 3: SHA-1, AES-CBC-128.
    S3,
}

impl Suite {
    /// The suite with this number, if the bastion accepts it.
    pub fn from_id(id: u8) -> Result<Suite, IpmiError> {
        match id {
            17 => Ok(Suite::S17),
            3 => Ok(Suite::S3),
            other => Err(IpmiError::Config(format!(
                "cipher suite {other} is refused: only suites 17 and 3 (authentication, \
                 integrity and AES encryption) are allowed"
            ))),
        }
    }

    /// Its number.
    pub fn id(self) -> u8 {
        match self {
            Suite::S17 => 17,
            Suite::S3 => 3,
        }
    }

    /// (authentication, integrity, confidentiality) algorithm numbers.
    pub fn algorithms(self) -> (u8, u8, u8) {
        match self {
            Suite::S17 => (0x03, 0x04, 0x01),
            Suite::S3 => (0x01, 0x01, 0x01),
        }
    }

    /// HMAC of the suite's authentication algorithm.
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Suite::S17 => keyed::<Hmac<sha2::Sha256>>(key, parts)
                .finalize()
                .into_bytes()
                .to_vec(),
            Suite::S3 => keyed::<Hmac<sha1::Sha1>>(key, parts)
                .finalize()
                .into_bytes()
                .to_vec(),
        }
    }

    /// Whether `code` is the left part, of its own length, of [`Suite::hmac`] of `parts`;
    /// compared in constant time by the `hmac` crate. Callers cut `code` to the length the
    /// protocol fixes (an empty code never matches).
    pub fn verify(self, key: &[u8], parts: &[&[u8]], code: &[u8]) -> bool {
        match self {
            Suite::S17 => keyed::<Hmac<sha2::Sha256>>(key, parts).verify_truncated_left(code),
            Suite::S3 => keyed::<Hmac<sha1::Sha1>>(key, parts).verify_truncated_left(code),
        }
        .is_ok()
    }

    /// Length of the RAKP 4 integrity check value.
    pub fn icv_len(self) -> usize {
        match self {
            Suite::S17 => 16,
            Suite::S3 => 12,
        }
    }

    /// Length of the per-packet integrity code.
    pub fn code_len(self) -> usize {
        self.icv_len()
    }

    /// Length of the HMAC output.
    pub fn hash_len(self) -> usize {
        match self {
            Suite::S17 => 32,
            Suite::S3 => 20,
        }
    }
}

/// What both ends of a RAKP exchange know once RAKP 2 has arrived (IPMI v2.0 §13.31).
/// Every value is an HMAC of the suite, keyed with `kuid` (the user's password, zero
/// padded to 20 bytes) or with the session integrity key made from it.
#[derive(Clone)]
pub struct Rakp<'a> {
    /// The suite of the session.
    pub suite: Suite,
    /// The user's key, K_UID.
    pub kuid: &'a [u8],
    /// Our (the remote console's) session ID.
    pub our_sid: u32,
    /// The BMC's (the managed system's) session ID.
    pub bmc_sid: u32,
    /// Our random number, R_M (RAKP 1).
    pub rm: [u8; 16],
    /// The BMC's random number, R_C (RAKP 2).
    pub rc: [u8; 16],
    /// The BMC's GUID (RAKP 2).
    pub guid: [u8; 16],
    /// The requested role byte (privilege level and lookup bit).
    pub role: u8,
    /// The user name.
    pub user: &'a [u8],
}

impl Rakp<'_> {
    fn role_and_user(&self) -> [u8; 2] {
        [self.role, self.user.len() as u8]
    }

    /// Whether `code` is the BMC's RAKP 2 key exchange code, its proof that it knows the
    /// password (a wrong password shows here).
    pub fn verify_rakp2(&self, code: &[u8]) -> bool {
        !code.is_empty()
            && code.len() == self.suite.hash_len()
            && self.suite.verify(
                self.kuid,
                &[
                    &self.our_sid.to_le_bytes(),
                    &self.bmc_sid.to_le_bytes(),
                    &self.rm,
                    &self.rc,
                    &self.guid,
                    &self.role_and_user(),
                    self.user,
                ],
                code,
            )
    }

    /// The session integrity key, SIK.
    pub fn sik(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.suite.hmac(
            self.kuid,
            &[&self.rm, &self.rc, &self.role_and_user(), self.user],
        ))
    }

    /// RAKP 3's key exchange code, our proof that we know the password.
    pub fn rakp3_code(&self) -> Vec<u8> {
        self.suite.hmac(
            self.kuid,
            &[
                &self.rc,
                &self.our_sid.to_le_bytes(),
                &self.role_and_user(),
                self.user,
            ],
        )
    }

    /// Whether `icv` is RAKP 4's integrity check value under `sik`.
    pub fn verify_rakp4(&self, sik: &[u8], icv: &[u8]) -> bool {
        icv.len() == self.suite.icv_len()
            && self.suite.verify(
                sik,
                &[&self.rm, &self.bmc_sid.to_le_bytes(), &self.guid],
                icv,
            )
    }
}

/// The keys of an established session.
pub struct Keys {
    suite: Suite,
    k1: Zeroizing<Vec<u8>>,
    k2: Zeroizing<[u8; 16]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// K1 and K2 derived from the session integrity key.
    pub fn derive(suite: Suite, sik: &[u8]) -> Keys {
        let n = suite.hash_len();
        let k1 = Zeroizing::new(suite.hmac(sik, &[&vec![0x01; n]]));
        let k2_full = Zeroizing::new(suite.hmac(sik, &[&vec![0x02; n]]));
        let mut k2 = Zeroizing::new([0u8; 16]);
        k2.copy_from_slice(&k2_full[..16]);
        Keys { suite, k1, k2 }
    }

    /// The integrity code of a packet's signed bytes.
    pub fn mac(&self, signed: &[u8]) -> Vec<u8> {
        let mut code = self.suite.hmac(&self.k1, &[signed]);
        code.truncate(self.suite.code_len());
        code
    }

    /// Whether `code` is the integrity code of `signed` (constant-time compare).
    pub fn verify(&self, signed: &[u8], code: &[u8]) -> bool {
        code.len() == self.suite.code_len() && self.suite.verify(&self.k1, &[signed], code)
    }

    /// AES-CBC-128 with IPMI's padding (1, 2, 3, ... then the pad length); the IV leads.
    pub fn encrypt(&self, data: &[u8], iv: [u8; 16]) -> Vec<u8> {
        let mut buf = data.to_vec();
        let pad = (16 - (data.len() + 1) % 16) % 16;
        buf.extend(1..=pad as u8);
        buf.push(pad as u8);
        let n = buf.len();
        let enc = cbc::Encryptor::<aes::Aes128>::new(self.k2.as_ref().into(), &iv.into());
        enc.encrypt_padded_mut::<NoPadding>(&mut buf, n)
            .expect("buffer is a whole number of blocks");
        let mut out = iv.to_vec();
        out.extend(buf);
        out
    }

    /// Reverses [`Keys::encrypt`]; any bad length or padding is an error.
    pub fn decrypt(&self, payload: &[u8]) -> Result<Vec<u8>, IpmiError> {
        if payload.len() < 32 || !payload.len().is_multiple_of(16) {
            return Err(IpmiError::Malformed(format!(
                "encrypted payload of {} bytes",
                payload.len()
            )));
        }
        let (iv, body) = payload.split_at(16);
        let mut buf = body.to_vec();
        let iv: [u8; 16] = iv.try_into().expect("16 bytes");
        let dec = cbc::Decryptor::<aes::Aes128>::new(self.k2.as_ref().into(), &iv.into());
        dec.decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| IpmiError::Malformed("encrypted payload".into()))?;
        let pad = *buf.last().expect("not empty") as usize;
        if pad >= 16 || pad + 1 > buf.len() {
            return Err(IpmiError::Malformed("encryption padding".into()));
        }
        buf.truncate(buf.len() - pad - 1);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_suites_17_and_3_exist() {
        assert_eq!(Suite::from_id(17).unwrap(), Suite::S17);
        assert_eq!(Suite::from_id(3).unwrap(), Suite::S3);
        for weak in [0, 1, 2, 6, 8, 12, 15, 16] {
            let e = Suite::from_id(weak).unwrap_err().to_string();
            assert!(
                e.contains(&format!("cipher suite {weak} is refused")),
                "{e}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn garbled_ciphertext_is_an_error_not_a_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let keys = Keys::derive(Suite::S3, b"k");
            match keys.decrypt(&bytes) {
                // Only whole blocks after the IV can decrypt, to less than they were.
                Ok(plain) => proptest::prop_assert!(
                    bytes.len() >= 32
                        && bytes.len() % 16 == 0
                        && plain.len() < bytes.len() - 16,
                    "{} bytes decrypted to {}", bytes.len(), plain.len()
                ),
                Err(e) => proptest::prop_assert!(matches!(e, IpmiError::Malformed(_)), "{e}"),
            }
            proptest::prop_assert!(!keys.verify(&bytes, &bytes));
        }
    }

    /// One RAKP exchange's inputs and, per suite, what the spec makes of them. The
    /// expected values were computed apart from this code, with python3's `hmac` and
    /// `hashlib` (HMAC-SHA256 for suite 17, HMAC-SHA1 for suite 3) and
    /// `openssl enc -aes-128-cbc -nopad -K K2 -iv 07..07` for the ciphertext:
    /// K_UID = "secret-pw" zero-padded to 20 bytes, our session ID 0x0a0b0c0d, the
    /// BMC's 0x11223344, R_M = 00..0f, R_C = 10..1f, GUID = a123456789abcdef twice,
    /// role 0x14, user "admin"; the packet MAC is over "signed bytes", the ciphertext of
    /// "IPMI payload" with IPMI padding (01 02 03, pad length 03).
    struct Vector {
        suite: Suite,
        rakp2: &'static str,
        sik: &'static str,
        rakp3: &'static str,
        rakp4: &'static str,
        k1: &'static str,
        k2: &'static str,
        mac: &'static str,
        enc: &'static str,
    }

    const VECTORS: [Vector; 2] = [
        Vector {
            suite: Suite::S17,
            rakp2: "00eeaef3bbdb2f48ae7eacc408bb160680b21d5d34f1b85e874eb94e76b955a9",
            sik: "579540b156e0810f1bc97cab5a7a86229918f2738ce2c92dadd46265cbc31130",
            rakp3: "a24e788ecf96cf4e7c4ee99bddc5c71b306058b158df628d07a0c9d6ed3b5bd9",
            rakp4: "cc00b92dec32b22df6b455b51c2340c3",
            k1: "0546370471878d4110980d8858f84cd0186371d09bebce23fc86eaa75883c94b",
            k2: "25ad42a21bb7e9879ad2c2f0bcc903e7",
            mac: "ef1438bcd3bc9934de91ccab8bea4530",
            enc: "07070707070707070707070707070707c380ebcafa2ea1aba769ecc5679d11dd",
        },
        Vector {
            suite: Suite::S3,
            rakp2: "2252da689e87954f7436f5c3e89ae6336fc44960",
            sik: "4663ead5f8ac5f8b1df24aad44590e53891ab633",
            rakp3: "e9aed2cdfe9631aa752a402f15628b19ddb83c53",
            rakp4: "7a7f47909ab7e990c874403a",
            k1: "330dba372f7a7badfa65e0ebaec263c6d63b06ce",
            k2: "b53ee6a9b40934865b502b298192aa91",
            mac: "448b86e6fb3604aeaaffe3e8",
            enc: "070707070707070707070707070707079b681b83126add486a369c5c7b0564b1",
        },
    ];

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn rakp_and_session_keys_match_known_answers() {
        let mut kuid = b"secret-pw".to_vec();
        kuid.resize(20, 0);
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&unhex("a123456789abcdefa123456789abcdef"));
        for v in VECTORS {
            let rakp = Rakp {
                suite: v.suite,
                kuid: &kuid,
                our_sid: 0x0a0b0c0d,
                bmc_sid: 0x11223344,
                rm: std::array::from_fn(|i| i as u8),
                rc: std::array::from_fn(|i| 0x10 + i as u8),
                guid,
                role: 0x14,
                user: b"admin",
            };
            let suite = v.suite;
            assert!(rakp.verify_rakp2(&unhex(v.rakp2)), "{suite:?} RAKP 2");
            let mut wrong = unhex(v.rakp2);
            wrong[0] ^= 1;
            assert!(!rakp.verify_rakp2(&wrong), "{suite:?} altered RAKP 2");
            let sik = rakp.sik();
            assert_eq!(hex::encode(&*sik), v.sik, "{suite:?} SIK");
            assert_eq!(hex::encode(rakp.rakp3_code()), v.rakp3, "{suite:?} RAKP 3");
            assert!(rakp.verify_rakp4(&sik, &unhex(v.rakp4)), "{suite:?} RAKP 4");
            assert!(!rakp.verify_rakp4(&sik, &unhex(v.rakp3)[..suite.icv_len()]));
            let keys = Keys::derive(suite, &sik);
            assert_eq!(hex::encode(&*keys.k1), v.k1, "{suite:?} K1");
            assert_eq!(hex::encode(*keys.k2), v.k2, "{suite:?} K2");
            assert_eq!(
                hex::encode(keys.mac(b"signed bytes")),
                v.mac,
                "{suite:?} MAC"
            );
            let enc = keys.encrypt(b"IPMI payload", [7; 16]);
            assert_eq!(hex::encode(&enc), v.enc, "{suite:?} AES-CBC-128");
            assert_eq!(keys.decrypt(&unhex(v.enc)).unwrap(), b"IPMI payload");
        }
    }

    #[test]
    fn aes_round_trip_and_tampering() {
        for suite in [Suite::S17, Suite::S3] {
            let keys = Keys::derive(suite, b"session integrity key");
            for len in [0usize, 1, 15, 16, 17, 100] {
                let data: Vec<u8> = (0..len as u8).collect();
                let enc = keys.encrypt(&data, [7; 16]);
                assert_eq!(enc.len() % 16, 0);
                assert_eq!(keys.decrypt(&enc).unwrap(), data);
            }
            assert!(keys.decrypt(&[0; 20]).is_err());
            let code = keys.mac(b"signed bytes");
            assert_eq!(code.len(), suite.code_len());
            assert!(keys.verify(b"signed bytes", &code));
            assert!(!keys.verify(b"signed bytez", &code));
        }
    }
}
