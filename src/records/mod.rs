//! Syntaxes of the DNS records the checks read, as pure parsers.

pub mod dkim;
pub mod dmarc;
pub mod mtasts;
pub mod spf;
pub mod tlsa;
pub mod tlsrpt;
