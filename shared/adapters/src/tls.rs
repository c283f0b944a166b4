//! The one TLS crypto provider of a process. The AWS and Stripe clients ask rustls for ring by
//! name; the SMTP and OpenAI clients take the process's default, which each of those adapters
//! installs before it builds its client: one provider, chosen here. aws-lc, rustls's other
//! provider, is not built at all (the OpenAI client's reqwest takes `rustls-no-provider`): it
//! added 1.3 MiB to each AI function and a C build to every clean build.

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

    #[test]
    fn no_dependency_brings_the_second_tls_provider() {
        let lock = include_str!("../../../Cargo.lock");
        assert!(
            !lock.contains("name = \"aws-lc-rs\""),
            "a dependency brings aws-lc-rs: cargo tree -i aws-lc-rs"
        );
    }
}
