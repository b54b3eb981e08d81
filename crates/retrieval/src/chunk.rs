//! A text cut into windows of OpenAI's tokens (`cl100k_base`, by `tiktoken-rs`, whose BPE ranks
//! are compiled into the binary) with overlap, as OpenAI's `static` chunking strategy does
//! (`auto` is 800 tokens with 400 overlap).
//!
//! The text is tokenized once; windows are ranges of that one token sequence, so cutting 5M
//! tokens costs one tokenization plus a copy of each chunk's text. A window's edge that falls
//! inside a word moves back (or, for a window's start, either way) by at most [`SNAP_TOKENS`]
//! to the nearest word boundary, so a chunk never exceeds `max_tokens`.
//!
//! The text is tokenized in segments of about 64 KiB cut where the tokens are the same as the
//! whole text's (see `for_each_segment`), which bounds the tokenizer's regex work per call.
//!
//! Memory: 8 bytes per token for the token ends (40 MB for 5M tokens), plus the chunks' texts, which overlap: about `max / (max - overlap)` times the text (twice for
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

/// The number of `cl100k_base` tokens in `text` (special-token text counts as ordinary text).
pub fn count_tokens(text: &str) -> usize {
    let mut n = 0;
    for_each_segment(text, |_, ranks| n += ranks.len());
    n
}

/// Segments are cut at the first exact cut point past this many bytes...
const SEGMENT_BYTES: usize = 64 << 10;
/// ...or, where none comes, forced at this many (the tokenizer's regex engine gives up on a run
/// of about a million spaces, and `tiktoken-rs` then panics).
const MAX_SEGMENT_BYTES: usize = 256 << 10;

/// Tokenizes `text` segment by segment, calling `f` with each segment's byte offset and token
/// ranks, in order.
///
/// A segment ends after a line break followed by a letter: no piece of `cl100k_base`'s
/// pre-tokenizing regex spans such a point, so the tokens are those of the whole text. Only a
/// forced cut (no such point in [`MAX_SEGMENT_BYTES`], as in minified code) can change the
/// tokens next to it, by a token or so.
fn for_each_segment(text: &str, mut f: impl FnMut(usize, &[u32])) {
    let mut at = 0;
    while at < text.len() {
        let end = segment_end(text, at);
        tokenize_guarded(&text[at..end], at, &mut f);
        at = end;
    }
}

/// Where the segment starting at `at` ends.
fn segment_end(text: &str, at: usize) -> usize {
    if text.len() - at <= SEGMENT_BYTES {
        return text.len();
    }
    let bytes = text.as_bytes();
    let hard = floor_char_boundary(text, at + MAX_SEGMENT_BYTES.min(text.len() - at));
    let mut i = at + SEGMENT_BYTES;
    while i < hard {
        match memchr_newline(&bytes[i..hard]) {
            Some(k) => {
                let cut = i + k + 1;
                if text[cut..].chars().next().is_some_and(char::is_alphabetic) {
                    return cut;
                }
                i = cut;
            }
            None => break,
        }
    }
    hard
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Tokenizes `segment`; should the tokenizer panic on it all the same, its halves instead.
fn tokenize_guarded(segment: &str, offset: usize, f: &mut impl FnMut(usize, &[u32])) {
    if let Ok(ranks) = std::panic::catch_unwind(|| bpe().encode_ordinary(segment)) {
        f(offset, &ranks);
    } else {
        let mid = floor_char_boundary(segment, segment.len() / 2);
        if mid == 0 {
            return;
        }
        tokenize_guarded(&segment[..mid], offset, f);
        tokenize_guarded(&segment[mid..], offset + mid, f);
    }
}

/// The greatest character boundary of `text` at or before `i`.
fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
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
        let mut ends = Vec::with_capacity(text.len() / 4);
        for_each_segment(text, |offset, ranks| {
            debug_assert_eq!(at, offset, "segments are tokenized in order");
            ends.extend(ranks.iter().map(|&r| {
                at += table.get(r as usize).map_or(0, |&n| n as usize);
                at
            }));
        });
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
        floor_char_boundary(self.text, if b == 0 { 0 } else { self.ends[b - 1] })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic mix of words (ASCII, accented, CJK, emoji), punctuation and line breaks.
    fn sample(seed: u64, words: usize) -> String {
        const WORDS: &[&str] = &[
            "the",
            "retrieval",
            "of",
            "chunked",
            "documents",
            "naïve",
            "café",
            "über",
            "東京",
            "数据库",
            "🦀",
            "emoji🙂text",
            "x",
            "antidisestablishmentarianism",
            "2026",
            "a_b",
            "don't",
            "—",
            "(see",
            "note)",
            "3.14159",
            "λx.x",
        ];
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut out = String::new();
        for i in 0..words {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let w = WORDS[usize::try_from(state % WORDS.len() as u64).unwrap()];
            out.push_str(w);
            out.push(match (state >> 20) % 13 {
                0 => '\n',
                1 => ',',
                2 if i % 5 == 0 => '\t',
                _ => ' ',
            });
        }
        out
    }

    /// Characters `start..end` of a text given as its characters.
    fn char_slice(chars: &[char], start: i64, end: i64) -> String {
        let (s, e) = (
            usize::try_from(start).unwrap(),
            usize::try_from(end).unwrap(),
        );
        chars[s..e].iter().collect()
    }

    #[test]
    fn token_counts_are_cl100k_base() {
        // Reference counts from OpenAI's tiktoken for cl100k_base.
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("hello world"), 2);
        assert_eq!(count_tokens("tiktoken is great!"), 6);
        assert_eq!(bpe().encode_ordinary("hello world"), vec![15339, 1917]);
        let t = Tokenized::new("hello world");
        assert_eq!(t.len(), 2);
        assert!(!t.is_empty());
        assert!(Tokenized::new("").is_empty());
        assert!(chunk("", 800, 400).is_empty());
        assert!(chunk("   \n  ", 800, 400).is_empty());
    }

    #[test]
    fn segments_tokenize_as_the_whole_text() {
        let text = sample(3, 60_000);
        assert!(
            text.len() > 4 * SEGMENT_BYTES,
            "several segments: {}",
            text.len()
        );
        let whole = bpe().encode_ordinary(&text);
        let mut segmented = Vec::new();
        let mut cuts = 0;
        for_each_segment(&text, |_, ranks| {
            cuts += 1;
            segmented.extend_from_slice(ranks);
        });
        assert!(cuts > 1);
        assert_eq!(segmented, whole);
        assert_eq!(count_tokens(&text), whole.len());
        assert_eq!(Tokenized::new(&text).len(), whole.len());
    }

    #[test]
    fn a_short_text_is_one_chunk() {
        let text = "Short text, with ünïcode 東京.";
        let chunks = chunk(text, 800, 400);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, text);
        assert_eq!(chunks[0].start, 0);
        assert_eq!(chunks[0].end, i64::try_from(text.chars().count()).unwrap());
        assert_eq!(chunks[0].tokens, i64::try_from(count_tokens(text)).unwrap());
    }

    #[test]
    fn windows_slice_back_exactly_overlap_and_cover_the_text() {
        for seed in 0..6 {
            let text = sample(seed, 3_000);
            let total = count_tokens(&text);
            let chars: Vec<char> = text.chars().collect();
            for (max, overlap) in [
                (800, 400),
                (100, 0),
                (100, 50),
                (137, 20),
                (4096, 2048),
                (16, 8),
            ] {
                let chunks = chunk(&text, max, overlap);
                assert!(!chunks.is_empty());
                assert_eq!(chunks[0].start, 0, "the first chunk starts the text");
                assert_eq!(
                    chunks.last().unwrap().end,
                    i64::try_from(chars.len()).unwrap(),
                    "the last chunk ends it"
                );
                for (i, c) in chunks.iter().enumerate() {
                    let ctx = format!("seed {seed} max {max} overlap {overlap} chunk {i}");
                    assert_eq!(char_slice(&chars, c.start, c.end), c.text, "{ctx}");
                    assert!(
                        c.tokens >= 1 && c.tokens <= i64::try_from(max).unwrap(),
                        "{ctx}"
                    );
                    // Its own tokenization differs only at the edges.
                    let own = i64::try_from(count_tokens(&c.text)).unwrap();
                    assert!((own - c.tokens).abs() <= 3, "{ctx}: {own} vs {}", c.tokens);
                    if let Some(next) = chunks.get(i + 1) {
                        assert!(next.start > c.start, "{ctx}: progress");
                        assert!(next.start <= c.end, "{ctx}: no gap");
                        if overlap == 0 {
                            assert_eq!(next.start, c.end, "{ctx}: tiled");
                        } else {
                            // The shared text is about `overlap` tokens.
                            let shared = char_slice(&chars, next.start, c.end);
                            let n = count_tokens(&shared);
                            assert!(
                                n + SNAP_TOKENS + 2 >= overlap && n <= overlap + SNAP_TOKENS + 2,
                                "{ctx}: overlap {n}"
                            );
                        }
                        // Windows are full but for snapping to a word boundary.
                        assert!(
                            c.tokens + i64::try_from(SNAP_TOKENS).unwrap()
                                >= i64::try_from(max).unwrap(),
                            "{ctx}: {} tokens",
                            c.tokens
                        );
                    }
                }
                if overlap == 0 {
                    let sum: i64 = chunks.iter().map(|c| c.tokens).sum();
                    assert_eq!(
                        sum,
                        i64::try_from(total).unwrap(),
                        "tiling covers every token"
                    );
                }
            }
        }
    }

    #[test]
    fn edges_fall_between_words() {
        let text = sample(42, 5_000);
        let chunks = chunk(&text, 100, 30);
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let mut inside = 0;
        for c in &chunks[..chunks.len() - 1] {
            let end = usize::try_from(c.end).unwrap();
            let (before, after) = (text.chars().nth(end - 1).unwrap(), text.chars().nth(end));
            if word(before) && after.is_some_and(word) {
                inside += 1;
            }
        }
        // Only a word longer than the snapping distance can be cut (none in this sample but
        // runs of CJK, whose characters are all "word" characters).
        assert!(
            inside * 10 <= chunks.len(),
            "{inside} of {} ends inside a word",
            chunks.len()
        );
    }

    #[test]
    fn text_without_spaces_and_multibyte_runs() {
        // A long run of multi-byte characters: tokens end inside characters, edges do not.
        let text = "東京都🦀数据库".repeat(2_000);
        let chars: Vec<char> = text.chars().collect();
        for (max, overlap) in [(100, 50), (101, 0), (1, 0), (2, 1)] {
            let chunks = chunk(&text, max, overlap);
            for c in &chunks {
                assert_eq!(char_slice(&chars, c.start, c.end), c.text);
                assert!(c.tokens <= i64::try_from(max).unwrap());
            }
            assert_eq!(
                chunks.last().unwrap().end,
                i64::try_from(text.chars().count()).unwrap()
            );
        }
        let long_word = "a".repeat(50_000);
        let chars: Vec<char> = long_word.chars().collect();
        let chunks = chunk(&long_word, 100, 10);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert_eq!(char_slice(&chars, c.start, c.end), c.text);
        }
    }

    #[test]
    fn out_of_range_parameters_still_progress() {
        let text = sample(7, 200);
        for (max, overlap) in [(0, 0), (1, 5), (10, 10), (10, 1_000)] {
            let chunks = chunk(&text, max, overlap);
            assert!(!chunks.is_empty());
            for w in chunks.windows(2) {
                assert!(w[1].start > w[0].start);
            }
        }
    }
}

#[cfg(test)]
mod scale {
    use super::*;
    use std::time::Instant;

    /// About 5M tokens; run with `--release --ignored` to see the time.
    #[test]
    #[ignore = "measures time on 5M tokens; run in release"]
    fn five_million_tokens() {
        let para = "The vector store ingests files in the background, with leases like runs. \
                    Ünïcode wörds and 東京 keep their offsets. 12345 numbers, (punctuation)!\n";
        let text = para.repeat(5_000_000 / count_tokens(para) + 1);
        let t0 = Instant::now();
        let tok = Tokenized::new(&text);
        let t1 = Instant::now();
        let chunks = tok.chunks(800, 400);
        let t2 = Instant::now();
        eprintln!(
            "{} bytes, {} tokens: tokenize {:?}, chunk {:?}, {} chunks",
            text.len(),
            tok.len(),
            t1 - t0,
            t2 - t1,
            chunks.len()
        );
        assert!(tok.len() >= 5_000_000);
    }

    #[test]
    fn huge_whitespace_runs_tokenize() {
        for text in [
            " ".repeat(3_000_000) + "x",
            "\n".repeat(2_000_000) + "y  z",
            "a".repeat(2_000_000),
        ] {
            let chunks = chunk(&text, 800, 400);
            assert!(!chunks.is_empty());
        }
    }
}
