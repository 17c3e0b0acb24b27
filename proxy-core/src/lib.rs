//! # proxy-core: the CS:APP Proxy Lab proxy, minus the accept loop
//!
//! The lab's proxy reads a request from a client, checks and rewrites it,
//! forwards it to the origin server as HTTP/1.0 and relays the answer back
//! byte for byte. This crate does all of that once, so the three binaries
//! (`proxy-seq`, `proxy-thread`, `proxy-async`) differ only in how they
//! accept and dispatch connections — the lesson of each step of the lab.
//!
//! # Layout
//!
//! One module per step of a request, in the order a request meets them:
//!
//! | module | the lab's C | owns |
//! |---|---|---|
//! | [`config`] | `main`'s `argv` | the command line and every limit/timeout |
//! | [`server`] | `main`, `Open_listenfd`, the `Accept` loop's frame | binding, `listening on`, admission (connection limit, `503`); `server/shutdown.rs`: signals, the connection count shutdown waits on |
//! | [`limits`] | — | open files, `accept` backoff, kernel memory per connection |
//! | [`head`] | `Rio_readlineb`, `read_requesthdrs` | collecting the request head within limits |
//! | [`request`] | `sscanf` in `doit`, `parse_uri` | parsing the head and the target URI |
//! | [`rewrite`] | building the request headers | the exact request sent to the origin |
//! | [`deny`] | — | the `--deny` list (403): names, addresses, networks |
//! | [`proxy`] | the pure part of `doit` | shared state, `prepare` |
//! | [`connect`] | `open_clientfd` | reaching the origin (502/504/508) |
//! | [`tunnel`] | — (the lab answers `CONNECT` with 501) | `CONNECT` tunnels: policy, and the two-way relays (`tunnel/pump*.rs`) |
//! | [`relay`] | the `Rio_readnb`/`Rio_writen` loop | streaming the response; `relay/progress.rs`: the idle deadline; `relay/kernel.rs`: splice and `SIOCOUTQ`, the relay's `unsafe` |
//! | [`lazy`] | — | the async variant's sockets: system call first, epoll only to wait |
//! | [`cache`] | part III's cache | the shared LRU cache |
//! | [`cache_policy`] | — | what a shared cache may store and serve |
//! | [`doit`], [`doit_async`] | `doit` | one connection, blocking or tokio |
//! | [`error`] | `clienterror` | error types, one status each, error pages |
//! | [`outcome`] | — | the one log line per request |
//! | [`sigpipe`] | `Signal(SIGPIPE, SIG_IGN)` | why Rust survives, and `--sigpipe default` |
//! | [`threads`] | `pthread_create` + `pthread_detach` | `proxy-thread`'s threads, reused after a connection |

pub mod cache;
pub mod cache_policy;
pub mod config;
pub mod connect;
pub mod deny;
pub mod doit;
pub mod doit_async;
pub mod error;
pub mod head;
pub mod lazy;
pub mod limits;
pub mod outcome;
pub mod proxy;
pub mod relay;
pub mod request;
pub mod rewrite;
pub mod server;
pub mod sigpipe;
pub mod threads;
pub mod tunnel;

#[cfg(test)]
mod test_support;

pub use config::Config;
pub use error::ProxyError;
pub use proxy::Proxy;
pub use server::Server;
