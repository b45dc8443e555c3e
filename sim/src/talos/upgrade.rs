//! The Talos 1.13+ upgrade path: `ImageService.Pull` of the installer image, then
//! `LifecycleService.Upgrade` from it (the image must have been pulled on that node), then
//! `MachineService.Reboot`. The installed version boots at that reboot (after the latency model's
//! `talos_reboot`); until then the node reports the version it runs.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::apid::NodeApi;
use super::proto::machine::image_service_server::ImageService;
use super::proto::machine::lifecycle_service_server::LifecycleService;
use super::proto::machine::{
    ImageServicePullRequest, ImageServicePullResponse, LifecycleServiceInstallProgress,
    LifecycleServiceUpgradeRequest, LifecycleServiceUpgradeResponse, image_service_pull_response,
    lifecycle_service_install_progress,
};

type Replies<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl ImageService for NodeApi {
    async fn pull(
        &self,
        request: Request<ImageServicePullRequest>,
    ) -> Result<Response<Replies<ImageServicePullResponse>>, Status> {
        let id = self.routed(&request, true)?;
        let image = request.get_ref().image_ref.clone();
        if image.is_empty() || !image.contains(':') {
            return Err(Status::invalid_argument(format!(
                "image reference {image:?} has no tag"
            )));
        }
        self.installer_schematic(&image)?;
        let mut fleet = self.sim.lock();
        let node = NodeApi::up(&mut fleet, id)?;
        if !node.pulled_images.contains(&image) {
            node.pulled_images.push(image.clone());
        }
        let reply = ImageServicePullResponse {
            response: Some(image_service_pull_response::Response::Name(image)),
        };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(reply)))))
    }
}

#[tonic::async_trait]
impl LifecycleService for NodeApi {
    async fn upgrade(
        &self,
        request: Request<LifecycleServiceUpgradeRequest>,
    ) -> Result<Response<Replies<LifecycleServiceUpgradeResponse>>, Status> {
        let id = self.routed(&request, true)?;
        let image = request
            .get_ref()
            .source
            .as_ref()
            .map(|s| s.image_name.clone())
            .unwrap_or_default();
        let schematic = self.installer_schematic(&image)?;
        let mut fleet = self.sim.lock();
        let node = NodeApi::up(&mut fleet, id)?;
        if !node.pulled_images.contains(&image) {
            return Err(Status::failed_precondition(format!(
                "installer image {image:?} was not pulled on this node (ImageService.Pull first)"
            )));
        }
        // LifecycleService.Upgrade only installs: the new version boots at the next Reboot,
        // which `talosctl upgrade` (1.13+) sends once the installer reported success.
        self.start_upgrade(node, &image, schematic, false)?;
        let progress = |r| {
            Ok(LifecycleServiceUpgradeResponse {
                progress: Some(LifecycleServiceInstallProgress { response: Some(r) }),
            })
        };
        let replies = vec![
            progress(lifecycle_service_install_progress::Response::Message(
                format!("upgrading to {image}"),
            )),
            progress(lifecycle_service_install_progress::Response::ExitCode(0)),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(replies))))
    }
}
