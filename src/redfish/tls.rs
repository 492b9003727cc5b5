//! TLS to a BMC: a rustls certificate verifier that trusts exactly one certificate, named by
//! its SHA-256 fingerprint (BMCs have self-signed certificates, so there is no CA chain to
//! check), while still verifying the handshake signature against that certificate's key.
//! With no fingerprint yet (learn on first use) it takes the first certificate it sees and
//! then holds every later connection of the same client to it.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::pins::CertFingerprint;

#[derive(Debug, Default)]
struct State {
    /// The only certificate accepted; `None` until the first one is learnt.
    expected: Option<CertFingerprint>,
    /// The last certificate presented.
    seen: Option<CertFingerprint>,
    /// Set when a certificate other than `expected` was presented: (pinned, presented).
    mismatch: Option<(CertFingerprint, CertFingerprint)>,
}

/// The verifier; shared between the rustls config and the client, which reads what it saw.
#[derive(Debug)]
pub(crate) struct PinVerifier {
    state: Mutex<State>,
    provider: Arc<CryptoProvider>,
}

impl PinVerifier {
    /// A verifier accepting only `expected`, or learning the first certificate if `None`.
    pub(crate) fn new(expected: Option<CertFingerprint>) -> PinVerifier {
        PinVerifier {
            state: Mutex::new(State {
                expected,
                ..State::default()
            }),
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        }
    }

    /// The rustls client configuration using this verifier.
    pub(crate) fn client_config(self: &Arc<Self>) -> Result<rustls::ClientConfig, rustls::Error> {
        Ok(
            rustls::ClientConfig::builder_with_provider(self.provider.clone())
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(self.clone())
                .with_no_client_auth(),
        )
    }

    /// The fingerprint of the last certificate presented.
    pub(crate) fn seen(&self) -> Option<CertFingerprint> {
        self.state.lock().ok()?.seen
    }

    /// (pinned, presented) if a certificate was refused for not matching the pin.
    pub(crate) fn mismatch(&self) -> Option<(CertFingerprint, CertFingerprint)> {
        self.state.lock().ok()?.mismatch
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = CertFingerprint::of_der(end_entity);
        let mut st = self
            .state
            .lock()
            .map_err(|_| rustls::Error::General("certificate pin state poisoned".into()))?;
        st.seen = Some(presented);
        match st.expected {
            None => {
                st.expected = Some(presented);
                Ok(ServerCertVerified::assertion())
            }
            Some(pinned) if pinned == presented => Ok(ServerCertVerified::assertion()),
            Some(pinned) => {
                st.mismatch = Some((pinned, presented));
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
