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
