//! TLS settings of our HTTP clients (feeds, article pages, webhooks,
//! `storywatch status`): the system's trust store, read when the first
//! https server is met rather than when a client is built.
//!
//! reqwest's own rustls setup makes a rustls-platform-verifier when the
//! client is built, and that reads and parses every certificate of the
//! system store (`/etc/ssl/certs`): 6 % of the instructions of a
//! `storywatch once` whose 1,000 feeds all answer 304 over plain http
//! (BENCHMARKS.md, issue 18, ninth session), paid by every run whether or
//! not it meets https. [`client_config`] is reqwest's setup with the same
//! verifier made on first use: what is checked, and against which roots,
//! does not change.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

/// A rustls client config as reqwest builds it by default (aws-lc-rs, TLS
/// 1.2 and 1.3, SNI, ALPN `h2` then `http/1.1`), verifying servers with
/// the platform verifier, made when first needed.
pub fn client_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(LazyPlatformVerifier {
        provider: Arc::clone(&provider),
        verifier: OnceLock::new(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs offers TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// rustls-platform-verifier's verifier, made (the system store read) on
/// the first certificate to check. A store that cannot be read fails that
/// handshake and every later one with the same error, as it would have
/// failed the client's build.
#[derive(Debug)]
struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<Verifier, rustls::Error>>,
}

impl LazyPlatformVerifier {
    fn get(&self) -> Result<&Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| Verifier::new(Arc::clone(&self.provider)))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    /// Asked when the handshake starts: the provider's schemes, which is
    /// what the platform verifier answers, without reading the store.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lazy() -> LazyPlatformVerifier {
        LazyPlatformVerifier {
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            verifier: OnceLock::new(),
        }
    }

    /// The store is read on the first certificate, not before, and the
    /// verdicts are the platform verifier's: a self-signed certificate is
    /// refused as an unknown issuer.
    #[test]
    fn the_platform_verifier_is_made_on_first_use_and_decides() {
        let lazy = lazy();
        let eager = Verifier::new(Arc::clone(&lazy.provider)).unwrap();
        assert_eq!(
            lazy.supported_verify_schemes(),
            eager.supported_verify_schemes()
        );
        assert!(
            lazy.verifier.get().is_none(),
            "nothing read before a handshake"
        );

        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["feeds.example".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = CertificateDer::from(cert.der().to_vec());
        let name = ServerName::try_from("feeds.example").unwrap();
        let verdict = |v: &dyn ServerCertVerifier| {
            v.verify_server_cert(&der, &[], &name, &[], UnixTime::now())
                .map(|_| ())
        };
        let refused = verdict(&lazy);
        assert!(lazy.verifier.get().is_some(), "made by the first check");
        assert_eq!(refused, verdict(&eager));
        assert!(
            matches!(
                refused,
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                ))
            ),
            "{refused:?}"
        );
    }
}
