//! Server reflection, both `grpc.reflection.v1` and the older `v1alpha`: a client with no
//! `.proto` file can list the services and fetch their descriptors.

use futures::stream;
use prost::Message;
use prost_types::{FileDescriptorProto, FileDescriptorSet};
use tonic_reflection::pb::{v1, v1alpha};

use crate::support::{TestServer, spawn_server, test_config};

/// The services a client should find, sorted, beside the reflection service it is asking.
const LISTED: [&str; 4] = [
    "grpc.health.v1.Health",
    "tour.Dune",
    "tour.RouteGuide",
    "tour.Summator",
];

/// A server with a token: reflection must stay open without it.
async fn spawn_guarded_server() -> TestServer {
    spawn_server(grpc_tour::production::server::Config {
        token: Some("sesame".to_owned()),
        ..test_config()
    })
    .await
}

fn decode_files(files: Vec<Vec<u8>>) -> Vec<FileDescriptorProto> {
    files
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).unwrap())
        .collect()
}

fn assert_describes_the_tour(files: &[FileDescriptorProto]) {
    let tour = files
        .iter()
        .find(|file| file.package() == "tour")
        .expect("the tour's file is sent");
    let services: Vec<&str> = tour.service.iter().map(|s| s.name()).collect();
    assert_eq!(services, ["Summator", "Dune", "RouteGuide"]);
    let route_guide = &tour.service[2];
    let methods: Vec<&str> = route_guide.method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        ["GetFeature", "ListFeatures", "RecordRoute", "RouteChat"]
    );
    // The streaming flags are what lets a tool call each RPC the right way.
    assert!(route_guide.method[3].client_streaming() && route_guide.method[3].server_streaming());
}

/// One test per reflection protocol: the two have the same messages in different packages.
macro_rules! lists_services_and_describes_the_tour {
    ($test:ident, $protocol:ident, $reflection:literal) => {
        #[tokio::test]
        async fn $test() {
            use $protocol::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };
            let server = spawn_guarded_server().await;
            let mut reflection = ServerReflectionClient::new(server.channel().await);
            let ask = |request| ServerReflectionRequest {
                host: String::new(),
                message_request: Some(request),
            };
            let requests = stream::iter([
                ask(MessageRequest::ListServices(String::new())),
                ask(MessageRequest::FileContainingSymbol(
                    "tour.RouteGuide".to_owned(),
                )),
            ]);

            let mut answers = reflection
                .server_reflection_info(requests)
                .await
                .unwrap()
                .into_inner();

            let Some(MessageResponse::ListServicesResponse(list)) =
                answers.message().await.unwrap().unwrap().message_response
            else {
                panic!("the first answer lists the services");
            };
            let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            names.sort();
            let mut expected = Vec::from(LISTED);
            expected.insert(1, $reflection);
            assert_eq!(names, expected);
            let Some(MessageResponse::FileDescriptorResponse(files)) =
                answers.message().await.unwrap().unwrap().message_response
            else {
                panic!("the second answer holds file descriptors");
            };
            assert_describes_the_tour(&decode_files(files.file_descriptor_proto));
        }
    };
}

lists_services_and_describes_the_tour!(
    v1_lists_and_describes_without_a_token,
    v1,
    "grpc.reflection.v1.ServerReflection"
);
lists_services_and_describes_the_tour!(
    v1alpha_for_older_tools_answers_the_same,
    v1alpha,
    "grpc.reflection.v1alpha.ServerReflection"
);

#[test]
fn the_descriptor_set_built_into_the_binary_is_the_proto() {
    let set = FileDescriptorSet::decode(grpc_tour::lesson::proto::FILE_DESCRIPTOR_SET).unwrap();
    assert_describes_the_tour(&set.file);
}
