//! Logging: `tracing` events to standard error, as text or JSON, filtered by `RUST_LOG`-style
//! directives.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{LogArgs, LogFormat};

/// Error of [`init`].
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The level or filter directives do not parse (not retried: fix the flag).
    #[error("invalid --log-level {value:?}: {source}")]
    Filter {
        /// The value given.
        value: String,
        /// Why it does not parse.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber is already installed.
    #[error("logging already initialised: {0}")]
    AlreadySet(String),
}

/// Builds the filter of `--log-level`.
pub fn filter(level: &str) -> Result<EnvFilter, LoggingError> {
    EnvFilter::builder()
        .parse(level)
        .map_err(|source| LoggingError::Filter {
            value: level.to_owned(),
            source,
        })
}

/// Installs the global subscriber.
pub fn init(args: &LogArgs) -> Result<(), LoggingError> {
    let filter = filter(&args.log_level)?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match args.log_format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    result.map_err(|e| LoggingError::AlreadySet(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_and_directives_are_accepted() {
        assert!(filter("info").is_ok());
        assert!(filter("vlb_app=debug,kube=warn").is_ok());
    }

    #[test]
    fn garbage_level_is_rejected_naming_the_value() {
        let err = filter("vlb_app=loud").unwrap_err();
        assert!(err.to_string().contains("vlb_app=loud"), "{err}");
    }
}
