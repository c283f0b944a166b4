//! Stripe's webhook signature: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<raw body>">[,v1=…]`. A delivery is genuine when some `v1` matches some current
//! secret (two during a rotation) and `t` is within the tolerance of now, so a captured
//! delivery cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance of {0} seconds")]
    OutsideTolerance(i64),
    #[error("no signature matches the webhook secret")]
    NoMatch,
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The header Stripe would send for `payload` signed with `secret` at `timestamp`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let digest = mac(secret, timestamp, payload).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Checks `header` over the raw `payload`; answers the signed timestamp.
pub fn verify(header: Option<&str>, payload: &[u8], secrets: &[String], now: i64, tolerance: i64) -> Result<i64, SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", sig)) => candidates.push(decode_hex(sig).ok_or(SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let genuine = secrets.iter().any(|secret| {
        candidates
            .iter()
            .any(|sig| mac(secret, timestamp, payload).verify_slice(sig).is_ok())
    });
    if !genuine {
        return Err(SignatureError::NoMatch);
    }
    // Checked after the MAC, so that an answer never tells an unsigned timestamp apart.
    if (now - timestamp).abs() > tolerance {
        return Err(SignatureError::OutsideTolerance(tolerance));
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    const NOW: i64 = 1_795_000_000;

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_fresh_signature_by_the_secret_is_accepted() {
        let header = sign(BODY, "whsec_a", NOW - 10);
        assert_eq!(verify(Some(&header), BODY, &secrets(&["whsec_a"]), NOW, 300), Ok(NOW - 10));
    }

    #[test]
    fn signatures_match_an_independent_hmac_sha256() {
        // The v1 below was computed with Python's hmac module over "<t>.<payload>".
        let payload = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
        let header = sign(payload, "whsec_test_secret", 1_614_556_800);
        assert_eq!(
            header,
            "t=1614556800,v1=fa0b5ccf7817f153d5f82b42b3e550fd47d0d5ed0eceffd9a2a99d68c4baca04"
        );
        assert!(verify(Some(&header), payload, &secrets(&["whsec_test_secret"]), 1_614_556_800, 300).is_ok());
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let header = sign(BODY, "whsec_a", NOW);
        let tampered = br#"{"id":"evt_1","type":"invoice.paiD"}"#;
        assert_eq!(
            verify(Some(&header), tampered, &secrets(&["whsec_a"]), NOW, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn an_old_or_future_signature_is_refused() {
        let old = sign(BODY, "whsec_a", NOW - 301);
        assert_eq!(
            verify(Some(&old), BODY, &secrets(&["whsec_a"]), NOW, 300),
            Err(SignatureError::OutsideTolerance(300))
        );
        let future = sign(BODY, "whsec_a", NOW + 301);
        assert_eq!(
            verify(Some(&future), BODY, &secrets(&["whsec_a"]), NOW, 300),
            Err(SignatureError::OutsideTolerance(300))
        );
    }

    #[test]
    fn a_signature_by_another_secret_is_refused() {
        let header = sign(BODY, "whsec_other", NOW);
        assert_eq!(
            verify(Some(&header), BODY, &secrets(&["whsec_a"]), NOW, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn during_a_rotation_either_secret_is_accepted() {
        let both = secrets(&["whsec_new", "whsec_old"]);
        for secret in ["whsec_new", "whsec_old"] {
            assert!(verify(Some(&sign(BODY, secret, NOW)), BODY, &both, NOW, 300).is_ok(), "{secret}");
        }
        // Stripe sends one v1 per live secret when the endpoint's secret is being rolled.
        let two = format!("{},v1={}", sign(BODY, "whsec_gone", NOW), &sign(BODY, "whsec_new", NOW)[16..]);
        assert!(verify(Some(&two), BODY, &secrets(&["whsec_new"]), NOW, 300).is_ok());
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let s = secrets(&["whsec_a"]);
        assert_eq!(verify(None, BODY, &s, NOW, 300), Err(SignatureError::Missing));
        assert_eq!(verify(Some(" "), BODY, &s, NOW, 300), Err(SignatureError::Missing));
        for bad in ["garbage", "t=abc,v1=00", "v1=00", "t=1", "t=1,v1=zz", "t=1,v1=abc"] {
            assert_eq!(verify(Some(bad), BODY, &s, NOW, 300), Err(SignatureError::Malformed), "{bad}");
        }
    }
}
