//! Mp1 over TLS with client certificates (auth = "mtls"): certificates made
//! by the openssl command line tool (an independent implementation), the
//! identity in the certificate names the app.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

fn leaf(dir: &Path, name: &str, ca: &str, cn: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// GET over TLS with an optional client certificate; `Err` when the TLS
/// handshake or the request fails.
async fn get(
    addr: std::net::SocketAddr,
    dir: &Path,
    client: Option<&str>,
    path: &str,
) -> Result<u16, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let cfg = match client {
        Some(name) => {
            let chain: Vec<_> = CertificateDer::pem_file_iter(dir.join(format!("{name}.crt")))
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
            let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = s.send_request(req).await.map_err(|e| e.to_string())?;
    let st = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    Ok(st)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_identify_apps() {
    let dir = TempDir::new("mtls");
    let d = dir.path();
    ca(d, "ca");
    ca(d, "rogue");
    leaf(
        d,
        "server",
        "ca",
        "mp1",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    let client_ext = |san: &str| {
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    };
    // app1 by its SAN DNS name, app2 by its subject CN.
    leaf(
        d,
        "app1",
        "ca",
        "some-host",
        &client_ext("DNS:app1.mec.example"),
    );
    leaf(
        d,
        "app2",
        "ca",
        "app2.mec.example",
        &client_ext("URI:urn:x-test:other"),
    );
    leaf(
        d,
        "stranger",
        "ca",
        "stranger",
        &client_ext("DNS:stranger.example"),
    );
    leaf(
        d,
        "forged",
        "rogue",
        "app1.mec.example",
        &client_ext("DNS:app1.mec.example"),
    );
    let extra = format!(
        "tls_cert = \"{0}/server.crt\"\ntls_key = \"{0}/server.key\"\nclient_ca = \"{0}/ca.crt\"",
        d.display()
    );
    let s = mec_services::start(&config(d, "h1", "mtls", &extra), opts())
        .await
        .unwrap();
    let own = "/mec_app_support/v1/applications/app1/traffic_rules";
    let other = "/mec_app_support/v1/applications/app2/dns_rules";
    assert_eq!(get(s.addr, d, Some("app1"), own).await, Ok(200));
    assert_eq!(get(s.addr, d, Some("app1"), other).await, Ok(403));
    assert_eq!(get(s.addr, d, Some("app2"), other).await, Ok(200));
    assert_eq!(get(s.addr, d, Some("app2"), own).await, Ok(403));
    assert_eq!(
        get(s.addr, d, Some("app2"), "/mec_service_mgmt/v1/services").await,
        Ok(200)
    );
    // Valid chain, but no app has that identity.
    assert_eq!(get(s.addr, d, Some("stranger"), own).await, Ok(401));
    // No certificate, or one from another CA: no TLS session.
    assert!(get(s.addr, d, None, own).await.is_err());
    assert!(get(s.addr, d, Some("forged"), own).await.is_err());
    s.shutdown().await;
}
