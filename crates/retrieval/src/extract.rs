//! A file's text out of its bytes, for the formats OpenAI's `file_search` accepts: plain text and
//! source code, HTML, JSON, CSV, PDF, DOCX and PPTX.
//!
//! The format is chosen by the file name's extension, and by the bytes where that is cheap (a
//! `%PDF-` header, a zip archive's members). A file that cannot be read fails with an
//! [`ExtractError`] whose [`kind`](ExtractError::kind) is the `last_error.code` of the vector
//! store file; nothing here panics on user input or runs unbounded.

use assistd_wire::vector_stores::{VectorStoreFileError, VectorStoreFileErrorCode};
use std::sync::mpsc;
use std::time::Duration;

/// OpenAI's limit on the tokens of one file in a vector store: the caller fails a file whose
/// text has more. [`crate::Tokenized::len`] gives the count from the one tokenization that
/// chunking needs anyway; a text of at most this many bytes is under it without counting
/// (a token is at least one byte).
pub const MAX_FILE_TOKENS: usize = 5_000_000;

/// Why a file's text could not be extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractErrorKind {
    /// A format `file_search` does not read (an unknown extension, binary data).
    UnsupportedFile,
    /// A format it reads, but the file is damaged, empty, or too large.
    InvalidFile,
}

impl ExtractErrorKind {
    /// The `last_error.code` of the vector store file.
    pub fn code(self) -> VectorStoreFileErrorCode {
        match self {
            Self::UnsupportedFile => VectorStoreFileErrorCode::UnsupportedFile,
            Self::InvalidFile => VectorStoreFileErrorCode::InvalidFile,
        }
    }
}

/// A file whose text could not be extracted: its kind and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExtractError {
    /// Which `last_error.code` this is.
    pub kind: ExtractErrorKind,
    /// For people (it becomes `last_error.message`).
    pub message: String,
}

impl ExtractError {
    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self {
            kind: ExtractErrorKind::UnsupportedFile,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ExtractErrorKind::InvalidFile,
            message: message.into(),
        }
    }
}

impl From<ExtractError> for VectorStoreFileError {
    fn from(e: ExtractError) -> Self {
        Self {
            code: e.kind.code(),
            message: e.message,
        }
    }
}

/// The format a file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text, Markdown, source code, JSON, CSV and the like: the text as it is.
    Text,
    /// HTML: the text a reader sees, without scripts, styles or markup.
    Html,
    /// PDF: the pages' text in order.
    Pdf,
    /// Word (`.docx`): the paragraphs' text.
    Docx,
    /// `PowerPoint` (`.pptx`): the slides' paragraphs, in slide order.
    Pptx,
}

/// A file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The text; chunk offsets are counted in its characters.
    pub text: String,
    /// What the file was read as.
    pub format: Format,
}

/// Bounds on the work one file may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest text, in bytes, a file may yield: past it the file fails `invalid_file`.
    /// The default (64 MiB) is well over [`MAX_FILE_TOKENS`] tokens of any real text.
    pub max_text_bytes: usize,
    /// The most bytes the members of a DOCX or PPTX may unpack to, in all (a zip bomb fails
    /// `invalid_file`).
    pub max_unzipped_bytes: u64,
    /// The most bytes the Flate-compressed streams of a PDF (other than images, which are not
    /// read for text) may inflate to, in all: the PDF reader inflates without a bound, so a
    /// PDF past it fails `invalid_file` before it is read.
    pub max_pdf_inflated_bytes: u64,
    /// How long a PDF or HTML file may take to read; past it the file fails `invalid_file`.
    /// The reading thread is left to finish on its own (a thread cannot be stopped from
    /// outside): HTML parsing is quadratic in the nesting depth, and a PDF reader can loop.
    pub parse_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_text_bytes: 64 << 20,
            max_unzipped_bytes: 64 << 20,
            max_pdf_inflated_bytes: 256 << 20,
            parse_timeout: Duration::from_secs(60),
        }
    }
}

/// Extensions read as text as they are (lower case, without the dot).
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "text",
    "md",
    "markdown",
    "mdx",
    "rst",
    "adoc",
    "org",
    "log",
    "c",
    "cc",
    "cpp",
    "cxx",
    "h",
    "hh",
    "hpp",
    "hxx",
    "cs",
    "css",
    "scss",
    "less",
    "go",
    "java",
    "js",
    "mjs",
    "cjs",
    "ts",
    "mts",
    "cts",
    "tsx",
    "jsx",
    "json",
    "jsonl",
    "ndjson",
    "csv",
    "tsv",
    "php",
    "py",
    "pyi",
    "rb",
    "rs",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "bat",
    "tex",
    "bib",
    "sql",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "xml",
    "svg",
    "kt",
    "kts",
    "swift",
    "scala",
    "sc",
    "lua",
    "r",
    "pl",
    "pm",
    "dart",
    "ex",
    "exs",
    "erl",
    "hs",
    "ml",
    "mli",
    "fs",
    "fsx",
    "clj",
    "cljs",
    "el",
    "lisp",
    "scm",
    "vue",
    "svelte",
    "graphql",
    "gql",
    "proto",
    "tf",
    "hcl",
    "gradle",
    "groovy",
    "m",
    "mm",
    "jl",
    "nim",
    "zig",
    "v",
    "vb",
    "asm",
    "s",
    "cmake",
    "mk",
    "dockerfile",
    "diff",
    "patch",
    "properties",
    "env",
];

/// Extensions read as HTML.
const HTML_EXTENSIONS: &[&str] = &["html", "htm", "xhtml", "shtml"];

/// The text of `bytes`, a file named `filename`, within the default [`Limits`].
pub fn extract(filename: &str, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    extract_with(filename, bytes, &Limits::default())
}

/// The text of `bytes`, a file named `filename`, within `limits`.
pub fn extract_with(
    filename: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    let ext = extension(filename);
    let format = if bytes.starts_with(b"%PDF-") {
        Format::Pdf
    } else {
        match ext.as_deref() {
            Some("pdf") => Format::Pdf,
            Some("docx") => Format::Docx,
            Some("pptx") => Format::Pptx,
            Some(e) if HTML_EXTENSIONS.contains(&e) => Format::Html,
            Some(e) if TEXT_EXTENSIONS.contains(&e) => Format::Text,
            _ if bytes.starts_with(ZIP_MAGIC) => crate::office::sniff(bytes).ok_or_else(|| {
                ExtractError::unsupported(format!(
                    "{filename} is a zip archive but not a DOCX or PPTX file"
                ))
            })?,
            // A file without an extension (README, Makefile) is read if it is text.
            None => Format::Text,
            Some(e) => {
                return Err(ExtractError::unsupported(format!(
                    "Files with the extension .{e} are not supported for file search"
                )));
            }
        }
    };
    let text = match format {
        Format::Text => decode_text(filename, bytes)?,
        Format::Html => {
            let html = decode_text(filename, bytes)?;
            on_worker(filename, "HTML", limits.parse_timeout, move || {
                html_text(&html)
            })?
        }
        Format::Pdf => {
            if pdf_inflates_past(bytes, limits.max_pdf_inflated_bytes) {
                return Err(ExtractError::invalid(format!(
                    "{filename} inflates to over {} bytes",
                    limits.max_pdf_inflated_bytes
                )));
            }
            let pdf = bytes.to_vec();
            on_worker(filename, "PDF", limits.parse_timeout, move || {
                pdf_extract::extract_text_from_mem(&pdf).map_err(|e| e.to_string())
            })?
        }
        Format::Docx => crate::office::docx_text(filename, bytes, limits)?,
        Format::Pptx => crate::office::pptx_text(filename, bytes, limits)?,
    };
    if text.len() > limits.max_text_bytes {
        return Err(ExtractError::invalid(format!(
            "The text of {filename} is over {} bytes",
            limits.max_text_bytes
        )));
    }
    if text.trim().is_empty() {
        return Err(ExtractError::invalid(format!("{filename} has no text")));
    }
    Ok(Extracted { text, format })
}

pub(crate) const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// The lower-case extension of `filename` (its last path segment), if it has one.
fn extension(filename: &str) -> Option<String> {
    let name = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() {
        // `.env`, `.bashrc`: a hidden file without an extension.
        return (!ext.is_empty() && stem.is_empty()).then(|| ext.to_ascii_lowercase());
    }
    Some(ext.to_ascii_lowercase())
}

/// At most this share (in per mille) of a text's characters may be undecodable or control
/// characters for it to count as text.
const MAX_BINARY_PER_MILLE: usize = 10;

/// `bytes` as text: UTF-8 (a BOM dropped), UTF-16 with a BOM, or UTF-8 with a few invalid
/// sequences replaced; anything that is mostly not text is `unsupported_file`.
fn decode_text(filename: &str, bytes: &[u8]) -> Result<String, ExtractError> {
    let not_text = || ExtractError::unsupported(format!("{filename} is not a text file"));
    let text = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        String::from_utf8_lossy(rest).into_owned()
    } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        utf16(rest, u16::from_le_bytes)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        utf16(rest, u16::from_be_bytes)
    } else {
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }
    };
    let mut chars = 0usize;
    let mut bad = 0usize;
    for c in text.chars() {
        chars += 1;
        if c == char::REPLACEMENT_CHARACTER
            || (c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0c'))
        {
            bad += 1;
        }
    }
    if bad * 1000 > chars * MAX_BINARY_PER_MILLE {
        return Err(not_text());
    }
    Ok(text)
}

fn utf16(bytes: &[u8], word: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|p| word([p[0], p[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// The text a reader of the HTML page sees: no scripts, styles or tags, entities decoded, a
/// line break between blocks; lines are not wrapped.
fn html_text(html: &str) -> Result<String, String> {
    // Wide enough that no paragraph is wrapped: a wrapped line would break words apart for
    // the lexical index.
    const WIDTH: usize = 1 << 20;
    html2text::config::plain_no_decorate()
        .allow_width_overflow()
        .raw_mode(true)
        .string_from_read(html.as_bytes(), WIDTH)
        .map(|s| {
            // Empty table cells leave trailing spaces; they carry no meaning.
            s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
        })
        .map_err(|e| e.to_string())
}

/// Whether the Flate streams of a PDF, images left out, inflate to over `budget` bytes in all.
///
/// A scan of the raw bytes, not a parse: each `stream` keyword's data is inflated (into no
/// buffer) until its zlib stream ends or fails; a stream whose dictionary says `/Image` is
/// skipped. Encrypted streams do not inflate and count nothing.
fn pdf_inflates_past(pdf: &[u8], budget: u64) -> bool {
    use std::io::Read;
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    let mut i = 0;
    while let Some(k) = find(&pdf[i..], b"stream") {
        // Each byte is looked at a bounded number of times: the dictionary is looked for
        // between the previous keyword and this one only.
        let previous = i;
        let keyword = i + k;
        i = keyword + b"stream".len();
        if pdf[..keyword].ends_with(b"end") {
            continue;
        }
        let data = match pdf.get(i..) {
            Some([b'\r', b'\n', ..]) => i + 2,
            Some([b'\n' | b'\r', ..]) => i + 1,
            _ => continue,
        };
        // A zlib header (deflate, check bits) or nothing to inflate.
        let zlib = match pdf.get(data..data + 2) {
            Some(&[cmf, flg]) => {
                cmf & 0x0F == 8 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
            }
            _ => false,
        };
        if !zlib {
            continue;
        }
        // The stream's dictionary: from its object's `obj` keyword to here.
        let window = previous.max(keyword.saturating_sub(4 << 10));
        let dict_start = rfind(&pdf[window..keyword], b"obj").map_or(window, |d| window + d);
        if is_image(&pdf[dict_start..keyword]) {
            continue;
        }
        let mut inflate = flate2::read::ZlibDecoder::new(&pdf[data..]);
        loop {
            match inflate.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n as u64;
                    if total > budget {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// Whether a stream dictionary names `/Image` (not `/ImageB` and the like of a `/ProcSet`).
fn is_image(dict: &[u8]) -> bool {
    let mut at = 0;
    while let Some(k) = find(&dict[at..], b"/Image") {
        at += k + b"/Image".len();
        if !dict.get(at).is_some_and(u8::is_ascii_alphanumeric) {
            return true;
        }
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// Runs a parser of `what` on a thread of its own, so that a file that makes it panic or run
/// too long fails that file (`invalid_file`) and nothing else.
fn on_worker(
    filename: &str,
    what: &str,
    timeout: Duration,
    parse: impl FnOnce() -> Result<String, String> + Send + 'static,
) -> Result<String, ExtractError> {
    // The parsers recurse over nested objects; a roomy stack keeps a deep but legal file from
    // overflowing it (which would abort the process, not panic).
    const STACK: usize = 64 << 20;
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name(format!("extract-{}", what.to_ascii_lowercase()))
        .stack_size(STACK)
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse))
                .unwrap_or_else(|_| Err("the reader failed on it".to_owned()));
            // The receiver is gone if the caller stopped waiting; nothing is left to tell.
            let _ = tx.send(result);
        });
    if spawned.is_err() {
        return Err(ExtractError::invalid(format!(
            "{filename} could not be read: no thread to read it on"
        )));
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(ExtractError::invalid(format!(
            "{filename} is not a readable {what} file: {e}"
        ))),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ExtractError::invalid(format!(
            "{filename} took over {} s to read",
            timeout.as_secs()
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ExtractError::invalid(format!(
            "{filename} is not a readable {what} file"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn kind(r: Result<Extracted, ExtractError>) -> ExtractErrorKind {
        match r {
            Ok(x) => panic!("expected an error, got {x:?}"),
            Err(e) => e.kind,
        }
    }

    /// A one-page PDF showing `lines` in Helvetica, its xref table at the true offsets.
    pub(crate) fn tiny_pdf(lines: &[&str]) -> Vec<u8> {
        let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
        for l in lines {
            content.push('(');
            content.push_str(l);
            content.push_str(") Tj T*\n");
        }
        content.push_str("ET");
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
             /Resources << /Font << /F1 5 0 R >> >> >>"
                .to_owned(),
            format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            ),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_owned(),
        ];
        let mut pdf = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = pdf.len();
        pdf.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for off in offsets {
            pdf.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        pdf.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        pdf
    }

    /// A zip archive of `members` (name, content), deflated.
    pub(crate) fn zip_of(members: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(content.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn text_and_source_code_are_read_as_they_are() {
        for (name, body) in [
            ("notes.md", "# Title\n\nSome *markdown* text.\n"),
            ("main.rs", "fn main() {\n    println!(\"héllo\");\n}\n"),
            ("data.json", "{\"a\": [1, 2, 3], \"b\": \"ünïcode\"}"),
            ("table.csv", "name,qty\napple,3\npear,5\n"),
            ("script.PY", "def f(x):\n    return x * 2\n"),
            ("README", "plain file without an extension\n"),
        ] {
            let x = extract(name, body.as_bytes()).unwrap();
            assert_eq!(x.format, Format::Text, "{name}");
            assert_eq!(x.text, body, "{name}");
        }
    }

    #[test]
    fn encodings_bom_and_lossy_utf8() {
        let x = extract("a.txt", b"\xEF\xBB\xBFhello").unwrap();
        assert_eq!(x.text, "hello");
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("héllo wörld".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(extract("a.txt", &utf16).unwrap().text, "héllo wörld");
        // One stray Latin-1 byte in a long text: decoded with a replacement character.
        let mut mostly = "ordinary text line\n".repeat(20).into_bytes();
        mostly.push(0xE9);
        let x = extract("a.txt", &mostly).unwrap();
        assert!(x.text.ends_with('\u{FFFD}'));
        // Binary data under a text extension is not text.
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
            .collect();
        assert_eq!(
            kind(extract("a.txt", &garbage)),
            ExtractErrorKind::UnsupportedFile
        );
        assert_eq!(
            kind(extract("blob", &garbage)),
            ExtractErrorKind::UnsupportedFile
        );
    }

    #[test]
    fn unknown_extensions_are_unsupported_and_empty_files_invalid() {
        assert_eq!(
            kind(extract("photo.png", b"\x89PNG\r\n")),
            ExtractErrorKind::UnsupportedFile
        );
        assert_eq!(
            kind(extract("tool.exe", b"MZ\x90\0")),
            ExtractErrorKind::UnsupportedFile
        );
        assert_eq!(
            kind(extract("empty.txt", b"")),
            ExtractErrorKind::InvalidFile
        );
        assert_eq!(
            kind(extract("blank.md", b" \n\t\n")),
            ExtractErrorKind::InvalidFile
        );
        let e = extract("photo.png", b"x").unwrap_err();
        assert_eq!(e.kind.code(), VectorStoreFileErrorCode::UnsupportedFile);
        let wire: VectorStoreFileError = e.into();
        assert!(wire.message.contains(".png"), "{}", wire.message);
    }

    #[test]
    fn html_keeps_the_visible_text_only() {
        let html = "<!doctype html><html><head><title>T</title>\
            <style>body { color: red; }</style>\
            <script>var secret = 'do not index';</script></head>\
            <body><h1>Fish &amp; Chips</h1><p>Caf&eacute; &lt;open&gt; &#8364;5</p>\
            <div>second block</div><ul><li>one</li><li>two</li></ul></body></html>";
        let x = extract("page.html", html.as_bytes()).unwrap();
        assert_eq!(x.format, Format::Html);
        assert!(x.text.contains("Fish & Chips"), "{}", x.text);
        assert!(x.text.contains("Café <open> €5"), "{}", x.text);
        assert!(!x.text.contains("secret"), "{}", x.text);
        assert!(!x.text.contains("color"), "{}", x.text);
        assert!(
            !x.text.contains('<') || x.text.contains("<open>"),
            "{}",
            x.text
        );
        let lines: Vec<&str> = x.text.lines().map(str::trim).collect();
        let pos = |s: &str| lines.iter().position(|l| l.contains(s)).unwrap();
        assert!(pos("Chips") < pos("Café"));
        assert!(
            pos("Café") < pos("second block"),
            "blocks are on lines of their own"
        );
        assert!(pos("one") < pos("two"));
    }

    #[test]
    fn deeply_nested_html_does_not_overflow() {
        let html = format!(
            "{}deep text{}",
            "<div>".repeat(5_000),
            "</div>".repeat(5_000)
        );
        let x = extract("deep.htm", html.as_bytes()).unwrap();
        assert!(x.text.contains("deep text"));
    }

    #[test]
    fn pdf_pages_text() {
        let pdf = tiny_pdf(&["Hello PDF world", "second line here"]);
        for name in ["doc.pdf", "doc.bin", "doc"] {
            let x = extract(name, &pdf).unwrap();
            assert_eq!(x.format, Format::Pdf);
            assert!(x.text.contains("Hello PDF world"), "{:?}", x.text);
            assert!(x.text.contains("second line here"), "{:?}", x.text);
        }
    }

    #[test]
    fn malformed_pdfs_fail_invalid_file_without_panicking() {
        let pdf = tiny_pdf(&["Hello PDF world"]);
        for cut in [9, pdf.len() / 3, pdf.len() / 2, pdf.len() - 30] {
            let r = extract("cut.pdf", &pdf[..cut]);
            // A reader may recover the page from a cut file; it must never panic or hang.
            if let Err(e) = r {
                assert_eq!(e.kind, ExtractErrorKind::InvalidFile, "cut at {cut}: {e}");
            }
        }
        assert_eq!(
            kind(extract("junk.pdf", b"%PDF-1.7\ngarbage")),
            ExtractErrorKind::InvalidFile
        );
        assert_eq!(
            kind(extract("junk.pdf", b"not a pdf at all")),
            ExtractErrorKind::InvalidFile
        );
        let mut noisy = pdf.clone();
        for (i, b) in noisy.iter_mut().enumerate().skip(200) {
            if i % 7 == 0 {
                *b ^= 0x5A;
            }
        }
        if let Err(e) = extract("noisy.pdf", &noisy) {
            assert_eq!(e.kind, ExtractErrorKind::InvalidFile);
        }
    }

    /// A PDF whose one content stream is `raw` deflated.
    fn pdf_with_flate_stream(raw: &[u8], dict_extra: &str) -> Vec<u8> {
        use flate2::{Compression, write::ZlibEncoder};
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(raw).unwrap();
        let data = z.finish().unwrap();
        let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n4 0 obj\n".to_vec();
        pdf.extend_from_slice(
            format!(
                "<< /Length {} /Filter /FlateDecode{dict_extra} >>\nstream\n",
                data.len()
            )
            .as_bytes(),
        );
        pdf.extend_from_slice(&data);
        pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
        pdf
    }

    #[test]
    fn pdf_flate_bombs_fail_before_reading() {
        let zeros = vec![0u8; 4 << 20];
        let bomb = pdf_with_flate_stream(&zeros, "");
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        assert!(pdf_inflates_past(&bomb, 1 << 20));
        assert!(!pdf_inflates_past(&bomb, 8 << 20));
        let tight = Limits {
            max_pdf_inflated_bytes: 1 << 20,
            ..Limits::default()
        };
        let e = extract_with("bomb.pdf", &bomb, &tight).unwrap_err();
        assert_eq!(e.kind, ExtractErrorKind::InvalidFile);
        assert!(e.message.contains("inflates"), "{e}");
        // Images are not read for text, so they do not count.
        let image = pdf_with_flate_stream(&zeros, " /Subtype /Image");
        assert!(!pdf_inflates_past(&image, 1 << 20));
        let not_image = pdf_with_flate_stream(&zeros, " /ProcSet [/PDF /ImageB]");
        assert!(pdf_inflates_past(&not_image, 1 << 20));
        // The hand-made PDF's stream is not compressed: nothing inflates.
        assert!(!pdf_inflates_past(&tiny_pdf(&["Hello"]), 0));
        // Many keywords without data are scanned in linear time.
        let many = b">>\nstream\nx\x9c".repeat(200_000);
        let t = std::time::Instant::now();
        assert!(!pdf_inflates_past(&many, 0));
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    }

    #[test]
    fn pdf_timeout_fails_the_file() {
        let pdf = tiny_pdf(&["Hello"]);
        let limits = Limits {
            parse_timeout: Duration::ZERO,
            ..Limits::default()
        };
        // Zero time: the reader cannot have answered yet, or it answered at once; either way
        // the call returns.
        if let Err(e) = extract_with("a.pdf", &pdf, &limits) {
            assert_eq!(e.kind, ExtractErrorKind::InvalidFile);
        }
    }

    #[test]
    fn html_that_takes_too_long_fails_the_file() {
        let html = format!(
            "{}deep text{}",
            "<div>".repeat(20_000),
            "</div>".repeat(20_000)
        );
        let limits = Limits {
            parse_timeout: Duration::from_millis(1),
            ..Limits::default()
        };
        let e = extract_with("deep.html", html.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.kind, ExtractErrorKind::InvalidFile);
        assert!(e.message.contains("to read"), "{e}");
    }

    #[test]
    fn docx_paragraphs() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
  <w:body>
    <w:p><w:r><w:t>First</w:t></w:r><w:r><w:t xml:space="preserve"> paragraph &amp; more</w:t></w:r></w:p>
    <w:p><w:r><w:t>Tab</w:t><w:tab/><w:t>bed</w:t><w:br/><w:t>broken ü</w:t></w:r></w:p>
    <w:p/>
    <w:p><w:r><w:t>Last &#8364;</w:t></w:r></w:p>
  </w:body>
</w:document>"#;
        let bytes = zip_of(&[
            ("[Content_Types].xml", "<Types/>"),
            ("word/document.xml", doc),
        ]);
        for name in ["report.docx", "report.zip"] {
            let x = extract(name, &bytes).unwrap();
            assert_eq!(x.format, Format::Docx);
            assert_eq!(
                x.text,
                "First paragraph & more\nTab\tbed\nbroken ü\n\nLast €\n"
            );
        }
    }

    #[test]
    fn pptx_slides_in_presentation_order() {
        let slide = |t: &str| {
            format!(
                r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody>
                <a:p><a:r><a:t>{t} title</a:t></a:r></a:p><a:p><a:r><a:t>{t} body</a:t></a:r></a:p>
                </p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#
            )
        };
        let presentation = r#"<p:presentation xmlns:p="p" xmlns:r="r"><p:sldIdLst>
            <p:sldId id="257" r:id="rId3"/><p:sldId id="256" r:id="rId2"/>
            </p:sldIdLst></p:presentation>"#;
        let rels = r#"<Relationships xmlns="x">
            <Relationship Id="rId2" Type="slide" Target="slides/slide1.xml"/>
            <Relationship Id="rId3" Type="slide" Target="slides/slide2.xml"/>
            </Relationships>"#;
        let (s1, s2) = (slide("One"), slide("Two"));
        let bytes = zip_of(&[
            ("ppt/presentation.xml", presentation),
            ("ppt/_rels/presentation.xml.rels", rels),
            ("ppt/slides/slide1.xml", &s1),
            ("ppt/slides/slide2.xml", &s2),
        ]);
        let x = extract("deck.pptx", &bytes).unwrap();
        assert_eq!(x.format, Format::Pptx);
        // slide2 comes first in the presentation's list.
        assert_eq!(x.text, "Two title\nTwo body\n\nOne title\nOne body\n");
        // Without a slide list, by the parts' numbers (10 after 2).
        let s10 = slide("Ten");
        let bytes = zip_of(&[
            ("ppt/presentation.xml", "<p:presentation xmlns:p=\"p\"/>"),
            ("ppt/slides/slide10.xml", &s10),
            ("ppt/slides/slide2.xml", &s2),
        ]);
        let x = extract("deck.pptx", &bytes).unwrap();
        assert_eq!(x.text, "Two title\nTwo body\n\nTen title\nTen body\n");
    }

    #[test]
    fn broken_office_files() {
        let other_zip = zip_of(&[("hello.txt", "hi")]);
        assert_eq!(
            kind(extract("a.docx", &other_zip)),
            ExtractErrorKind::InvalidFile
        );
        assert_eq!(
            kind(extract("a.pptx", &other_zip)),
            ExtractErrorKind::InvalidFile
        );
        assert_eq!(
            kind(extract("a.zip", &other_zip)),
            ExtractErrorKind::UnsupportedFile
        );
        assert_eq!(
            kind(extract("a.docx", b"PK\x03\x04truncated")),
            ExtractErrorKind::InvalidFile
        );
        assert_eq!(
            kind(extract("a.docx", b"plain text")),
            ExtractErrorKind::InvalidFile
        );
        let bad_xml = zip_of(&[("word/document.xml", "<w:p><w:t>open</w:x></w:p>")]);
        assert_eq!(
            kind(extract("a.docx", &bad_xml)),
            ExtractErrorKind::InvalidFile
        );
    }

    #[test]
    fn zip_bombs_stop_at_the_budget() {
        let body = format!(
            "<w:document><w:p><w:t>{}</w:t></w:p></w:document>",
            "a".repeat(1 << 20)
        );
        let bytes = zip_of(&[("word/document.xml", &body)]);
        assert!(
            bytes.len() < 64 << 10,
            "it compresses well: {}",
            bytes.len()
        );
        let tight = Limits {
            max_unzipped_bytes: 512 << 10,
            ..Limits::default()
        };
        let e = extract_with("bomb.docx", &bytes, &tight).unwrap_err();
        assert_eq!(e.kind, ExtractErrorKind::InvalidFile);
        assert!(e.message.contains("unpacks"), "{e}");
        assert_eq!(
            extract("ok.docx", &bytes).unwrap().text.len(),
            (1 << 20) + 1
        );
    }

    #[test]
    fn text_over_the_limit_is_invalid() {
        let limits = Limits {
            max_text_bytes: 100,
            ..Limits::default()
        };
        let e = extract_with("big.txt", "word ".repeat(30).as_bytes(), &limits).unwrap_err();
        assert_eq!(e.kind, ExtractErrorKind::InvalidFile);
    }
}
