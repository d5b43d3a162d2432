//! Opening a store from a URL: object_store's own scheme and option parsing, with credentials from
//! the environment.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::ObjectStoreScheme;
use object_store::path::Path;
use url::Url;

use crate::config::BridgeConfig;
use crate::error::{BridgeError, Result};

/// A store and where its URL points.
pub(crate) struct Opened {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// `scheme://authority` without credentials: what object URLs start with.
    pub(crate) base: String,
    /// The path part of the URL: relative keys are resolved under it.
    pub(crate) prefix: Path,
    pub(crate) scheme: ObjectStoreScheme,
}

/// The URL without user name or password, for messages.
pub(crate) fn redact(url: &Url) -> String {
    let mut u = url.clone();
    // A user name alone (Azure's `container@account`) is not secret; a password is.
    let _ = u.set_password(None);
    u.to_string()
}

/// Everything before the path, without a password.
pub(crate) fn base_of(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let s = &u[..url::Position::BeforePath];
    s.trim_end_matches('/').to_owned()
}

fn invalid(url: &str, reason: impl Into<String>) -> BridgeError {
    BridgeError::InvalidUrl { url: url.to_owned(), reason: reason.into() }
}

macro_rules! apply_options {
    ($builder:expr, $key:ty, $options:expr, $shown:expr) => {{
        let mut b = $builder;
        for (k, v) in $options {
            let key = k.as_ref();
            match key.to_ascii_lowercase().parse::<$key>() {
                Ok(parsed) => b = b.with_config(parsed, v),
                // The value may be a secret: only the key is named.
                Err(_) => return Err(invalid($shown, format!("unknown option {key:?}"))),
            }
        }
        b
    }};
}

/// Opens the store that `url` names. Options are object_store's configuration keys for that
/// store (`aws_endpoint`, `allow_http`, `timeout`, ...); credentials come from the environment
/// (`AWS_ACCESS_KEY_ID`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_KEY`, ...) unless an
/// option gives them.
pub(crate) fn open<I, K, V>(url: &str, options: I, config: &BridgeConfig) -> Result<Opened>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: Into<String>,
{
    let parsed = Url::parse(url).map_err(|e| invalid("(unparsable URL)", e.to_string()))?;
    let shown = redact(&parsed);
    let (scheme, prefix) = ObjectStoreScheme::parse(&parsed).map_err(|e| invalid(&shown, e.to_string()))?;
    let store_err = |e: object_store::Error| invalid(&shown, e.to_string());
    let mut options = options.into_iter().peekable();
    let store: Arc<dyn ObjectStore> = match &scheme {
        ObjectStoreScheme::Local | ObjectStoreScheme::Memory => {
            if options.peek().is_some() {
                return Err(invalid(&shown, "file:// and memory:// stores take no options"));
            }
            if scheme == ObjectStoreScheme::Local {
                Arc::new(object_store::local::LocalFileSystem::new())
            } else {
                Arc::new(object_store::memory::InMemory::new())
            }
        }
        ObjectStoreScheme::AmazonS3 => {
            let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(parsed.as_str());
            if let Some(c) = &config.client_options {
                b = b.with_client_options(c.clone());
            }
            b = b.with_retry(config.retry.clone());
            let b = apply_options!(b, object_store::aws::AmazonS3ConfigKey, options, &shown);
            Arc::new(b.build().map_err(store_err)?)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(parsed.as_str());
            if let Some(c) = &config.client_options {
                b = b.with_client_options(c.clone());
            }
            b = b.with_retry(config.retry.clone());
            let b = apply_options!(b, object_store::gcp::GoogleConfigKey, options, &shown);
            Arc::new(b.build().map_err(store_err)?)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            let mut b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(parsed.as_str());
            if let Some(c) = &config.client_options {
                b = b.with_client_options(c.clone());
            }
            b = b.with_retry(config.retry.clone());
            let b = apply_options!(b, object_store::azure::AzureConfigKey, options, &shown);
            Arc::new(b.build().map_err(store_err)?)
        }
        ObjectStoreScheme::Http => {
            let mut b = object_store::http::HttpBuilder::new().with_url(&parsed[..url::Position::BeforePath]);
            if let Some(c) = &config.client_options {
                b = b.with_client_options(c.clone());
            }
            b = b.with_retry(config.retry.clone());
            let b = apply_options!(b, object_store::ClientConfigKey, options, &shown);
            Arc::new(b.build().map_err(store_err)?)
        }
        other => return Err(invalid(&shown, format!("unsupported scheme {other:?}"))),
    };
    let base = match scheme {
        ObjectStoreScheme::Local => "file://".to_owned(),
        ObjectStoreScheme::Memory => "memory://".to_owned(),
        _ => base_of(&parsed),
    };
    Ok(Opened { store, base, prefix, scheme })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_and_prefixes() {
        let cfg = BridgeConfig::default();
        let o = open("memory:///a/b", std::iter::empty::<(&str, &str)>(), &cfg).expect("memory");
        assert_eq!(o.base, "memory://");
        assert_eq!(o.prefix.as_ref(), "a/b");
        let o = open("file:///tmp/x", std::iter::empty::<(&str, &str)>(), &cfg).expect("file");
        assert_eq!(o.base, "file://");
        assert_eq!(o.prefix.as_ref(), "tmp/x");
        let o = open("http://127.0.0.1:9/dav/dir", std::iter::empty::<(&str, &str)>(), &cfg).expect("http");
        assert_eq!(o.base, "http://127.0.0.1:9");
        assert_eq!(o.prefix.as_ref(), "dav/dir");
        let o = open(
            "s3://bucket/pre",
            [("aws_endpoint", "http://127.0.0.1:9"), ("allow_http", "true"), ("aws_skip_signature", "true")],
            &cfg,
        )
        .expect("s3");
        assert_eq!(o.base, "s3://bucket");
        assert_eq!(o.prefix.as_ref(), "pre");
    }

    #[test]
    fn unknown_options_and_secrets_are_not_echoed() {
        let cfg = BridgeConfig::default();
        let e = open("s3://bucket", [("no_such_key", "hunter2")], &cfg).err().expect("unknown key is an error");
        let msg = e.to_string();
        assert!(msg.contains("no_such_key") && !msg.contains("hunter2"), "{msg}");
        let e = open("ftp://host/x", std::iter::empty::<(&str, &str)>(), &cfg).err().expect("ftp is refused");
        assert!(e.to_string().contains("ftp://host/x"), "{e}");
        let e = open("http://user:hunter2@host/x", [("bogus", "v")], &cfg).err().expect("refused");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
