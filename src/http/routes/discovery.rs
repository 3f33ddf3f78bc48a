use actix_web::HttpResponse;

use crate::cds_hooks::discovery::{DiscoveryResponse, discovery};

/// List the CDS Services this deployment offers.
///
/// The EHR calls this once (at registration or start-up) to learn each service's `id`, the hook
/// it answers and the prefetch templates: FHIR queries the EHR should run and send along with every
/// call, so that the service need not call back into the EHR.
#[utoipa::path(
    get, path = "/cds-services", tag = "CDS Hooks",
    responses((status = 200, description = "The services offered", body = DiscoveryResponse))
)]
pub async fn list_services() -> HttpResponse {
    HttpResponse::Ok().json(discovery())
}
