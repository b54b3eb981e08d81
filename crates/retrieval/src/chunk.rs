//! A text cut into windows of OpenAI's tokens (cl100k_base, by `tiktoken-rs`, whose BPE ranks
//! are compiled into the binary) with overlap, as OpenAI's `static` chunking strategy does
//! (`auto` is 800 tokens with 400 overlap).
//!
//! The text is tokenized once; windows are ranges of that one token sequence, so cutting 5M
//! tokens costs one tokenization plus a copy of each chunk's text. A window's edge that falls
//! inside a word moves back (or, for a window's start, either way) by at most [`SNAP_TOKENS`]
//! to the nearest word boundary, so a chunk never exceeds `max_tokens`.
//!
//! Memory: 8 bytes per token for the token ends (4 more per token while tokenizing), plus the
//! chunks' texts, which overlap: about `max / (max - overlap)` times the text (twice for
//! `auto`).

use assistd_core::search::NewChunk;
use std::sync::LazyLock;
use tiktoken_rs::CoreBPE;

/// The most tokens a window's edge moves to land between words rather than inside one.
pub const SNAP_TOKENS: usize = 8;

fn bpe() -> &'static CoreBPE {
    tiktoken_rs::cl100k_base_singleton()
}

/// The length in bytes of each token, by rank: computed once from the tokenizer's own table.
static TOKEN_BYTES: LazyLock<Vec<u32>> = LazyLock::new(|| {
    // cl100k_base's ordinary ranks are 0..100_256; special tokens never come out of
    // `encode_ordinary`.
    (0..100_256u32)
        .map(|r| {
            bpe()
                .decode_bytes(&[r])
                .map_or(0, |b| u32::try_from(b.len()).unwrap_or(u32::MAX))
        })
        .collect()
});

/// The number of cl100k_base tokens in `text` (special-token text counts as ordinary text).
pub fn count_tokens(text: &str) -> usize {
    bpe().encode_ordinary(text).len()
}

/// `text` cut into windows of at most `max_tokens` tokens, each starting `overlap_tokens`
/// before the previous one ends (see [`Tokenized::chunks`]).
pub fn chunk(text: &str, max_tokens: usize, overlap_tokens: usize) -> Vec<NewChunk> {
    Tokenized::new(text).chunks(max_tokens, overlap_tokens)
}

/// A text tokenized once: its token count, and windows of it.
#[derive(Debug, Clone)]
pub struct Tokenized<'a> {
    text: &'a str,
    /// The byte offset in `text` where each token ends.
    ends: Vec<usize>,
}

impl<'a> Tokenized<'a> {
    /// Tokenizes `text`.
    pub fn new(text: &'a str) -> Self {
        let table = &*TOKEN_BYTES;
        let mut at = 0usize;
        let ends = bpe()
            .encode_ordinary(text)
            .into_iter()
            .map(|r| {
                at += table.get(r as usize).map_or(0, |&n| n as usize);
                at
            })
            .collect();
        debug_assert_eq!(at, text.len(), "tokens cover the text exactly");
        Self { text, ends }
    }

    /// The number of tokens: compare with [`crate::MAX_FILE_TOKENS`] before chunking.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the text has no tokens (it is empty).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The text cut into windows of at most `max_tokens` tokens (at least 1), each starting
    /// `overlap_tokens` (at most `max_tokens - 1`) before the previous one ends, edges moved
    /// to word boundaries (see the module's doc). Chunks of whitespace only are left out.
    ///
    /// Each chunk's `start..end` are character offsets that slice exactly its `text` out of
    /// the whole text; its `tokens` is the number of the whole text's tokens it spans, which
    /// can differ by a token or two at its edges from the count of its text tokenized alone.
    pub fn chunks(&self, max_tokens: usize, overlap_tokens: usize) -> Vec<NewChunk> {
        let n = self.ends.len();
        let max = max_tokens.max(1);
        let overlap = overlap_tokens.min(max - 1);
        let mut out = Vec::new();
        let mut starts = CharCursor::new(self.text);
        let mut finishes = CharCursor::new(self.text);
        let mut s = 0usize;
        while s < n {
            let mut e = (s + max).min(n);
            if e < n {
                e = self.snap_end(s, e);
            }
            let (bs, be) = (self.byte_at(s), self.byte_at(e));
            let piece = &self.text[bs..be];
            if !piece.trim().is_empty() {
                out.push(NewChunk {
                    text: piece.to_owned(),
                    start: to_i64(starts.chars_to(bs)),
                    end: to_i64(finishes.chars_to(be)),
                    tokens: to_i64(e - s),
                });
            }
            if e == n {
                break;
            }
            s = if overlap == 0 {
                e
            } else {
                self.snap_start(e.saturating_sub(overlap).max(s + 1), s, e)
            };
        }
        out
    }

    /// The byte offset of token boundary `b` (before token `b`), moved back to a character
    /// boundary where a token ends inside a character.
    fn byte_at(&self, b: usize) -> usize {
        let mut at = if b == 0 { 0 } else { self.ends[b - 1] };
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    /// How good a place token boundary `b` is for a chunk edge: 2 between words, 1 between
    /// characters of a word, 0 inside a character.
    fn quality(&self, b: usize) -> u8 {
        if b == 0 || b >= self.ends.len() {
            return 2;
        }
        let at = self.ends[b - 1];
        if !self.text.is_char_boundary(at) {
            return 0;
        }
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let before = self.text[..at].chars().next_back().is_some_and(word);
        let after = self.text[at..].chars().next().is_some_and(word);
        if before && after { 1 } else { 2 }
    }

    /// Where a window `s..e` ends: `e`, or the best boundary at most [`SNAP_TOKENS`] before it
    /// (the window only shrinks).
    fn snap_end(&self, s: usize, e: usize) -> usize {
        let candidates = (0..=SNAP_TOKENS).map_while(|k| e.checked_sub(k).filter(|&b| b > s));
        best(candidates, |b| self.quality(b)).unwrap_or(e)
    }

    /// Where the window after `prev..end` starts: `at`, or the best boundary at most
    /// [`SNAP_TOKENS`] from it, strictly between `prev` and `end`, nearest first and earlier
    /// first (a little more overlap rather than less).
    fn snap_start(&self, at: usize, prev: usize, end: usize) -> usize {
        let candidates = std::iter::once(at)
            .chain(
                (1..=SNAP_TOKENS)
                    .flat_map(|k| [at.checked_sub(k), Some(at + k)])
                    .flatten(),
            )
            .filter(|&b| b > prev && b < end);
        best(candidates, |b| self.quality(b)).unwrap_or(at)
    }
}

/// The first of `candidates` (in order of preference) of the highest quality.
fn best(candidates: impl Iterator<Item = usize>, quality: impl Fn(usize) -> u8) -> Option<usize> {
    let mut found: Option<(usize, u8)> = None;
    for b in candidates {
        let q = quality(b);
        if q == 2 {
            return Some(b);
        }
        if found.is_none_or(|(_, fq)| q > fq) {
            found = Some((b, q));
        }
    }
    found.map(|(b, _)| b)
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Converts byte offsets to character offsets, walking only the distance from the last one.
struct CharCursor<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
}

impl<'a> CharCursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            byte: 0,
            chars: 0,
        }
    }

    /// The character offset of byte offset `byte` (a character boundary).
    fn chars_to(&mut self, byte: usize) -> usize {
        if byte >= self.byte {
            self.chars += self.text[self.byte..byte].chars().count();
        } else {
            self.chars -= self.text[byte..self.byte].chars().count();
        }
        self.byte = byte;
        self.chars
    }
}
