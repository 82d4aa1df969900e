//! Token counts for what the sites do not count: usage estimates and the `max_tokens` limit.
//!
//! The sites' own tokenizers are unknown, so every count here is an estimate with OpenAI's
//! `cl100k_base` encoding (the `tiktoken-rs` crate). A site that reports its own counts in its
//! stream is believed instead. The encoding costs about 25 MiB and a fraction of a second
//! to load, so [`warm_up`] loads it on a thread of its own when the gateway starts, and a request
//! never waits for it unless it arrives in that first moment.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

/// The encoding, loaded once per process; `None` if it failed to load (then counts fall back
/// to a characters-per-token rule, logged once).
fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| match tiktoken_rs::cl100k_base() {
        Ok(bpe) => Some(bpe),
        Err(e) => {
            tracing::warn!(
                "the token counter could not load ({e}); token counts are estimated as 4 \
                 characters per token"
            );
            None
        }
    })
    .as_ref()
}

/// Loads the encoding in the background so the first request does not wait for it.
pub fn warm_up() {
    let _ = std::thread::Builder::new()
        .name("tokenizer-warm-up".into())
        .spawn(|| {
            bpe();
        });
}

/// The estimated number of tokens in `text`.
pub fn count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match bpe() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => text.chars().count().div_ceil(4) as u64,
    }
}

/// The longest start of `text` that holds at most `tokens` tokens (never cutting a character).
pub fn prefix(text: &str, tokens: u64) -> String {
    let Some(bpe) = bpe() else {
        return text.chars().take(tokens as usize * 4).collect();
    };
    let ids = bpe.encode_ordinary(text);
    if ids.len() as u64 <= tokens {
        return text.to_owned();
    }
    // A token may end inside a multi-byte character; decode the bytes and keep whole ones.
    let bytes: Vec<u8> = ids[..tokens as usize]
        .iter()
        .flat_map(|id| bpe.decode_bytes(&[*id]).unwrap_or_default())
        .collect();
    match std::str::from_utf8(&bytes) {
        Ok(s) => s.to_owned(),
        Err(e) => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_prefixes_agree() {
        let text = "Hello world, this is a test of the token counter. Привет 🙂 done.";
        let n = count(text);
        assert!(n > 10 && n < 40, "{n}");
        assert_eq!(prefix(text, n), text);
        let head = prefix(text, 3);
        assert!(text.starts_with(&head) && !head.is_empty() && head.len() < text.len());
        assert_eq!(count(&head), 3);
        assert_eq!(count(""), 0);
        // Cutting inside the emoji keeps whole characters only.
        for k in 0..n {
            let p = prefix(text, k);
            assert!(text.starts_with(&p), "{k}: {p:?}");
        }
    }
}
