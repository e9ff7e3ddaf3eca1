//! What can go wrong in a call, and how each failure becomes a gRPC status.
//!
//! The services return `Result<_, Error>` from their plain-Rust helpers and let `?` turn the
//! error into a `tonic::Status` through the one `From` below. Keeping the mapping in one
//! place means a client always gets the same status code for the same mistake, and the
//! message always says *which* field was wrong, so a caller can fix its request.

use tonic::{Code, Status};

/// Every way a request can fail in grpc-tour.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A message field that must be set was absent (proto3 message fields are optional).
    #[error("{field} is required")]
    Missing {
        /// The path of the field, such as `lo` or `location`.
        field: String,
    },

    /// A field held a value outside what the service accepts.
    #[error("{field} {problem}")]
    Invalid {
        /// The path of the field, such as `value1` or `hi.latitude`.
        field: String,
        /// What is wrong with it, as the end of a sentence.
        problem: String,
    },

    /// The inputs were valid but the result does not fit in the response.
    #[error("{0}")]
    OutOfRange(String),

    /// A bounded store is full: the request was refused, and nothing was stored.
    #[error("{0}")]
    Full(String),
}

impl Error {
    /// A field that is present but wrong; `problem` finishes the sentence "`field` ...".
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// A required message field that the client left unset.
    pub fn missing(field: impl Into<String>) -> Self {
        Error::Missing {
            field: field.into(),
        }
    }

    /// The same error for a field nested in a larger message: `latitude` inside `lo`
    /// becomes `lo.latitude`.
    pub fn inside(self, parent: &str) -> Self {
        let nest = |field: String| format!("{parent}.{field}");
        match self {
            Error::Missing { field } => Error::Missing { field: nest(field) },
            Error::Invalid { field, problem } => Error::Invalid {
                field: nest(field),
                problem,
            },
            other => other,
        }
    }

    /// The gRPC status code a client sees for this error.
    pub fn code(&self) -> Code {
        match self {
            Error::Missing { .. } | Error::Invalid { .. } => Code::InvalidArgument,
            Error::OutOfRange(_) => Code::OutOfRange,
            Error::Full(_) => Code::ResourceExhausted,
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        Status::new(error.code(), error.to_string())
    }
}
