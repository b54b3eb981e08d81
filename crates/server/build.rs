//! Release binaries keep their line tables (panics and profilers still name file and line) but
//! store them zlib-compressed: the debug sections are about four fifths of an uncompressed
//! release binary (116 MB → 45 MB without the built-in model). zlib, not zstd, because that is
//! what the standard library's backtrace reader decompresses.
//!
//! The playground's static files (`playground/`) are gzipped here, once per build, and listed
//! with their content hashes in `$OUT_DIR/playground_assets.rs`, which `src/playground.rs`
//! includes: the binary serves them without compressing or hashing anything per request.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() == Ok("release")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,--compress-debug-sections=zlib");
    }
    if let Err(e) = playground_assets() {
        panic!("cannot prepare the playground's files: {e}");
    }
}

fn playground_assets() -> std::io::Result<()> {
    use sha2::Digest;
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?;
    let out = std::env::var("OUT_DIR").map_err(std::io::Error::other)?;
    let dir = Path::new(&manifest).join("playground");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| content_type(n).is_some())
        .collect();
    // A stable order, so the generated file (and the binary) only change with the files.
    names.sort();
    let mut table = String::from("&[\n");
    for name in &names {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        let gz = gz.finish()?;
        let gz_path = Path::new(&out).join(format!("{name}.gz"));
        std::fs::write(&gz_path, gz)?;
        let hash = hex(&sha2::Sha256::digest(&bytes)[..12]);
        let _ = writeln!(
            table,
            "    Asset {{ name: {name:?}, content_type: {ct:?}, body: include_bytes!({path:?}), gzip: include_bytes!({gz_path:?}), etag: \"\\\"{hash}\\\"\", gzip_etag: \"\\\"{hash}-gz\\\"\" }},",
            ct = content_type(name).unwrap_or_default(),
            path = path.display().to_string(),
            gz_path = gz_path.display().to_string(),
        );
    }
    table.push(']');
    std::fs::write(Path::new(&out).join("playground_assets.rs"), table)
}

fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
