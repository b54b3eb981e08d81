//! The data directory holds every project's messages and file bytes, so what the server creates
//! there is private to its user — directories `0700`, files `0600` — whatever the umask says.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the directories the server creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files the server writes (database, file bytes).
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents, each `0700`. A directory that already existed keeps
/// its mode (it may be shared on purpose); one others can read is only reported.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|a| !a.exists()).collect();
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    // `mode` is filtered by the umask; set it exactly on what was created here.
    for created in missing {
        fs::set_permissions(created, Permissions::from_mode(DIR_MODE))?;
    }
    if is_open_to_others(dir) {
        tracing::warn!(
            dir = %dir.display(),
            "the directory is readable by other users; the server's own files in it stay private"
        );
    }
    Ok(())
}

fn is_open_to_others(dir: &Path) -> bool {
    fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

/// Creates `path` empty (`0600`) if it does not exist, and makes it `0600` if it does.
pub fn create_file(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    restrict_file(path)
}

/// Makes the file at `path` `0600`.
pub fn restrict_file(path: &Path) -> io::Result<()> {
    fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
}
