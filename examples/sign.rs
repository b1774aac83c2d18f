//! Signs the bundled example campaign with the example's DKIM key:
//! examples/campaign.unsigned.eml -> examples/campaign.eml (selector
//! mail2026 of example.com; its public key is in examples/zones).
//!
//! Run: `cargo run --example sign`

use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let key = PrivateKeyDer::from_pem_file(dir.join("keys/mail2026.pem")).expect("example key");
    let key = RsaKey::<Sha256>::from_key_der(key).expect("RSA key");
    let message = std::fs::read(dir.join("campaign.unsigned.eml")).expect("unsigned campaign");
    let signature = DkimSigner::from_key(key)
        .domain("example.com")
        .selector("mail2026")
        .headers([
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "Content-Type",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
        ])
        .sign(&message)
        .expect("signature");
    let mut signed = signature.to_header().into_bytes();
    signed.extend_from_slice(&message);
    std::fs::write(dir.join("campaign.eml"), signed).expect("write campaign.eml");
    println!("wrote examples/campaign.eml");
}
