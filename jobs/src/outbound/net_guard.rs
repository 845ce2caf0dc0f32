//! The SSRF guard for every outbound HTTP call (ATS APIs, the bonus
//! destination, status sync, CRM, alerts).
//!
//! The URLs come from configuration, but configuration is typed in by
//! people and read from environments: a destination pointed (by mistake or
//! by an attacker who can change one setting) at `http://169.254.169.254/`
//! or `http://10.0.0.5:6379/` would make this service POST signed data into
//! the cloud metadata endpoint or the private network. So, unless
//! `allow_private` is set (local development, tests, an on-premise
//! receiver):
//!
//! * a URL whose host is an IP literal in a non-public range is refused
//!   when the client is built ([`check_url`]);
//! * a host *name* is resolved by [`GuardedResolver`], which drops every
//!   non-public address and fails the connection when none is left, so a
//!   name that resolves to a private address (DNS rebinding included: the
//!   check is on the address actually connected to) is refused too.
//!
//! Redirects are never followed (every client is built with
//! `redirect::Policy::none()`), so a public receiver cannot bounce a call
//! inward either. Called by [`super::http::HttpOptions::build_client`] and
//! the outbound clients' constructors.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::error::{Error, Result};

/// Whether `ip` is reachable from the public internet: not loopback,
/// private (RFC 1918, ULA), link-local (the cloud metadata address),
/// shared (CGNAT), unspecified, multicast, broadcast, documentation or
/// otherwise reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b)) // NAT64: may map inward
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

/// Refuses a URL that is not http(s), or whose host is an IP literal in a
/// non-public range, unless `allow_private`.
///
/// # Errors
/// [`Error::Invalid`] naming `field` and what is wrong (never the URL's
/// query, which may hold a credential).
pub fn check_url(field: &str, url: &Url, allow_private: bool) -> Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid(
            field,
            format!("must be http or https, not {}", url.scheme()),
        ));
    }
    if url.host().is_none() {
        return Err(Error::invalid(field, "must name a host"));
    }
    if let Some(ip) = inward_address(url)
        && !allow_private
    {
        return Err(Error::invalid(field, inward_message(ip)));
    }
    Ok(())
}

/// The non-public address `url` names without a DNS lookup (an IP literal,
/// or `localhost`), if any. Host names are left to [`GuardedResolver`].
pub fn inward_address(url: &Url) -> Option<IpAddr> {
    let ip = match url.host()? {
        Host::Ipv4(v4) => IpAddr::V4(v4),
        Host::Ipv6(v6) => IpAddr::V6(v6),
        Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => IpAddr::V6(Ipv6Addr::LOCALHOST),
        Host::Domain(_) => return None,
    };
    (!is_public(ip)).then_some(ip)
}

/// Why an inward URL is refused, and the setting that allows it.
pub fn inward_message(ip: IpAddr) -> String {
    format!(
        "points at {ip}, a private, loopback or reserved address; set \
         outbound.allow_private_networks = true if this receiver really is on your network"
    )
}

/// A DNS resolver that keeps only public addresses (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = host.clone();
            // The system resolver, off the async threads, as hyper's own does.
            let addrs: Vec<SocketAddr> =
                tokio::task::spawn_blocking(move || (lookup.as_str(), 0).to_socket_addrs())
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
                    .collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves only to private, loopback or reserved addresses; refused \
                     (outbound.allow_private_networks is off)"
                )
                .into();
                return Err(refused);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// The resolver for a client: guarded unless `allow_private`.
pub fn resolver(allow_private: bool) -> Option<Arc<GuardedResolver>> {
    (!allow_private).then_some(Arc::new(GuardedResolver))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ip_literals_inward_are_refused_unless_allowed() {
        let metadata = Url::parse("http://169.254.169.254/latest/meta-data").unwrap();
        assert!(matches!(
            check_url("payouts.destination_url", &metadata, false),
            Err(Error::Invalid { field, .. }) if field == "payouts.destination_url"
        ));
        assert!(check_url("x", &metadata, true).is_ok());
        let local = Url::parse("http://localhost:8080/hook").unwrap();
        assert!(check_url("x", &local, false).is_err());
        let public = Url::parse("https://bonus.example.com/hook").unwrap();
        assert!(check_url("x", &public, false).is_ok());
        let ftp = Url::parse("ftp://bonus.example.com/").unwrap();
        assert!(check_url("x", &ftp, true).is_err());
    }

    fn destination(url: &str) -> crate::outbound::webhook::Destination {
        crate::outbound::webhook::Destination::new(
            "bonus-system",
            Url::parse(url).unwrap(),
            "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=",
            std::num::NonZeroU32::MIN,
        )
    }

    #[test]
    fn an_outbound_destination_pointing_inward_is_refused_unless_allowed() {
        use crate::outbound::webhook::{OutboundClient, OutboundOptions};
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:9000/hook",
            "http://[fd00::1]/hook",
            "http://localhost/hook",
        ] {
            assert!(
                matches!(
                    OutboundClient::new(destination(url)),
                    Err(Error::Invalid { field, .. }) if field == "url"
                ),
                "{url} must be refused by default"
            );
            let mut options = OutboundOptions::default();
            options.http.allow_private_networks = true;
            assert!(
                OutboundClient::with_options(destination(url), &options).is_ok(),
                "{url} is allowed when configured"
            );
        }
        assert!(OutboundClient::new(destination("https://bonus.example.com/hook")).is_ok());
    }

    #[test]
    fn an_ats_base_url_pointing_inward_is_refused_unless_allowed() {
        use crate::connectors::{
            greenhouse::{GreenhouseClient, GreenhouseConfig},
            lever::{LeverClient, LeverConfig},
        };
        let inward = Url::parse("http://10.1.2.3/v1").unwrap();
        let mut greenhouse = GreenhouseConfig::new("key", "9001");
        greenhouse.base_url = inward.clone();
        assert!(matches!(
            GreenhouseClient::new(greenhouse.clone()),
            Err(Error::Invalid { field, .. }) if field == "base_url"
        ));
        greenhouse.http.allow_private_networks = true;
        assert!(GreenhouseClient::new(greenhouse).is_ok());
        let mut lever = LeverConfig::new("key");
        lever.base_url = inward;
        assert!(LeverClient::new(lever.clone()).is_err());
        lever.http.allow_private_networks = true;
        assert!(LeverClient::new(lever).is_ok());
    }

    /// The client [`super::http::HttpOptions::build_client`] makes resolves
    /// names through the guard: a name that resolves to loopback never
    /// gets a connection, unless private networks are allowed.
    #[tokio::test]
    async fn a_guarded_client_never_connects_to_a_name_that_resolves_inward() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://localhost:{port}/hook");
        async fn accepted(listener: &tokio::net::TcpListener) -> bool {
            tokio::time::timeout(std::time::Duration::from_millis(300), listener.accept())
                .await
                .is_ok()
        }

        let guarded = crate::outbound::http::HttpOptions::default()
            .build_client()
            .unwrap();
        let err = guarded.get(&url).send().await.unwrap_err();
        assert!(err.is_connect() || err.is_request(), "{err:?}");
        assert!(!accepted(&listener).await, "the guarded client connected");

        let open = crate::outbound::http::HttpOptions {
            allow_private_networks: true,
            timeout: std::time::Duration::from_millis(200),
            connect_timeout: std::time::Duration::from_millis(100),
            ..Default::default()
        }
        .build_client()
        .unwrap();
        let request = tokio::spawn(async move { open.get(&url).send().await });
        assert!(accepted(&listener).await, "an allowed client connects");
        request.abort();
    }

    #[tokio::test]
    async fn a_name_that_resolves_inward_is_refused() {
        let name: Name = "localhost".parse().unwrap();
        let result = GuardedResolver.resolve(name).await;
        assert!(result.is_err(), "localhost resolves to loopback only");
    }
}
