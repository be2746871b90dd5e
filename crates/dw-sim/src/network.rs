//! Where requests come from: client addresses and user agents.
//!
//! Homes and phones sit on residential and mobile-carrier networks, servers
//! on hosting networks. The first octets below are drawn from ranges those
//! networks really announce, so a detector that keeps an ASN table could
//! tell them apart; the simulator never relies on that itself.

use std::net::{IpAddr, Ipv4Addr};

use rand::Rng;
use rand::seq::IndexedRandom;

const RESIDENTIAL_FIRST_OCTETS: [u8; 24] =
    [24, 47, 67, 68, 71, 73, 75, 76, 81, 82, 86, 90, 92, 95, 98, 99, 109, 112, 118, 121, 175, 177, 187, 189];
const HOSTING_FIRST_OCTETS: [u8; 20] =
    [3, 13, 18, 34, 35, 44, 52, 54, 104, 137, 138, 139, 143, 146, 157, 159, 161, 164, 167, 178];

/// A /24 network: the first three octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet(pub [u8; 3]);

impl Subnet {
    /// A residential subnet.
    pub fn residential<R: Rng>(rng: &mut R) -> Self {
        Self([*RESIDENTIAL_FIRST_OCTETS.choose(rng).unwrap_or(&24), rng.random(), rng.random()])
    }

    /// A hosting (cloud, VPS) subnet.
    pub fn hosting<R: Rng>(rng: &mut R) -> Self {
        Self([*HOSTING_FIRST_OCTETS.choose(rng).unwrap_or(&34), rng.random(), rng.random()])
    }

    /// A host in this subnet.
    pub fn host<R: Rng>(&self, rng: &mut R) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(self.0[0], self.0[1], self.0[2], rng.random_range(2..=254)))
    }
}

/// A /16 network shared by many unrelated people (a campus, a carrier's NAT pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedPrefix(pub [u8; 2]);

impl SharedPrefix {
    /// A prefix on a residential-looking range.
    pub fn new<R: Rng>(rng: &mut R) -> Self {
        Self([*RESIDENTIAL_FIRST_OCTETS.choose(rng).unwrap_or(&24), rng.random()])
    }

    /// A host anywhere in the prefix.
    pub fn host<R: Rng>(&self, rng: &mut R) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(self.0[0], self.0[1], rng.random(), rng.random_range(2..=254)))
    }
}

/// A user agent of the official Python SDK, of a version current in late 2026.
pub fn python_sdk<R: Rng>(rng: &mut R) -> String {
    let client = if rng.random_bool(0.3) { "AsyncOpenAI" } else { "OpenAI" };
    format!("{client}/Python 1.{}.{}", rng.random_range(40..=58), rng.random_range(0..=4))
}

/// A user agent of the official JavaScript SDK.
pub fn js_sdk<R: Rng>(rng: &mut R) -> String {
    format!("OpenAI/JS 4.{}.{}", rng.random_range(60..=79), rng.random_range(0..=3))
}

/// One of the official SDKs, Python more often.
pub fn sdk<R: Rng>(rng: &mut R) -> String {
    if rng.random_bool(0.7) { python_sdk(rng) } else { js_sdk(rng) }
}

/// A plain HTTP client, as scripts and services without an SDK use.
pub fn http_client<R: Rng>(rng: &mut R) -> String {
    let options = [
        "python-requests/2.32.3",
        "python-httpx/0.27.2",
        "curl/8.5.0",
        "Go-http-client/2.0",
        "axios/1.7.7",
        "okhttp/4.12.0",
    ];
    (*options.choose(rng).unwrap_or(&"curl/8.5.0")).to_owned()
}

/// A desktop or mobile chat client that calls the API with the user's key.
pub fn chat_client<R: Rng>(rng: &mut R) -> String {
    let options = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "ChatBox/1.9.2",
        "BoltAI/1.28 (macOS)",
    ];
    (*options.choose(rng).unwrap_or(&"ChatBox/1.9.2")).to_owned()
}
