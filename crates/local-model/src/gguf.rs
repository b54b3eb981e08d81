//! safetensors → GGUF for BERT encoders, in Rust: llama.cpp's own converter needs Python and
//! torch, and no BERT embedding model ships as GGUF on a reachable index.
//!
//! It follows llama.cpp's `BertModel` conversion (`convert_hf_to_gguf.py`), so that the file
//! loads as llama.cpp's `bert` architecture and tokenizes exactly as the reference `WordPiece`
//! tokenizer does:
//!
//! - the safetensors input is read from memory and distrusted: its header length is bounded,
//!   every tensor's byte range must lie inside the file and match its shape, every kept tensor
//!   must be `F32`, and a missing, extra or misshapen tensor is an error (never a panic);
//! - `embeddings.position_ids` and `pooler.*` are dropped (llama.cpp computes positions and pools
//!   itself); the other tensors are renamed to llama.cpp's names;
//! - 2-D weight matrices are stored as F16 (half the size, a little faster on the CPU), except the
//!   position and token-type embeddings, which llama.cpp's converter keeps F32 because they are
//!   added to F32 activations; vectors (biases, norms) stay F32;
//! - GGUF v3, tensor dimensions in ggml order (the reverse of the safetensors shape), tensor data
//!   aligned to 32 bytes;
//! - the vocabulary comes from `vocab.txt`: `##x` becomes `x`, `[BRACKETED]` tokens stay as they
//!   are, every other token gets the `SentencePiece` word marker U+2581 in front (llama.cpp's WPM
//!   tokenizer matches words that way).
//!
//! The output depends only on the input bytes (fixed tensor order, fixed metadata, exact
//! round-to-nearest-even f32 → f16), so its SHA-256 can be pinned.

use std::collections::BTreeMap;
use std::io::Write;

/// The largest safetensors header accepted. A real one is tens of kilobytes; the bound keeps a
/// hostile length field from allocating gigabytes.
const MAX_HEADER: u64 = 16 << 20;

/// GGUF's default data alignment, which llama.cpp assumes when the file does not set one.
const ALIGNMENT: u64 = 32;

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The safetensors file is malformed or not the expected model.
    #[error("malformed safetensors: {0}")]
    Safetensors(String),
    /// The vocabulary does not fit the model.
    #[error("malformed vocabulary: {0}")]
    Vocab(String),
    /// Writing the output failed.
    #[error("writing the GGUF file: {0}")]
    Io(#[from] std::io::Error),
}

fn bad(reason: impl Into<String>) -> ConvertError {
    ConvertError::Safetensors(reason.into())
}

/// The hyperparameters of a BERT encoder, which the tensors' shapes are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BertParams {
    /// The model's name, written as `general.name`.
    pub name: &'static str,
    /// Transformer layers.
    pub layers: usize,
    /// Hidden size (the embedding's dimensions).
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward size.
    pub ffn: usize,
    /// Positions the position embeddings cover.
    pub positions: usize,
    /// Token types (segments).
    pub token_types: usize,
    /// Vocabulary size.
    pub vocab: usize,
}

/// all-MiniLM-L6-v2's shape.
pub const MINILM_L6: BertParams = BertParams {
    name: "all-MiniLM-L6-v2",
    layers: 6,
    hidden: 384,
    heads: 12,
    ffn: 1536,
    positions: 512,
    token_types: 2,
    vocab: 30_522,
};

/// One tensor as the safetensors header describes it.
#[derive(Debug, serde::Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// A tensor found in the file: its shape and its bytes.
#[derive(Debug)]
struct SourceTensor<'a> {
    dtype: String,
    shape: Vec<u64>,
    bytes: &'a [u8],
}

/// Reads the header of a safetensors file held in memory, checking every offset.
fn parse_safetensors(file: &[u8]) -> Result<BTreeMap<String, SourceTensor<'_>>, ConvertError> {
    let len_bytes: [u8; 8] = file
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("shorter than its 8-byte header length"))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER {
        return Err(bad(format!(
            "a header of {header_len} bytes (at most {MAX_HEADER} accepted)"
        )));
    }
    let header_end = usize::try_from(header_len)
        .ok()
        .and_then(|n| n.checked_add(8))
        .filter(|&end| end <= file.len())
        .ok_or_else(|| {
            bad(format!(
                "the {header_len}-byte header runs past the file's end"
            ))
        })?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&file[8..header_end])
        .map_err(|e| bad(format!("the header is not a JSON object: {e}")))?;
    let data = &file[header_end..];
    let mut tensors = BTreeMap::new();
    for (name, value) in header {
        if name == "__metadata__" {
            continue;
        }
        let entry: HeaderEntry =
            serde_json::from_value(value).map_err(|e| bad(format!("tensor {name}: {e}")))?;
        let [begin, end] = entry.data_offsets;
        let bytes = usize::try_from(begin)
            .ok()
            .zip(usize::try_from(end).ok())
            .filter(|(b, e)| b <= e)
            .and_then(|(b, e)| data.get(b..e))
            .ok_or_else(|| {
                bad(format!(
                    "tensor {name}: bytes {begin}..{end} are not inside the {}-byte data",
                    data.len()
                ))
            })?;
        tensors.insert(
            name,
            SourceTensor {
                dtype: entry.dtype,
                shape: entry.shape,
                bytes,
            },
        );
    }
    Ok(tensors)
}

/// How a tensor is stored in the GGUF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    F32,
    F16,
}

impl Storage {
    /// The ggml type id.
    fn ggml_type(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
        }
    }

    fn bytes_per_element(self) -> u64 {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
        }
    }
}

/// A tensor to write: its GGUF name, shape in safetensors order, storage, and F32 source bytes.
struct OutTensor<'a> {
    name: String,
    shape: Vec<u64>,
    storage: Storage,
    source: &'a [u8],
}

impl OutTensor<'_> {
    fn elements(&self) -> u64 {
        self.shape.iter().product()
    }

    fn size(&self) -> u64 {
        self.elements() * self.storage.bytes_per_element()
    }
}

/// The tensors of a BERT encoder in the order they are written: (safetensors name, GGUF name,
/// shape in safetensors order).
fn bert_tensors(p: &BertParams) -> Vec<(String, String, Vec<u64>)> {
    let (h, f) = (p.hidden as u64, p.ffn as u64);
    let mut out = vec![
        (
            "embeddings.word_embeddings.weight".to_owned(),
            "token_embd.weight".to_owned(),
            vec![p.vocab as u64, h],
        ),
        (
            "embeddings.position_embeddings.weight".to_owned(),
            "position_embd.weight".to_owned(),
            vec![p.positions as u64, h],
        ),
        (
            "embeddings.token_type_embeddings.weight".to_owned(),
            "token_types.weight".to_owned(),
            vec![p.token_types as u64, h],
        ),
        (
            "embeddings.LayerNorm.weight".to_owned(),
            "token_embd_norm.weight".to_owned(),
            vec![h],
        ),
        (
            "embeddings.LayerNorm.bias".to_owned(),
            "token_embd_norm.bias".to_owned(),
            vec![h],
        ),
    ];
    for n in 0..p.layers {
        let src = format!("encoder.layer.{n}.");
        let dst = format!("blk.{n}.");
        let parts: [(&str, &str, Vec<u64>); 8] = [
            ("attention.self.query", "attn_q", vec![h, h]),
            ("attention.self.key", "attn_k", vec![h, h]),
            ("attention.self.value", "attn_v", vec![h, h]),
            ("attention.output.dense", "attn_output", vec![h, h]),
            ("attention.output.LayerNorm", "attn_output_norm", vec![h]),
            ("intermediate.dense", "ffn_up", vec![f, h]),
            ("output.dense", "ffn_down", vec![h, f]),
            ("output.LayerNorm", "layer_output_norm", vec![h]),
        ];
        for (from, to, shape) in parts {
            let bias = vec![shape[0]];
            out.push((
                format!("{src}{from}.weight"),
                format!("{dst}{to}.weight"),
                shape,
            ));
            out.push((format!("{src}{from}.bias"), format!("{dst}{to}.bias"), bias));
        }
    }
    out
}

/// Tensors of the checkpoint that llama.cpp does not use.
fn is_dropped(name: &str) -> bool {
    name == "embeddings.position_ids" || name.starts_with("pooler.")
}

/// The control tokens of BERT's `WordPiece` vocabulary, typed CONTROL (3); all others are NORMAL
/// (1).
const CONTROL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// A vocabulary token as llama.cpp's WPM tokenizer stores it.
fn gguf_token(token: &str) -> String {
    if token.starts_with('[') && token.ends_with(']') {
        token.to_owned()
    } else if let Some(rest) = token.strip_prefix("##") {
        rest.to_owned()
    } else {
        format!("\u{2581}{token}")
    }
}

/// The id of `token` in `vocab`, which the metadata names.
fn token_id(vocab: &[&str], token: &str) -> Result<u32, ConvertError> {
    vocab
        .iter()
        .position(|t| *t == token)
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(|| ConvertError::Vocab(format!("no {token} token")))
}

/// Converts a BERT checkpoint (`model.safetensors` bytes and `vocab.txt`) of shape `params` to
/// a GGUF file written to `out`, and returns the number of bytes written.
pub fn bert_to_gguf(
    safetensors: &[u8],
    vocab_txt: &str,
    params: &BertParams,
    out: &mut impl Write,
) -> Result<u64, ConvertError> {
    let mut source = parse_safetensors(safetensors)?;
    let mut tensors = Vec::new();
    for (from, to, shape) in bert_tensors(params) {
        let t = source
            .remove(&from)
            .ok_or_else(|| bad(format!("no tensor {from}")))?;
        if t.shape != shape {
            return Err(bad(format!(
                "tensor {from} has shape {:?}, expected {shape:?}",
                t.shape
            )));
        }
        if t.dtype != "F32" {
            return Err(bad(format!("tensor {from} is {}, expected F32", t.dtype)));
        }
        let elements: u64 = shape.iter().product();
        if t.bytes.len() as u64 != elements * 4 {
            return Err(bad(format!(
                "tensor {from} has {} bytes for {elements} F32 values",
                t.bytes.len()
            )));
        }
        let embedding_table = to == "position_embd.weight" || to == "token_types.weight";
        let storage = if shape.len() == 2 && !embedding_table {
            Storage::F16
        } else {
            Storage::F32
        };
        tensors.push(OutTensor {
            name: to,
            shape,
            storage,
            source: t.bytes,
        });
    }
    if let Some(extra) = source.keys().find(|n| !is_dropped(n)) {
        return Err(bad(format!("unexpected tensor {extra}")));
    }

    let kv = metadata(vocab_txt, params)?;

    let mut w = Counting { inner: out, n: 0 };
    w.write_all(b"GGUF")?;
    w.write_all(&3u32.to_le_bytes())?;
    w.write_all(&(tensors.len() as u64).to_le_bytes())?;
    w.write_all(&kv.count.to_le_bytes())?;
    w.write_all(&kv.bytes)?;
    let mut offset = 0u64;
    for t in &tensors {
        put_string(&mut w, &t.name)?;
        w.write_all(&count(t.shape.len())?.to_le_bytes())?;
        // ggml order: the fastest-varying dimension first.
        for d in t.shape.iter().rev() {
            w.write_all(&d.to_le_bytes())?;
        }
        w.write_all(&t.storage.ggml_type().to_le_bytes())?;
        w.write_all(&offset.to_le_bytes())?;
        offset = align(offset + t.size());
    }
    pad(&mut w)?;
    for t in &tensors {
        match t.storage {
            Storage::F32 => w.write_all(t.source)?,
            Storage::F16 => {
                let mut half = Vec::with_capacity(t.source.len() / 2);
                for b in t.source.chunks_exact(4) {
                    let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    half.extend_from_slice(&f32_to_f16(x).to_le_bytes());
                }
                w.write_all(&half)?;
            }
        }
        pad(&mut w)?;
    }
    Ok(w.n)
}

/// The model's hyperparameters and vocabulary as GGUF metadata, with the types llama.cpp's
/// loader checks.
fn metadata(vocab_txt: &str, params: &BertParams) -> Result<Kv, ConvertError> {
    let vocab: Vec<&str> = vocab_txt.lines().collect();
    if vocab.len() != params.vocab {
        return Err(ConvertError::Vocab(format!(
            "{} tokens, the model has {}",
            vocab.len(),
            params.vocab
        )));
    }
    let tokens: Vec<String> = vocab.iter().map(|t| gguf_token(t)).collect();
    let types: Vec<i32> = vocab
        .iter()
        .map(|t| if CONTROL_TOKENS.contains(t) { 3 } else { 1 })
        .collect();

    let mut kv = Kv::default();
    kv.string("general.architecture", "bert");
    kv.string("general.name", params.name);
    // 1 = LLAMA_FTYPE_MOSTLY_F16.
    kv.u32("general.file_type", 1);
    kv.u32("bert.block_count", count(params.layers)?);
    kv.u32("bert.context_length", count(params.positions)?);
    kv.u32("bert.embedding_length", count(params.hidden)?);
    kv.u32("bert.feed_forward_length", count(params.ffn)?);
    kv.u32("bert.attention.head_count", count(params.heads)?);
    kv.f32("bert.attention.layer_norm_epsilon", 1e-12);
    kv.bool("bert.attention.causal", false);
    // 1 = LLAMA_POOLING_TYPE_MEAN, what sentence-transformers' pooling config says.
    kv.u32("bert.pooling_type", 1);
    kv.u32(
        "tokenizer.ggml.token_type_count",
        count(params.token_types)?,
    );
    kv.string("tokenizer.ggml.model", "bert");
    kv.string("tokenizer.ggml.pre", "default");
    kv.strings("tokenizer.ggml.tokens", &tokens);
    kv.i32s("tokenizer.ggml.token_type", &types);
    kv.u32("tokenizer.ggml.bos_token_id", token_id(&vocab, "[CLS]")?);
    // llama.cpp's spelling.
    kv.u32(
        "tokenizer.ggml.seperator_token_id",
        token_id(&vocab, "[SEP]")?,
    );
    kv.u32(
        "tokenizer.ggml.unknown_token_id",
        token_id(&vocab, "[UNK]")?,
    );
    kv.u32(
        "tokenizer.ggml.padding_token_id",
        token_id(&vocab, "[PAD]")?,
    );
    kv.u32("tokenizer.ggml.mask_token_id", token_id(&vocab, "[MASK]")?);
    kv.bool("tokenizer.ggml.add_bos_token", true);
    kv.bool("tokenizer.ggml.add_eos_token", false);
    kv.bool("tokenizer.ggml.add_sep_token", true);
    Ok(kv)
}

fn count(n: usize) -> Result<u32, ConvertError> {
    u32::try_from(n).map_err(|_| bad(format!("{n} does not fit a GGUF u32")))
}

fn align(n: u64) -> u64 {
    n.div_ceil(ALIGNMENT) * ALIGNMENT
}

/// A writer that counts what went through, for the alignment padding.
struct Counting<'a, W: Write> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn pad<W: Write>(w: &mut Counting<'_, W>) -> std::io::Result<()> {
    use std::io::Read;
    let n = align(w.n) - w.n;
    std::io::copy(&mut std::io::repeat(0).take(n), w).map(drop)
}

fn put_string(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

/// GGUF metadata, serialised as it is added.
#[derive(Default)]
struct Kv {
    bytes: Vec<u8>,
    count: u64,
}

// GGUF value types.
const GGUF_UINT32: u32 = 4;
const GGUF_INT32: u32 = 5;
const GGUF_FLOAT32: u32 = 6;
const GGUF_BOOL: u32 = 7;
const GGUF_STRING: u32 = 8;
const GGUF_ARRAY: u32 = 9;

impl Kv {
    fn key(&mut self, key: &str, kind: u32) {
        self.count += 1;
        self.bytes
            .extend_from_slice(&(key.len() as u64).to_le_bytes());
        self.bytes.extend_from_slice(key.as_bytes());
        self.bytes.extend_from_slice(&kind.to_le_bytes());
    }

    fn push_string(&mut self, s: &str) {
        self.bytes
            .extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.bytes.extend_from_slice(s.as_bytes());
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key, GGUF_STRING);
        self.push_string(value);
    }

    fn u32(&mut self, key: &str, value: u32) {
        self.key(key, GGUF_UINT32);
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    fn f32(&mut self, key: &str, value: f32) {
        self.key(key, GGUF_FLOAT32);
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key(key, GGUF_BOOL);
        self.bytes.push(u8::from(value));
    }

    fn strings(&mut self, key: &str, values: &[String]) {
        self.key(key, GGUF_ARRAY);
        self.bytes.extend_from_slice(&GGUF_STRING.to_le_bytes());
        self.bytes
            .extend_from_slice(&(values.len() as u64).to_le_bytes());
        for v in values {
            self.push_string(v);
        }
    }

    fn i32s(&mut self, key: &str, values: &[i32]) {
        self.key(key, GGUF_ARRAY);
        self.bytes.extend_from_slice(&GGUF_INT32.to_le_bytes());
        self.bytes
            .extend_from_slice(&(values.len() as u64).to_le_bytes());
        for v in values {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// IEEE 754 binary16 of `x`, rounded to nearest, ties to even (what numpy's `astype(float16)`
/// and the F16C instructions do); overflow gives infinity, NaN stays a quiet NaN.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "bit manipulation: every value is masked or range-checked to fit 16 bits first"
)]
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x007f_ffff;
    if exp == 0xff {
        // Infinity, or NaN kept quiet and non-zero.
        let nan = if man == 0 {
            0
        } else {
            0x0200 | (man >> 13) as u16
        };
        return sign | 0x7c00 | nan;
    }
    // The exponent rebiased for binary16 (bias 15 instead of 127).
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // A binary16 subnormal (or zero): value = k · 2^-24 with k = m · 2^(e - 14), m being
        // the mantissa with its implicit bit.
        if e < -10 {
            // Less than half the smallest subnormal: zero.
            return sign;
        }
        let m = man | 0x0080_0000;
        let shift = (14 - e) as u32;
        let mut k = m >> shift;
        let rest = m & ((1 << shift) - 1);
        let half = 1 << (shift - 1);
        if rest > half || (rest == half && k & 1 == 1) {
            // May carry into the smallest normal, which is the right answer.
            k += 1;
        }
        return sign | k as u16;
    }
    let mut h = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) {
        // May carry into the exponent, up to infinity, which is the right answer.
        h += 1;
    }
    sign | h as u16
}

#[cfg(test)]
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    reason = "tiny synthetic tensors: indices and offsets are small"
)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounding() {
        let cases: [(f32, u16); 14] = [
            (0.0, 0x0000),
            (-0.0, 0x8000),
            (1.0, 0x3c00),
            (-2.0, 0xc000),
            (0.1, 0x2e66),
            (65504.0, 0x7bff),
            // Halfway between 65504 and 65536: ties to even, which is infinity.
            (65520.0, 0x7c00),
            (1e10, 0x7c00),
            (f32::INFINITY, 0x7c00),
            (f32::NEG_INFINITY, 0xfc00),
            // The smallest subnormal, and half of it (a tie, to even: zero).
            (5.960_464_5e-8, 0x0001),
            (2.980_232_2e-8, 0x0000),
            // 1 + 2^-11 is halfway between 1 and the next binary16: ties to even (down).
            (1.000_488_3, 0x3c00),
            // 1 + 3·2^-11 is halfway between 1+2^-10 and 1+2^-9: ties to even (up).
            (1.001_464_8, 0x3c02),
        ];
        for (x, want) in cases {
            assert_eq!(f32_to_f16(x), want, "{x:e}");
        }
        assert_eq!(f32_to_f16(f32::NAN) & 0x7c00, 0x7c00);
        assert_ne!(f32_to_f16(f32::NAN) & 0x03ff, 0);
        // The largest subnormal rounding up into the smallest normal.
        assert_eq!(f32_to_f16(6.1035e-5), 0x0400);
    }

    const TINY: BertParams = BertParams {
        name: "tiny",
        layers: 1,
        hidden: 4,
        heads: 2,
        ffn: 8,
        positions: 8,
        token_types: 2,
        vocab: 8,
    };

    const TINY_VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n[unused0]\n";

    /// A safetensors file of TINY's tensors (values 0.5, 1.5, … per tensor), plus the
    /// tensors llama.cpp drops, with an unaligned header to exercise unaligned reads.
    fn tiny_safetensors() -> Vec<u8> {
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
        let mut data: Vec<u8> = Vec::new();
        let mut all: Vec<(String, Vec<u64>, &str)> = bert_tensors(&TINY)
            .into_iter()
            .map(|(from, _, shape)| (from, shape, "F32"))
            .collect();
        all.push(("embeddings.position_ids".into(), vec![1, 8], "I64"));
        all.push(("pooler.dense.bias".into(), vec![4], "F32"));
        for (name, shape, dtype) in all {
            let n: u64 = shape.iter().product();
            let begin = data.len();
            for i in 0..n {
                if dtype == "I64" {
                    data.extend_from_slice(&(i as i64).to_le_bytes());
                } else {
                    data.extend_from_slice(&(i as f32 + 0.5).to_le_bytes());
                }
            }
            header.insert(
                name,
                serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, data.len()]}),
            );
        }
        let mut json = serde_json::to_vec(&header).unwrap();
        json.push(b' ');
        let mut file = (json.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(&json);
        file.extend_from_slice(&data);
        file
    }

    /// What the GGUF reader below finds.
    struct Parsed {
        kv: BTreeMap<String, (u32, Vec<u8>)>,
        /// name → (dims in ggml order, type, offset)
        tensors: Vec<(String, Vec<u64>, u32, u64)>,
        data_start: usize,
    }

    struct Cursor<'a> {
        b: &'a [u8],
        at: usize,
    }

    impl Cursor<'_> {
        fn take(&mut self, n: usize) -> Vec<u8> {
            let s = self.b[self.at..self.at + n].to_vec();
            self.at += n;
            s
        }

        fn u32(&mut self) -> u32 {
            u32::from_le_bytes(self.take(4).try_into().unwrap())
        }

        fn u64(&mut self) -> u64 {
            u64::from_le_bytes(self.take(8).try_into().unwrap())
        }

        fn string(&mut self) -> Vec<u8> {
            let n = self.u64() as usize;
            self.take(n)
        }

        /// A value's bytes; array elements each followed by a 0 byte.
        fn value(&mut self, kind: u32) -> Vec<u8> {
            match kind {
                GGUF_UINT32 | GGUF_INT32 | GGUF_FLOAT32 => self.take(4),
                GGUF_BOOL => self.take(1),
                GGUF_STRING => self.string(),
                GGUF_ARRAY => {
                    let inner = self.u32();
                    let n = self.u64();
                    let mut out = Vec::new();
                    for _ in 0..n {
                        out.extend(self.value(inner));
                        out.push(0);
                    }
                    out
                }
                other => panic!("type {other}"),
            }
        }
    }

    /// A minimal GGUF reader: enough to check what the converter wrote.
    fn read_gguf(b: &[u8]) -> Parsed {
        let mut c = Cursor { b, at: 0 };
        assert_eq!(c.take(4), b"GGUF");
        assert_eq!(c.u32(), 3);
        let n_tensors = c.u64();
        let n_kv = c.u64();
        let mut kv = BTreeMap::new();
        for _ in 0..n_kv {
            let key = String::from_utf8(c.string()).unwrap();
            let kind = c.u32();
            let v = c.value(kind);
            kv.insert(key, (kind, v));
        }
        let mut tensors = Vec::new();
        for _ in 0..n_tensors {
            let name = String::from_utf8(c.string()).unwrap();
            let dims = c.u32();
            let shape = (0..dims).map(|_| c.u64()).collect();
            let kind = c.u32();
            let offset = c.u64();
            tensors.push((name, shape, kind, offset));
        }
        Parsed {
            kv,
            tensors,
            data_start: c.at.div_ceil(32) * 32,
        }
    }

    #[test]
    fn converts_a_tiny_bert() {
        let st = tiny_safetensors();
        let mut out = Vec::new();
        let n = bert_to_gguf(&st, TINY_VOCAB, &TINY, &mut out).unwrap();
        assert_eq!(n, out.len() as u64);
        assert_eq!(out.len() % 32, 0);
        let g = read_gguf(&out);
        // 5 embedding tensors and 16 per layer; position_ids and the pooler dropped.
        assert_eq!(g.tensors.len(), 5 + 16);
        assert_eq!(g.kv["general.architecture"].1, b"bert");
        assert_eq!(g.kv["bert.embedding_length"].1, 4u32.to_le_bytes());
        assert_eq!(
            g.kv["tokenizer.ggml.seperator_token_id"].1,
            3u32.to_le_bytes()
        );
        let tokens = String::from_utf8(g.kv["tokenizer.ggml.tokens"].1.clone()).unwrap();
        assert_eq!(
            tokens.split('\0').collect::<Vec<_>>(),
            [
                "[PAD]",
                "[UNK]",
                "[CLS]",
                "[SEP]",
                "[MASK]",
                "\u{2581}the",
                "s",
                "[unused0]",
                ""
            ]
        );
        let types: Vec<i32> = g.kv["tokenizer.ggml.token_type"]
            .1
            .chunks(5)
            .map(|c| i32::from_le_bytes(c[..4].try_into().unwrap()))
            .collect();
        assert_eq!(types, [3, 3, 3, 3, 3, 1, 1, 1]);

        let by_name = |n: &str| g.tensors.iter().find(|t| t.0 == n).unwrap().clone();
        // Dimensions reversed: safetensors [vocab, hidden] is ggml [hidden, vocab].
        let embd = by_name("token_embd.weight");
        assert_eq!(embd.1, [4, 8]);
        assert_eq!(embd.2, 1, "matrices are F16");
        assert_eq!(by_name("blk.0.ffn_up.weight").1, [4, 8]);
        assert_eq!(by_name("blk.0.ffn_down.weight").1, [8, 4]);
        let pos = by_name("position_embd.weight");
        assert_eq!(
            (pos.1.as_slice(), pos.2),
            ([4u64, 8].as_slice(), 0),
            "kept F32"
        );
        let norm = by_name("blk.0.attn_output_norm.bias");
        assert_eq!((norm.1.as_slice(), norm.2), ([4u64].as_slice(), 0));
        for t in &g.tensors {
            assert_eq!(t.3 % 32, 0, "{} aligned", t.0);
        }
        // Values: F16 of 0.5, 1.5, … and F32 as they were.
        let at = g.data_start + embd.3 as usize;
        assert_eq!(&out[at..at + 4], [0x00, 0x38, 0x00, 0x3e]);
        let at = g.data_start + pos.3 as usize;
        assert_eq!(&out[at..at + 4], 0.5f32.to_le_bytes());

        // Deterministic.
        let mut again = Vec::new();
        bert_to_gguf(&st, TINY_VOCAB, &TINY, &mut again).unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn rejects_malformed_input() {
        let st = tiny_safetensors();
        let convert = |b: &[u8]| bert_to_gguf(b, TINY_VOCAB, &TINY, &mut Vec::new());
        // Truncated anywhere: in the length, the header or the data.
        for cut in [0, 5, 8, 40, st.len() - 1] {
            let err = convert(&st[..cut]).unwrap_err();
            assert!(matches!(err, ConvertError::Safetensors(_)), "{cut}: {err}");
        }
        // A hostile header length.
        let mut huge = st.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            convert(&huge)
                .unwrap_err()
                .to_string()
                .contains("header of")
        );
        // Not F32, out-of-range offsets, wrong shape, missing or extra tensors.
        let text = String::from_utf8_lossy(&st).into_owned();
        let edits: [(&str, &str); 4] = [
            (
                "\"dtype\":\"F32\",\"shape\":[4]",
                "\"dtype\":\"F16\",\"shape\":[4]",
            ),
            ("\"shape\":[8,4]", "\"shape\":[4,8]"),
            ("embeddings.LayerNorm.bias", "embeddings.LayerNorm.bian"),
            ("pooler.dense.bias", "pooler_dense.bias"),
        ];
        for (from, to) in edits {
            assert!(text.contains(from), "{from}");
            let edited = text.replacen(from, to, 1);
            let err = convert(edited.as_bytes()).unwrap_err();
            assert!(matches!(err, ConvertError::Safetensors(_)), "{to}: {err}");
        }
        // A vocabulary of the wrong size.
        let err = bert_to_gguf(&st, "[PAD]\n", &TINY, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, ConvertError::Vocab(_)), "{err}");
    }
}
