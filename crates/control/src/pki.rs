//! The internal CA that identifies workers to the control plane (mTLS), made by `mandat init`.
//! Its key lives with the control plane's other keys and nowhere else: a worker proves who it is
//! with a certificate this CA signed for its own key, which never leaves the worker (it sends a
//! certificate signing request). The control plane's internal listener gets a certificate from the
//! same CA at each start, so workers need to trust only the CA's certificate.
//!
//! A certificate alone is not enough: the worker must also be enrolled and enabled in the store
//! under that certificate's fingerprint, which is how `mandat worker disable` cuts it off.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate work failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{0}")]
    Invalid(String),
}

/// How long a worker certificate is valid. Short, so a lost one ages out; re-enrol to renew.
pub const WORKER_CERT_DAYS: i64 = 90;
/// The internal listener's certificate is made afresh every day (`SERVER_CERT_RENEW`); this bounds
/// a leaked one.
const SERVER_CERT_DAYS: i64 = 7;
/// How often a control process makes its internal listener a new certificate.
pub const SERVER_CERT_RENEW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The CA: its certificate (PEM) and signing key.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A new CA: (certificate PEM, private key PEM). Ten years; it signs only short-lived certificates.
pub fn create_ca(name: &str) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("mandat internal CA ({name})"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = time_now();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The sha256 of a certificate's DER, hex: how the store knows a worker's certificate.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A worker's own key and a signing request for it, made on the worker: (key PEM, CSR PEM).
pub fn worker_request(id: &str) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("worker:{id}"));
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key)?;
    Ok((key.serialize_pem(), csr.pem()?))
}

impl Ca {
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Self {
            cert_pem: cert_pem.to_string(),
            issuer,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The sha256 of the CA's certificate (DER), hex.
    pub fn fingerprint(&self) -> String {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map(|d| fingerprint(&d))
            .unwrap_or_default()
    }

    /// Sign a worker's request: (certificate PEM, fingerprint). Only the request's key is taken
    /// from it (its signature proves the worker holds that key); the name and uses are ours, so a
    /// request cannot ask for a server or CA certificate or for another worker's name.
    pub fn sign_worker(&self, id: &str, csr_pem: &str) -> Result<(String, String), PkiError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            PkiError::Invalid(format!(
                "not a valid certificate signing request ({e}); make one with `mandat worker key`"
            ))
        })?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("worker:{id}"));
        params.distinguished_name = dn;
        params.subject_alt_names =
            vec![SanType::URI(format!("urn:mandat:worker:{id}").try_into()?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = time_now();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(WORKER_CERT_DAYS);
        let cert = params.signed_by(&csr.public_key, &self.issuer)?;
        Ok((cert.pem(), fingerprint(cert.der())))
    }

    /// A certificate for the internal listener under `names` (host names or IP addresses):
    /// (certificate PEM, key PEM), kept in memory only.
    pub fn server_cert(&self, names: &[String]) -> Result<(String, String), PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "mandat control (internal)");
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = time_now();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(SERVER_CERT_DAYS);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_certificate_carries_our_name_not_the_requests() {
        let (ca_pem, ca_key) = create_ca("test").unwrap();
        let ca = Ca::from_pem(&ca_pem, &ca_key).unwrap();
        // The request asks to be "w-other"; the CA names it as enrolled.
        let (_key, csr) = worker_request("w-other").unwrap();
        let (cert, fp) = ca.sign_worker("w1", &csr).unwrap();
        let der = pem_der(&cert);
        assert_eq!(fingerprint(&der), fp);
        let text = String::from_utf8_lossy(&der);
        assert!(text.contains("worker:w1"));
        assert!(!text.contains("w-other"));
        assert!(ca.sign_worker("w1", "not a request").is_err());
    }

    fn pem_der(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).unwrap()
    }
}
