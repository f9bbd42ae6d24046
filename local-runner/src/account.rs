//! The local account: its id and the credentials the emulators accept.
//!
//! In the cloud a RAM user's access key pairs and the temporary credentials
//! STS issues for a role are good at every service. Here one [`KeyRing`]
//! holds both: the OSS emulator checks its requests against it and issues
//! the functions' temporary credentials from it, and the workflow API checks
//! its signatures against the same ring.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use vpf_core::credentials::Credentials;

use crate::lock::lock;

/// The local account id: `${config('AccountID')}` resolves to it unless set,
/// and the OSS emulator owns its buckets in its name.
pub const LOCAL_ACCOUNT_ID: &str = "1234567890123456";

/// Issued temporary credentials are forgotten this long after they expire,
/// so the ring stays small.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// One access key the account knows.
#[derive(Clone)]
pub struct Key {
    pub secret: String,
    /// Temporary credentials carry a token that must come with every request.
    pub token: Option<String>,
    /// When temporary credentials stop working; `None`: never.
    pub expires: Option<SystemTime>,
}

/// The account's access keys: long-term pairs and issued temporary
/// credentials. Clones share one ring.
#[derive(Clone, Default)]
pub struct KeyRing {
    inner: Arc<Mutex<Ring>>,
}

#[derive(Default)]
struct Ring {
    keys: HashMap<String, Key>,
    /// How far the ring's clock runs ahead of the system's (see
    /// [`KeyRing::advance_clock`]).
    clock_offset: Duration,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.debug_struct("KeyRing")
            .field("keys", &lock(&self.inner).keys.len())
            .finish()
    }
}

impl KeyRing {
    pub fn new() -> KeyRing {
        KeyRing::default()
    }

    /// Accept `creds` from now on, without expiry. With a security token
    /// they are temporary credentials issued elsewhere: every request must
    /// carry the token.
    pub fn add(&self, creds: &Credentials) {
        lock(&self.inner).keys.insert(
            creds.access_key_id.clone(),
            Key {
                secret: creds.access_key_secret.clone(),
                token: creds.security_token.clone(),
                expires: None,
            },
        );
    }

    pub fn with(self, creds: Credentials) -> KeyRing {
        self.add(&creds);
        self
    }

    /// The account's clock: expiry is judged by it, and the OSS emulator
    /// dates requests by it.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + lock(&self.inner).clock_offset
    }

    /// Move the clock forward (expiry tests without sleeping).
    pub fn advance_clock(&self, by: Duration) {
        lock(&self.inner).clock_offset += by;
    }

    /// New temporary credentials (id `STS.…`, secret, security token), valid
    /// for `ttl` from now, as STS issues a role's keys.
    pub fn issue(&self, ttl: Duration) -> Credentials {
        let now = self.now();
        let mut ring = lock(&self.inner);
        ring.keys
            .retain(|_, k| k.expires.is_none_or(|t| t + FORGET_AFTER > now));
        let id = format!("STS.{}", random_token(12));
        let creds = Credentials::new(id.clone(), random_token(30)).with_token(random_token(64));
        ring.keys.insert(
            id,
            Key {
                secret: creds.access_key_secret.clone(),
                token: creds.security_token.clone(),
                expires: Some(now + ttl),
            },
        );
        creds
    }

    /// Every temporary credential issued so far (expired ones too, until
    /// forgotten an hour after expiry): for audits such as checking that
    /// none of them reached a log.
    pub fn issued(&self) -> Vec<Credentials> {
        lock(&self.inner)
            .keys
            .iter()
            .filter_map(|(id, k)| {
                k.expires?;
                let token = k.token.as_ref()?;
                Some(Credentials::new(id.as_str(), k.secret.clone()).with_token(token.clone()))
            })
            .collect()
    }

    /// Issued temporary credentials by access key id, while unexpired.
    pub fn temporary(&self, access_key_id: &str) -> Option<Credentials> {
        let key = self.key(access_key_id)?;
        key.expires?;
        self.usable(access_key_id, key)
    }

    /// Any credentials by access key id, while unexpired.
    pub fn credentials(&self, access_key_id: &str) -> Option<Credentials> {
        let key = self.key(access_key_id)?;
        self.usable(access_key_id, key)
    }

    /// What the ring holds for `access_key_id`, expired or not: callers
    /// that tell an expired key from an unknown one check `expires`.
    pub fn key(&self, access_key_id: &str) -> Option<Key> {
        lock(&self.inner).keys.get(access_key_id).cloned()
    }

    fn usable(&self, access_key_id: &str, key: Key) -> Option<Credentials> {
        if key.expires.is_some_and(|t| t <= self.now()) {
            return None;
        }
        let creds = Credentials::new(access_key_id, key.secret);
        Some(match key.token {
            Some(t) => creds.with_token(t),
            None => creds,
        })
    }
}

/// Whether a secret (signature, token) is the expected one, in time that
/// does not depend on where they differ.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Random URL-safe text of `n` characters (UUID v4 randomness: the OS RNG).
pub fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < n {
                out.push(ALPHABET[*b as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_credentials_expire_by_the_rings_clock() {
        let ring = KeyRing::new().with(Credentials::new("AK", "SK"));
        let c = ring.issue(Duration::from_secs(60));
        assert!(c.access_key_id.starts_with("STS."));
        assert_eq!(ring.temporary(&c.access_key_id), Some(c.clone()));
        assert_eq!(ring.credentials(&c.access_key_id), Some(c.clone()));
        assert_eq!(ring.issued(), vec![c.clone()]);
        assert_eq!(
            ring.temporary("AK"),
            None,
            "a long-term key is not temporary"
        );
        assert_eq!(ring.credentials("AK"), Some(Credentials::new("AK", "SK")));
        ring.advance_clock(Duration::from_secs(61));
        assert_eq!(ring.temporary(&c.access_key_id), None);
        assert_eq!(ring.credentials(&c.access_key_id), None);
        assert!(ring.key(&c.access_key_id).is_some(), "expired, still known");
        assert_eq!(ring.issued(), vec![c], "audits see expired ones too");
        assert!(!format!("{ring:?}").contains("SK"));
    }
}
