//! What the bytes of a gRPC message mean: the method a path names, the message types it
//! takes and returns, and each message decoded with the generated types.
//!
//! The path of a call (`/tour.Summator/Sum`) is all that travels; the descriptor sets
//! compiled into the binary (the tour's, and the health service's) say which message types
//! the method takes and returns, and prost's generated types decode them. A path of
//! another service is shown as bytes.

use std::{collections::HashMap, fmt::Debug};

use prost::Message;

use crate::{
    lesson::proto,
    protocol::methods::{Method, methods},
};

/// The methods of every service this binary knows, by path.
#[derive(Clone, Debug)]
pub struct Contract {
    methods: HashMap<String, Method>,
}

impl Default for Contract {
    /// The tour's services and the standard health service.
    fn default() -> Self {
        let sets = [
            proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ];
        let methods = methods(&sets)
            .into_iter()
            .map(|method| (method.path.clone(), method))
            .collect();
        Contract { methods }
    }
}

impl Contract {
    /// The method at `path`, if the contract has it.
    pub fn method(&self, path: &str) -> Option<&Method> {
        self.methods.get(path)
    }

    /// A message of type `type_name` decoded and printed as Rust would debug-print it, or
    /// `None` for a type this binary has no generated code for, or bytes that do not
    /// decode as that type.
    pub fn decode(&self, type_name: &str, bytes: &[u8]) -> Option<String> {
        use tonic_health::pb as health;
        match type_name {
            "tour.SumRequest" => shown::<proto::SumRequest>(bytes),
            "tour.SumResponse" => shown::<proto::SumResponse>(bytes),
            "tour.WeFoundHim" => shown::<proto::WeFoundHim>(bytes),
            "tour.DidYouReally" => shown::<proto::DidYouReally>(bytes),
            "tour.Point" => shown::<proto::Point>(bytes),
            "tour.Rectangle" => shown::<proto::Rectangle>(bytes),
            "tour.Feature" => shown::<proto::Feature>(bytes),
            "tour.RouteNote" => shown::<proto::RouteNote>(bytes),
            "tour.RouteSummary" => shown::<proto::RouteSummary>(bytes),
            "grpc.health.v1.HealthCheckRequest" => shown::<health::HealthCheckRequest>(bytes),
            "grpc.health.v1.HealthCheckResponse" => shown::<health::HealthCheckResponse>(bytes),
            _ => None,
        }
    }
}

fn shown<M: Message + Default + Debug>(bytes: &[u8]) -> Option<String> {
    M::decode(bytes).ok().map(|message| format!("{message:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_of_the_tour_or_of_health_names_its_method_and_no_other_does() {
        let contract = Contract::default();
        let method = |path: &str| contract.method(path).map(|method| method.name.as_str());
        assert_eq!(method("/tour.RouteGuide/RouteChat"), Some("RouteChat"));
        assert_eq!(method("/grpc.health.v1.Health/Watch"), Some("Watch"));
        assert_eq!(method("/tour.Summator/Subtract"), None);
        // Reflection's messages are not decoded here: its methods are not in the contract.
        let reflection = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
        assert_eq!(method(reflection), None);
    }

    #[test]
    fn a_message_decodes_by_its_type_name_and_garbage_does_not() {
        let contract = Contract::default();
        let bytes = proto::SumRequest {
            value1: 2.0,
            value2: 3.0,
        }
        .encode_to_vec();
        assert_eq!(
            contract.decode("tour.SumRequest", &bytes).as_deref(),
            Some("SumRequest { value1: 2.0, value2: 3.0 }")
        );
        assert_eq!(contract.decode("tour.Unknown", &bytes), None);
        assert_eq!(contract.decode("tour.SumRequest", &[0xff]), None);
    }
}
