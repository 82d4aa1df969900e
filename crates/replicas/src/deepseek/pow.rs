//! DeepSeek's proof-of-work challenge, as strict as the site: one-time, and the answer checked.
//!
//! `POST /api/v0/chat/create_pow_challenge` issues `{algorithm, challenge, salt, difficulty,
//! signature, expire_at, expire_after, target_path}`. The page finds the `answer` in
//! `0..difficulty` whose hash of `"{salt}_{expire_at}_{answer}"` is `challenge` (hex), and sends
//! `x-ds-pow-response: base64(JSON {algorithm, challenge, salt, answer, signature, target_path})`
//! with the completion. A challenge is redeemed once: reusing it, or a wrong answer (which also
//! uses it up), is refused, like a missing header.
//!
//! The site hashes with `DeepSeekHashV1`, its own Keccak variant computed in WASM; the replica
//! keeps the algorithm name and the shape but hashes with SHA-256, which the page has built in
//! (`crypto.subtle`), so its `app.js` solves the challenge as the site's script does: by search.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ids;

/// The header the completion must carry.
pub(crate) const HEADER: &str = "x-ds-pow-response";
/// The algorithm name the site uses.
pub(crate) const ALGORITHM: &str = "DeepSeekHashV1";
/// The search space of an answer. The site's is larger (its hash runs in WASM); this keeps the
/// page's search to a few milliseconds.
const DIFFICULTY: u64 = 400;
/// How long a challenge stays valid, in milliseconds (the site's `expire_after`).
const EXPIRE_AFTER_MS: u64 = 300_000;

/// One issued, not yet redeemed challenge.
struct Issued {
    salt: String,
    signature: String,
    expire_at: u64,
    target_path: String,
}

/// The challenges of one replica.
#[derive(Default)]
pub(crate) struct Challenges {
    open: HashMap<String, Issued>,
    /// Redeemed challenges with their expiry (ms): once expired, a reuse is refused as expired
    /// anyway, so [`Challenges::forget_expired`] drops them and the set stays bounded.
    used: HashMap<String, u64>,
    /// Redemptions since the last [`Challenges::forget_expired`].
    since_sweep: usize,
}

/// Redemptions between two sweeps of expired challenges.
const SWEEP_EVERY: usize = 256;

/// The decoded `x-ds-pow-response` header.
#[derive(Deserialize)]
struct Answer {
    algorithm: String,
    challenge: String,
    salt: String,
    answer: u64,
    signature: String,
    target_path: String,
}

/// The hex hash of one candidate answer.
pub(crate) fn hash(salt: &str, expire_at: u64, answer: u64) -> String {
    let digest = Sha256::digest(format!("{salt}_{expire_at}_{answer}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Challenges {
    /// Drops the challenges, open or redeemed, that expired before `now_ms`: an answer to one is
    /// refused whatever the sets say (an unknown challenge), so remembering them only grows
    /// memory over a long run.
    fn forget_expired(&mut self, now_ms: u64) {
        self.open.retain(|_, issued| issued.expire_at >= now_ms);
        self.used.retain(|_, expire_at| *expire_at >= now_ms);
        self.since_sweep = 0;
    }

    /// Issues a challenge for `target_path`; returns the `challenge` object of the answer.
    pub(crate) fn issue(&mut self, target_path: &str) -> Value {
        let salt = ids::hex(20);
        let signature = ids::hex(64);
        let expire_at = ids::now_us() / 1000 + EXPIRE_AFTER_MS;
        let answer = u64::from_str_radix(&ids::hex(8), 16).unwrap_or(0) % DIFFICULTY;
        let challenge = hash(&salt, expire_at, answer);
        let value = json!({
            "algorithm": ALGORITHM,
            "challenge": challenge,
            "salt": salt,
            "difficulty": DIFFICULTY,
            "signature": signature,
            "expire_at": expire_at,
            "expire_after": EXPIRE_AFTER_MS,
            "target_path": target_path,
        });
        self.open.insert(
            challenge,
            Issued {
                salt,
                signature,
                expire_at,
                target_path: target_path.to_owned(),
            },
        );
        value
    }

    /// Redeems the header of a request to `path`; `Err` says what is wrong. The challenge is
    /// used up whether or not the answer is right.
    pub(crate) fn redeem(&mut self, header: Option<&[u8]>, path: &str) -> Result<(), String> {
        let raw = header.ok_or_else(|| format!("missing {HEADER} header"))?;
        let decoded = STANDARD
            .decode(raw)
            .map_err(|e| format!("{HEADER} is not base64: {e}"))?;
        let answer: Answer = serde_json::from_slice(&decoded)
            .map_err(|e| format!("{HEADER} is not a PoW answer: {e}"))?;
        if answer.algorithm != ALGORITHM {
            return Err(format!(
                "{HEADER} uses {}, not {ALGORITHM}",
                answer.algorithm
            ));
        }
        let Some(issued) = self.open.remove(&answer.challenge) else {
            return Err(if self.used.contains_key(&answer.challenge) {
                format!("{HEADER} reuses a challenge that was already redeemed")
            } else {
                format!("{HEADER} names a challenge this server did not issue")
            });
        };
        self.used.insert(answer.challenge.clone(), issued.expire_at);
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.forget_expired(ids::now_us() / 1000);
        }
        if issued.target_path != path || answer.target_path != path {
            return Err(format!(
                "{HEADER} is for {}, not {path}",
                answer.target_path
            ));
        }
        if answer.salt != issued.salt || answer.signature != issued.signature {
            return Err(format!(
                "{HEADER} does not match the challenge's salt and signature"
            ));
        }
        if ids::now_us() / 1000 > issued.expire_at {
            return Err(format!("{HEADER} answers an expired challenge"));
        }
        if answer.answer >= DIFFICULTY
            || hash(&issued.salt, issued.expire_at, answer.answer) != answer.challenge
        {
            return Err(format!("{HEADER} carries a wrong answer"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/api/v0/chat/completion";

    fn solve(c: &Value) -> String {
        let salt = c["salt"].as_str().unwrap();
        let expire_at = c["expire_at"].as_u64().unwrap();
        let answer = (0..DIFFICULTY)
            .find(|&a| hash(salt, expire_at, a) == c["challenge"])
            .unwrap();
        header(c, answer)
    }

    fn header(c: &Value, answer: u64) -> String {
        let v = json!({"algorithm": c["algorithm"], "challenge": c["challenge"], "salt": c["salt"],
                       "answer": answer, "signature": c["signature"],
                       "target_path": c["target_path"]});
        STANDARD.encode(v.to_string())
    }

    #[test]
    fn a_solved_challenge_is_accepted_once() {
        let mut c = Challenges::default();
        let issued = c.issue(PATH);
        let h = solve(&issued);
        assert_eq!(c.redeem(Some(h.as_bytes()), PATH), Ok(()));
        let again = c.redeem(Some(h.as_bytes()), PATH).unwrap_err();
        assert!(again.contains("already redeemed"), "{again}");
    }

    #[test]
    fn expired_challenges_are_forgotten() {
        let mut c = Challenges::default();
        let issued = c.issue(PATH);
        let expire_at = issued["expire_at"].as_u64().unwrap();
        c.forget_expired(expire_at);
        assert_eq!(c.open.len(), 1, "not yet expired");
        c.used.insert("old".into(), expire_at - 1);
        c.forget_expired(expire_at + 1);
        assert!(c.open.is_empty() && c.used.is_empty());
    }

    #[test]
    fn wrong_missing_or_misdirected_answers_are_refused() {
        let mut c = Challenges::default();
        assert!(c.redeem(None, PATH).unwrap_err().contains("missing"));

        let issued = c.issue(PATH);
        let salt = issued["salt"].as_str().unwrap();
        let expire_at = issued["expire_at"].as_u64().unwrap();
        let wrong = (0..DIFFICULTY)
            .find(|&a| hash(salt, expire_at, a) != issued["challenge"])
            .unwrap();
        let err = c.redeem(Some(header(&issued, wrong).as_bytes()), PATH);
        assert!(err.unwrap_err().contains("wrong answer"));
        // The failed attempt used the challenge up.
        let err = c.redeem(Some(solve(&issued).as_bytes()), PATH);
        assert!(err.unwrap_err().contains("already redeemed"));

        let issued = c.issue(PATH);
        let err = c.redeem(Some(solve(&issued).as_bytes()), "/api/v0/chat/regenerate");
        assert!(err.unwrap_err().contains("not /api/v0/chat/regenerate"));
    }
}
