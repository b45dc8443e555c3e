//! apid node routing: `node` and single-target `nodes` metadata reach another node of the
//! cluster; several `nodes` targets at once are refused clearly (not modelled).

use std::net::{IpAddr, SocketAddr};

use tonic::Request;

use super::support::{Cluster, Shape, apid};

#[tokio::test]
async fn node_metadata_routes_to_one_node_and_several_targets_are_refused() {
    let c = Cluster::start(
        "127.45.0.1".parse().unwrap(),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    let mut client = apid(SocketAddr::new(IpAddr::V4(c.ips[0]), 50000))
        .await
        .unwrap();
    for key in ["node", "nodes"] {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert(key, c.ips[1].to_string().parse().unwrap());
        let reply = client.version(request).await.unwrap().into_inner();
        assert_eq!(
            reply.messages[0].metadata.as_ref().unwrap().hostname,
            "prod-general-1",
            "{key}"
        );
    }
    let mut request = Request::new(());
    let both = format!("{},{}", c.ips[0], c.ips[1]);
    request
        .metadata_mut()
        .insert("nodes", both.parse().unwrap());
    let refused = client.version(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented);
    assert!(
        refused.message().contains("several nodes"),
        "{}",
        refused.message()
    );
    c.stop().await;
}
