//! Local replicas of the provider chat web apps that switchyard drives.
//!
//! Each replica is a small axum server that looks, to a browser driver, exactly like the real
//! site: the same DOM hooks in its page, the same endpoint paths, the same streamed wire format.
//! Only the base URL differs. Tests, the demo and the bench start one with
//! [`ReplicaServer::start`], point a lane at [`ReplicaServer::base_url`] and then read what the
//! site received through [`ReplicaServer::requests`] / [`ReplicaServer::wait_for`].
//!
//! **Architecture Invariant:** this crate knows nothing of the gateway. It must not depend on
//! `switchyard` or `switchyard-decode`; if it shared their wire types, a round-trip test through a
//! replica could not fail.
//!
//! # Behaviour
//! - The answer is deterministic (see [`answer`]), so a test can assert the text end to end.
//! - [`Knobs`] set the pacing for every request; directives inside the prompt
//!   (`replica:chunks=3`, `replica:fault=stall`, …; see [`faults`]) override them per request.
//! - Every completion request is logged as a [`ReceivedRequest`] whose [`Outcome`] follows the
//!   stream: `Streaming` → `Completed` / `Stopped` / `Fault`.
//! - Out-of-process tools use `GET /__replica/requests`, `POST /__replica/reset`,
//!   `GET|POST /__replica/knobs` on every replica.
//!
//! # Layout
//! - [`site`]: the [`Site`] enum.
//! - [`clock`]: the monotonic clock behind stamps and log times.
//! - [`knobs`]: pacing knobs shared by every request.
//! - [`faults`]: per-request directives parsed from the prompt, and the fault list.
//! - [`answer`]: the deterministic reasoning and answer text.
//! - [`log`]: the request log and its change notifications.
//! - `heavy`: pages as heavy as the real sites' ([`ReplicaServer::set_heavy`]).
//! - [`hooks`]: a page that renamed one of its hooks, as a site redesign would.
//! - `stream`: paces a scripted streamed body (SSE or binary frames) and tracks its end (drop guard).
//! - `server`: [`ReplicaServer`], the admin endpoints.
//! - `google_signin`: Google's sign-in pages (identifier, password, 2-Step Verification, OAuth
//!   consent), served by the Kimi and AI Studio replicas on Google's paths.
//! - `aistudio`, `deepseek`, `glm`, `huggingchat`, `mimo`, `moonshot`, `perplexity`, `qwen`: one folder per site: routes, wire builder, page HTML and JS.
//!
//! `cargo run -p switchyard-replicas --example serve -- glm 127.0.0.1:8788` serves one replica
//! by hand (for a look in a browser, or for out-of-process tools).

mod accounts;
mod aistudio;
pub mod answer;
pub mod clock;
mod deepseek;
pub mod faults;
mod glm;
mod google_signin;
mod heavy;
pub mod hooks;
mod huggingchat;
mod ids;
pub mod knobs;
pub mod log;
mod mimo;
mod moonshot;
mod perplexity;
mod qwen;
mod server;
pub mod site;
mod stream;

pub use answer::Expected;
pub use hooks::HookChange;
pub use knobs::Knobs;
pub use log::{Outcome, ReceivedFile, ReceivedRequest, ReceivedSettings, RunClick};
pub use server::ReplicaServer;
pub use site::Site;
