//! The methods of the services this binary knows, read once from the descriptor sets
//! compiled into it: the tour's (`build.rs` writes it), health's and reflection's.
//!
//! The path of a call (`/tour.Summator/Sum`) is all that travels; the descriptors say which
//! service and method it names, its kind, and the message types it takes and returns. The
//! metrics label each call with them; the wire tool decodes each message by them.

use prost::Message;
use prost_types::FileDescriptorSet;

use crate::lesson::proto;

/// The descriptor sets of every service the tour's server serves.
pub const SERVED: [&[u8]; 4] = [
    proto::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// One method, as its descriptor describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Method {
    /// The path a call of it travels under: `/tour.Summator/Sum`.
    pub path: String,
    /// Its service's full name: `tour.Summator`.
    pub service: String,
    /// Its own name: `Sum`.
    pub name: String,
    /// The full name of the request message, such as `tour.SumRequest`.
    pub input: String,
    /// The full name of the response message, such as `tour.SumResponse`.
    pub output: String,
    /// Whether the client sends a stream of requests.
    pub client_streaming: bool,
    /// Whether the server sends a stream of responses.
    pub server_streaming: bool,
}

impl Method {
    /// The kind of RPC, as the walkthrough names them.
    pub fn kind(&self) -> &'static str {
        match (self.client_streaming, self.server_streaming) {
            (false, false) => "unary",
            (false, true) => "server streaming",
            (true, false) => "client streaming",
            (true, true) => "bidirectional",
        }
    }
}

/// Every method of the services in `sets`, encoded `FileDescriptorSet`s compiled into the
/// binary (such as [`SERVED`]).
pub fn methods(sets: &[&[u8]]) -> Vec<Method> {
    let mut methods = Vec::new();
    for descriptors in sets {
        // Compiled into the binary; a unit test decodes every one of them.
        let set = FileDescriptorSet::decode(*descriptors).expect("a built-in descriptor set");
        for file in set.file {
            for service in &file.service {
                let service_name = format!("{}.{}", file.package(), service.name());
                for method in &service.method {
                    methods.push(Method {
                        path: format!("/{service_name}/{}", method.name()),
                        service: service_name.clone(),
                        name: method.name().to_owned(),
                        input: method.input_type().trim_start_matches('.').to_owned(),
                        output: method.output_type().trim_start_matches('.').to_owned(),
                        client_streaming: method.client_streaming(),
                        server_streaming: method.server_streaming(),
                    });
                }
            }
        }
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_method_is_found_with_its_kind_and_types() {
        let methods = methods(&SERVED);
        let kind = |path: &str| {
            let found = methods.iter().find(|method| method.path == path);
            found.map(Method::kind)
        };
        assert_eq!(kind("/tour.Summator/Sum"), Some("unary"));
        assert_eq!(
            kind("/tour.RouteGuide/ListFeatures"),
            Some("server streaming")
        );
        assert_eq!(
            kind("/tour.RouteGuide/RecordRoute"),
            Some("client streaming")
        );
        assert_eq!(kind("/tour.RouteGuide/RouteChat"), Some("bidirectional"));
        assert_eq!(
            kind("/grpc.health.v1.Health/Watch"),
            Some("server streaming")
        );
        assert_eq!(
            kind("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Some("bidirectional")
        );
        // 6 of the tour, 2 of health, 1 of each reflection.
        assert_eq!(methods.len(), 10);
        let sum = methods
            .iter()
            .find(|m| m.path == "/tour.Summator/Sum")
            .unwrap();
        assert_eq!(
            (&*sum.service, &*sum.name, &*sum.input, &*sum.output),
            (
                "tour.Summator",
                "Sum",
                "tour.SumRequest",
                "tour.SumResponse"
            )
        );
    }
}
