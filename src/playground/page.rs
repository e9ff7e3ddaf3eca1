//! The page's files, embedded in the binary and served from memory.
//!
//! | path                      | what |
//! |---------------------------|------|
//! | `/`                       | `playground/index.html` |
//! | `/playground.js`          | `playground/dist/playground.js`, the bundled script |
//! | `/playground/descriptors` | the descriptor sets the page decodes messages with: the tour's, `google.rpc`'s error details, the playground's |
//! | `/playground/server.json` | what the page must know of this server: whether it asks for a token, whether the relay runs |
//!
//! The page makes its clients at run time from the descriptor sets, so it has no generated
//! code of its own to keep in step with the proto.

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tonic::body::Body;

use crate::{lesson::proto, playground};

const INDEX: &str = include_str!("../../playground/index.html");
const SCRIPT: &str = include_str!("../../playground/dist/playground.js");

/// What the page is not allowed to load or run: anything from elsewhere.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

/// The page's files, ready to serve.
#[derive(Debug)]
pub struct Page {
    descriptors: Vec<u8>,
    server: String,
}

impl Page {
    /// The page of a server that asks for a token (`token`), and whose relay runs
    /// (`relay`: off over TLS, which the relay cannot read).
    pub fn new(token: bool, relay: bool) -> Self {
        // Encoded `FileDescriptorSet`s hold one repeated field, so two of them written one
        // after the other decode as one set with the files of both.
        let descriptors = [
            proto::FILE_DESCRIPTOR_SET,
            tonic_types::pb::FILE_DESCRIPTOR_SET,
            playground::proto::FILE_DESCRIPTOR_SET,
        ]
        .concat();
        Page {
            descriptors,
            server: format!(r#"{{"token":{token},"relay":{relay}}}"#),
        }
    }

    /// The answer to `request`, if it asks for one of the page's files.
    pub fn answer<B>(&self, request: &Request<B>) -> Option<Response<Body>> {
        let head = request.method() == Method::HEAD;
        if !head && request.method() != Method::GET {
            return None;
        }
        let (kind, content): (&'static str, &[u8]) = match request.uri().path() {
            "/" => ("text/html; charset=utf-8", INDEX.as_bytes()),
            "/playground.js" => ("text/javascript; charset=utf-8", SCRIPT.as_bytes()),
            "/playground/descriptors" => ("application/octet-stream", &self.descriptors),
            "/playground/server.json" => ("application/json", self.server.as_bytes()),
            _ => return None,
        };
        let body = if head {
            Body::empty()
        } else {
            Body::new(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
                content,
            )))
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content.len()));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        );
        Some(response)
    }
}
