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
/// private (RFC 1918, ULA, the deprecated site-local fec0::/10), link-local
/// (the cloud metadata address), shared (CGNAT), unspecified, multicast,
/// broadcast, documentation or otherwise reserved.
///
/// An IPv6 address that carries an IPv4 address is judged by the IPv4
/// address it carries, since that is where a stack that understands the
/// form may deliver it: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, deprecated), IPv4-translated (`::ffff:0:a.b.c.d`), 6to4
/// (`2002:AABB:CCDD::/48` carries `A.B.C.D`) and Teredo (`2001:0::/32`,
/// whose server and XOR-obfuscated client addresses are both checked).
/// NAT64 prefixes are refused outright: the gateway may map them inward.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if v6.is_loopback() || v6.is_unspecified() {
                return false;
            }
            let s = v6.segments();
            let v4_at = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
            // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (translated).
            if s[..5] == [0; 5] && matches!(s[5], 0 | 0xffff)
                || s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0
            {
                return is_public_v4(v4_at(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return is_public_v4(v4_at(s[1], s[2]));
            }
            if s[0] == 0x2001 && s[1] == 0 {
                return is_public_v4(v4_at(s[2], s[3])) && is_public_v4(v4_at(!s[6], !s[7]));
            }
            !(v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated, still routed inward)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0100 && s[1..4] == [0; 3]) // discard-only 100::/64
                || (s[0] == 0x0064 && s[1] == 0xff9b)) // NAT64 64:ff9b::/96 and 64:ff9b:1::/48: may map inward
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

/// The guard for a call through a forward proxy (`outbound.proxy`): the
/// proxy resolves and connects to the target, so the resolver above never
/// sees it. The target's host is checked here instead, before the call: an
/// inward IP literal or `localhost` is refused, and a name must resolve
/// here to public addresses only. A name that does not resolve here is
/// refused too (the guard cannot vouch for it); the proxy may still resolve
/// it differently a moment later, which is why `outbound.proxy` is for
/// proxies ops trust and `allow_private_networks` stays off.
///
/// # Errors
/// [`Error::Permanent`] for an inward target, [`Error::Retryable`] when
/// the name does not resolve.
pub async fn check_proxied_target(url: &Url) -> Result<()> {
    if let Some(ip) = inward_address(url) {
        return Err(Error::permanent(format!(
            "not sent through the proxy: the target {}",
            inward_message(ip)
        )));
    }
    let Some(Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| {
            Error::Retryable(format!(
                "not sent through the proxy: {name} does not resolve here, so the SSRF guard \
                 cannot check it ({e})"
            ))
        })?
        .collect();
    if let Some(inward) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(Error::permanent(format!(
            "not sent through the proxy: {name} resolves to {}, a private, loopback or reserved \
             address; set outbound.allow_private_networks = true if this receiver really is on \
             your network",
            inward.ip()
        )));
    }
    if addrs.is_empty() {
        return Err(Error::Retryable(format!(
            "not sent through the proxy: {name} resolves to no address"
        )));
    }
    Ok(())
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
            // The probe's literals (issue 18) and their relatives.
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:0:127.0.0.1",
            "fec0::1",
            "feff::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:f5ff:fffe", // Teredo client 10.0.0.1
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:93.184.216.34",
            "2002:5db8:d822::1",                    // 6to4 of 93.184.216.34
            "2001:0:4136:e378:8000:63bf:a247:27dd", // Teredo of public addresses
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    /// The IPv6 forms that carry an IPv4 address, filled with generated
    /// addresses: each form of an address is public exactly when the
    /// address is, and an inward one is refused as a URL literal.
    mod embedded_v4 {
        use proptest::prelude::*;

        use super::*;

        fn forms(v4: Ipv4Addr) -> Vec<Ipv6Addr> {
            let [a, b] = [(u32::from(v4) >> 16) as u16, u32::from(v4) as u16];
            // Teredo with a public server and `v4` as the client (obfuscated).
            let teredo_client = Ipv6Addr::new(0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, !a, !b);
            // Teredo with `v4` as the server and a public client.
            let teredo_server = Ipv6Addr::new(0x2001, 0, a, b, 0, 0, !0x5db8, !0xd822);
            vec![
                v4.to_ipv6_mapped(),
                Ipv6Addr::new(0, 0, 0, 0, 0, 0, a, b),
                Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, a, b),
                Ipv6Addr::new(0x2002, a, b, 0, 0, 0, 0, 1),
                teredo_client,
                teredo_server,
            ]
        }

        /// Addresses from the ranges the guard refuses, and anything.
        fn inward_v4() -> impl Strategy<Value = Ipv4Addr> {
            prop_oneof![
                any::<u32>().prop_map(|x| Ipv4Addr::from(0x7f00_0000 | (x & 0x00ff_ffff))),
                any::<u32>().prop_map(|x| Ipv4Addr::from(0x0a00_0000 | (x & 0x00ff_ffff))),
                any::<u32>().prop_map(|x| Ipv4Addr::from(0xac10_0000 | (x & 0x000f_ffff))),
                any::<u32>().prop_map(|x| Ipv4Addr::from(0xc0a8_0000 | (x & 0x0000_ffff))),
                any::<u32>().prop_map(|x| Ipv4Addr::from(0xa9fe_0000 | (x & 0x0000_ffff))),
                any::<u32>().prop_map(|x| Ipv4Addr::from(0x6440_0000 | (x & 0x003f_ffff))),
            ]
        }

        proptest! {
            #[test]
            fn every_form_of_an_inward_address_is_refused(v4 in inward_v4()) {
                for v6 in forms(v4) {
                    prop_assert!(!is_public(IpAddr::V6(v6)), "{v6} carries {v4}");
                    let url = Url::parse(&format!("http://[{v6}]:8080/hook")).unwrap();
                    prop_assert!(check_url("x", &url, false).is_err(), "{url}");
                }
            }

            #[test]
            fn a_form_is_public_exactly_when_its_address_is(v4 in any::<u32>().prop_map(Ipv4Addr::from)) {
                // `::a.b.c.d` with a = b = 0 is `::` or `::1`-like: skip the
                // addresses whose compatible form is a special IPv6 address.
                prop_assume!(u32::from(v4) > 0xffff);
                for v6 in forms(v4) {
                    prop_assert_eq!(is_public(IpAddr::V6(v6)), is_public_v4(v4), "{} carries {}", v6, v4);
                }
            }
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
        let inward = Url::parse("http://10.1.2.3/v3").unwrap();
        let mut greenhouse = GreenhouseConfig::new("client", "secret", "9001");
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

    /// With `outbound.proxy`, the proxy (on loopback here, as proxies on
    /// private addresses usually are) is reached, but the guard judges each
    /// call's target: an inward one never reaches the proxy, a public one
    /// goes through it.
    #[tokio::test]
    async fn through_a_proxy_the_guard_checks_the_target_not_the_proxy() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_addr = proxy.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = proxy.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                log.lock().unwrap().push(line);
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        let options = crate::outbound::http::HttpOptions {
            proxy: Some(crate::outbound::http::ProxyUrl(
                Url::parse(&format!("http://{proxy_addr}")).unwrap(),
            )),
            ..Default::default()
        };
        assert!(options.guards_targets());
        for inward in [
            "http://[::ffff:10.0.0.1]/hook",
            "http://[2002:7f00:1::]/hook",
            "http://localhost:9/hook",
            "http://127.0.0.1:9/hook",
        ] {
            let err = options
                .check_target(&Url::parse(inward).unwrap())
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Permanent(_)), "{inward}: {err:?}");
        }
        let public = Url::parse("http://93.184.216.34/hook").unwrap();
        options
            .check_target(&public)
            .await
            .expect("a public target passes");
        let client = options.build_client().unwrap();
        let answer = client.post(public).send().await.expect("the proxy answers");
        assert_eq!(answer.status(), 204);
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["POST http://93.184.216.34/hook HTTP/1.1".to_owned()],
            "only the public call reached the proxy"
        );

        // With private networks allowed the guard is off, proxy or not.
        let open = crate::outbound::http::HttpOptions {
            allow_private_networks: true,
            ..options
        };
        assert!(!open.guards_targets());
        open.check_target(&Url::parse("http://127.0.0.1:9/").unwrap())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_name_that_resolves_inward_is_refused() {
        let name: Name = "localhost".parse().unwrap();
        let result = GuardedResolver.resolve(name).await;
        assert!(result.is_err(), "localhost resolves to loopback only");
    }
}
