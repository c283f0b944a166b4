//! The one TLS crypto provider of a process. The AWS clients ask rustls for ring by name; the
//! Stripe, SMTP and OpenAI clients take the process's default, and rustls cannot choose one by
//! itself when a build has both of its providers compiled in (the OpenAI client's reqwest
//! brings aws-lc). Each of those adapters installs ring as the default before it builds its
//! client: one provider, chosen here.

/// Makes ring the process's default TLS provider (a second call changes nothing).
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #[test]
    fn ring_is_the_default_once_installed() {
        super::install_default_provider();
        super::install_default_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
