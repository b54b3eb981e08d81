//! DOCX and PPTX: zip archives of XML parts. The text is that of the document's paragraphs
//! (`w:p` of `word/document.xml`; `a:p` of each slide, slides in the presentation's order),
//! one line each. Members are unpacked within [`Limits::max_unzipped_bytes`] in all, so a zip
//! bomb fails the file.

use crate::extract::{ExtractError, Format, Limits};
use quick_xml::events::Event;
use std::io::{Cursor, Read};
use zip::ZipArchive;

const DOCUMENT: &str = "word/document.xml";
const PRESENTATION: &str = "ppt/presentation.xml";
const PRESENTATION_RELS: &str = "ppt/_rels/presentation.xml.rels";

/// What an Office archive holds, judged by its members (for a file whose name does not say).
pub(crate) fn sniff(bytes: &[u8]) -> Option<Format> {
    let zip = ZipArchive::new(Cursor::new(bytes)).ok()?;
    let has = |name: &str| zip.file_names().any(|n| n == name);
    if has(DOCUMENT) {
        Some(Format::Docx)
    } else if has(PRESENTATION) {
        Some(Format::Pptx)
    } else {
        None
    }
}

/// An archive being read, with what is left of the unpacking budget.
struct Archive<'a> {
    filename: &'a str,
    zip: ZipArchive<Cursor<&'a [u8]>>,
    budget: u64,
    limit: u64,
}

impl<'a> Archive<'a> {
    fn open(
        filename: &'a str,
        bytes: &'a [u8],
        limits: &Limits,
        kind: &str,
    ) -> Result<Self, ExtractError> {
        let zip = ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| ExtractError::invalid(format!("{filename} is not a {kind} file: {e}")))?;
        Ok(Self {
            filename,
            zip,
            budget: limits.max_unzipped_bytes,
            limit: limits.max_unzipped_bytes,
        })
    }

    /// The member `name`, unpacked, or `None` if the archive has no such member.
    fn member(&mut self, name: &str) -> Result<Option<String>, ExtractError> {
        let filename = self.filename;
        let mut file = match self.zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => {
                return Err(ExtractError::invalid(format!(
                    "{filename}: its part {name} cannot be read: {e}"
                )));
            }
        };
        // The declared size is the archive's word, not a bound: reading stops at the budget
        // whatever the header says.
        let mut out = Vec::new();
        (&mut file)
            .take(self.budget.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| {
                ExtractError::invalid(format!("{filename}: its part {name} cannot be read: {e}"))
            })?;
        let used = u64::try_from(out.len()).unwrap_or(u64::MAX);
        if used > self.budget {
            return Err(ExtractError::invalid(format!(
                "{filename} unpacks to over {} bytes",
                self.limit
            )));
        }
        self.budget -= used;
        String::from_utf8(out).map(Some).map_err(|_| {
            ExtractError::invalid(format!("{filename}: its part {name} is not UTF-8 XML"))
        })
    }
}

/// The paragraphs of a Word document.
pub(crate) fn docx_text(
    filename: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<String, ExtractError> {
    let mut archive = Archive::open(filename, bytes, limits, "DOCX")?;
    let xml = archive.member(DOCUMENT)?.ok_or_else(|| {
        ExtractError::invalid(format!(
            "{filename} is not a DOCX file: it has no {DOCUMENT}"
        ))
    })?;
    let mut text = String::new();
    paragraphs(filename, &xml, Dialect::Word, &mut text)?;
    Ok(text)
}

/// The paragraphs of a presentation's slides, in the presentation's order, a blank line
/// between slides.
pub(crate) fn pptx_text(
    filename: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<String, ExtractError> {
    let mut archive = Archive::open(filename, bytes, limits, "PPTX")?;
    let presentation = archive.member(PRESENTATION)?.ok_or_else(|| {
        ExtractError::invalid(format!(
            "{filename} is not a PPTX file: it has no {PRESENTATION}"
        ))
    })?;
    let rels = archive.member(PRESENTATION_RELS)?.unwrap_or_default();
    let mut slides = slide_order(filename, &presentation, &rels)?;
    if slides.is_empty() {
        // No slide list (a hand-made file): the slide parts by their number.
        let mut numbered: Vec<(u64, String)> = archive
            .zip
            .file_names()
            .filter_map(|n| {
                let num = n.strip_prefix("ppt/slides/slide")?.strip_suffix(".xml")?;
                Some((num.parse().ok()?, n.to_owned()))
            })
            .collect();
        numbered.sort();
        slides = numbered.into_iter().map(|(_, n)| n).collect();
    }
    let mut text = String::new();
    for part in slides {
        let Some(xml) = archive.member(&part)? else {
            return Err(ExtractError::invalid(format!(
                "{filename}: its slide {part} is missing"
            )));
        };
        if !text.is_empty() {
            text.push('\n');
        }
        paragraphs(filename, &xml, Dialect::Drawing, &mut text)?;
    }
    Ok(text)
}

/// The slide parts named by `p:sldIdLst` of `ppt/presentation.xml`, in its order, resolved
/// through its relationships to member names.
fn slide_order(
    filename: &str,
    presentation: &str,
    rels: &str,
) -> Result<Vec<String>, ExtractError> {
    let bad = |e: &dyn std::fmt::Display| {
        ExtractError::invalid(format!("{filename} is not a readable PPTX file: {e}"))
    };
    let mut ids = Vec::new();
    let mut reader = quick_xml::Reader::from_str(presentation);
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sldId" => {
                for a in e.attributes().flatten() {
                    // `r:id`, whatever the prefix of the relationships namespace.
                    if a.key.local_name().as_ref() == b"id" && a.key.prefix().is_some() {
                        ids.push(a.unescape_value().map_err(|e| bad(&e))?.into_owned());
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut targets = std::collections::HashMap::new();
    let mut reader = quick_xml::Reader::from_str(rels);
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                let (mut id, mut target) = (None, None);
                for a in e.attributes().flatten() {
                    match a.key.as_ref() {
                        b"Id" => id = Some(a.unescape_value().map_err(|e| bad(&e))?.into_owned()),
                        b"Target" => {
                            target = Some(a.unescape_value().map_err(|e| bad(&e))?.into_owned());
                        }
                        _ => {}
                    }
                }
                if let (Some(id), Some(target)) = (id, target) {
                    targets.insert(id, target);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(ids
        .iter()
        .filter_map(|id| targets.get(id))
        .map(|t| match t.strip_prefix('/') {
            Some(absolute) => absolute.to_owned(),
            None => format!("ppt/{t}"),
        })
        .collect())
}

/// Which markup a part is in.
#[derive(Clone, Copy)]
enum Dialect {
    /// `WordprocessingML`: `w:p` paragraphs of `w:t` runs, `w:tab`, `w:br`.
    Word,
    /// `DrawingML` (slides): `a:p` paragraphs of `a:t` runs, `a:br`.
    Drawing,
}

/// Appends the paragraphs of `xml` to `out`, one line each.
fn paragraphs(
    filename: &str,
    xml: &str,
    dialect: Dialect,
    out: &mut String,
) -> Result<(), ExtractError> {
    let bad = |e: &dyn std::fmt::Display| {
        ExtractError::invalid(format!("{filename} has a damaged XML part: {e}"))
    };
    let mut reader = quick_xml::Reader::from_str(xml);
    // Inside a text run: only its character data is the document's text (elsewhere it is
    // whitespace between tags).
    let mut in_text = false;
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(e) if e.local_name().as_ref() == b"t" => in_text = true,
            Event::Empty(e) => match (dialect, e.local_name().as_ref()) {
                (Dialect::Word, b"tab") => out.push('\t'),
                (_, b"br" | b"p") | (Dialect::Word, b"cr") => out.push('\n'),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => out.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => out.push_str(&t.decode().map_err(|e| bad(&e))?),
            Event::CData(t) if in_text => out.push_str(&t.decode().map_err(|e| bad(&e))?),
            Event::GeneralRef(r) if in_text => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| bad(&e))? {
                    out.push(c);
                } else {
                    let name = r.decode().map_err(|e| bad(&e))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| bad(&format!("unknown entity &{name};")))?;
                    out.push_str(resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(())
}
