//! The small actix-web servers tests run beside the service on 127.0.0.1 (a FHIR stub, a test EHR,
//! an OTLP receiver): one worker, no signal handling, stopped at once through their handle.

use std::net::TcpListener;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

/// A listener on a free loopback port, and the port (bind first: the server's state may need its
/// own address).
pub fn bind() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let port = listener.local_addr().expect("bound address").port();
    (listener, port)
}

/// Serves the routes `configure` declares on `listener`, on the current tokio runtime.
pub fn serve(
    listener: TcpListener,
    configure: impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
) -> ServerHandle {
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}
