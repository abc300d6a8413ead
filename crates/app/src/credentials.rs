//! VNGCloud client credentials from a mounted Secret. The secret never reaches a log:
//! [`ClientSecret`]'s `Debug` and `Display` are redacted.

use std::path::{Path, PathBuf};

/// A client secret; printing it shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
    /// The secret itself, for the token request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Client id and secret of the VNGCloud service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Client id.
    pub client_id: String,
    /// Client secret (redacted in `Debug`).
    pub client_secret: ClientSecret,
}

/// Error reading credentials (not retried: fix the Secret or the flag).
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The path cannot be read.
    #[error("cannot read credentials {path}: {source}")]
    Read {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A key is missing or empty.
    #[error("credentials {path} have no {key} (accepted keys: {accepted})")]
    Missing {
        /// Path.
        path: PathBuf,
        /// Missing key.
        key: &'static str,
        /// Names accepted for it.
        accepted: &'static str,
    },
}

const ID_KEYS: &[&str] = &["client-id", "clientID", "client_id", "clientId"];
const SECRET_KEYS: &[&str] = &[
    "client-secret",
    "clientSecret",
    "client_secret",
    "clientSECRET",
];

fn read(path: &Path) -> Result<String, CredentialsError> {
    std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads credentials from a Secret volume directory (one file per key) or from a file of
/// `key=value` lines.
pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
    let lookup = |keys: &[&str]| -> Result<Option<String>, CredentialsError> {
        if path.is_dir() {
            for k in keys {
                let p = path.join(k);
                if p.is_file() {
                    return Ok(Some(read(&p)?.trim().to_owned()));
                }
            }
            return Ok(None);
        }
        let text = read(path)?;
        Ok(text.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            keys.contains(&k.trim()).then(|| v.trim().to_owned())
        }))
    };
    let id = lookup(ID_KEYS)?.filter(|s| !s.is_empty());
    let secret = lookup(SECRET_KEYS)?.filter(|s| !s.is_empty());
    let client_id = id.ok_or_else(|| CredentialsError::Missing {
        path: path.to_owned(),
        key: "client id",
        accepted: "client-id, clientID, client_id",
    })?;
    let secret = secret.ok_or_else(|| CredentialsError::Missing {
        path: path.to_owned(),
        key: "client secret",
        accepted: "client-secret, clientSecret, client_secret",
    })?;
    Ok(Credentials {
        client_id,
        client_secret: ClientSecret::new(secret),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_volume_directory_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clientID"), "id-1\n").unwrap();
        std::fs::write(dir.path().join("clientSecret"), "s3cr3t\n").unwrap();
        let c = load(dir.path()).unwrap();
        assert_eq!(c.client_id, "id-1");
        assert_eq!(c.client_secret.expose(), "s3cr3t");
    }

    #[test]
    fn key_value_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("creds");
        std::fs::write(&f, "# vngcloud\nclient-id = id-2\nclient-secret=abc=def\n").unwrap();
        let c = load(&f).unwrap();
        assert_eq!(c.client_id, "id-2");
        assert_eq!(c.client_secret.expose(), "abc=def");
    }

    #[test]
    fn missing_secret_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("creds");
        std::fs::write(&f, "client-id=x\n").unwrap();
        let err = load(&f).unwrap_err();
        assert!(err.to_string().contains("client secret"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials {
            client_id: "id".into(),
            client_secret: ClientSecret::new("hunter2"),
        };
        let shown = format!("{c:?} {}", c.client_secret);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
