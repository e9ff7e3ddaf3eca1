//! What can go wrong in a call, and how each failure becomes a gRPC status.
//!
//! The services return `Result<_, Error>` from their plain-Rust helpers and let `?` turn the
//! error into a `tonic::Status` through the one `From` below. Keeping the mapping in one
//! place means a client always gets the same status code for the same mistake, and the
//! message always says *which* field was wrong, so a caller can fix its request. The same
//! field and problem also travel as a `google.rpc.BadRequest` detail, for programs.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

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

    /// A store the call needs (Redis, for RouteChat's notes) could not be reached or did
    /// not answer. A note that failed this way may or may not have been stored.
    #[error("{0}")]
    Unavailable(String),

    /// A store holds data this server cannot read.
    #[error("{0}")]
    Corrupt(String),
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
            Error::Unavailable(_) => Code::Unavailable,
            Error::Corrupt(_) => Code::DataLoss,
        }
    }
}

impl From<Error> for Status {
    /// The status, and for a bad field the standard `google.rpc.BadRequest` detail too: a
    /// client in any language can then read *which* field was wrong and why, without
    /// parsing the message.
    fn from(error: Error) -> Self {
        let (code, message) = (error.code(), error.to_string());
        match error {
            Error::Missing { field } => Status::with_error_details(
                code,
                message,
                ErrorDetails::with_bad_request_violation(field, "is required"),
            ),
            Error::Invalid { field, problem } => Status::with_error_details(
                code,
                message,
                ErrorDetails::with_bad_request_violation(field, problem),
            ),
            Error::OutOfRange(_) | Error::Full(_) | Error::Unavailable(_) | Error::Corrupt(_) => {
                Status::new(code, message)
            }
        }
    }
}
