//! switchyard: an OpenAI-compatible gateway whose backends are provider chat web apps, driven in
//! real Chromium pages ("lanes").
//!
//! # Layout
//! - [`accounts`]: saved accounts: the encrypted store, the account choice, `switchyard accounts`.
//! - [`api`]: HTTP, OpenAI wire types, SSE, inspection endpoints.
//! - [`dashboard`]: the web dashboard at `/` (lanes, queue, settings, recent requests, live
//!   lane view), its event stream and its routes.
//! - [`artifacts`]: capture files and failure bundles (what a lane saves to disk).
//! - [`models`]: model-ID catalog and routing table (pure).
//! - [`shaping`]: chat messages to one prompt and the site switches (pure).
//! - [`scheduler`]: queues, the three queue modes, lane choice, cancellation.
//! - [`metrics`]: the Prometheus metrics of `GET /metrics`.
//! - [`lanes`]: lane plan, start-up, the lane task and its relay.
//! - [`browser`]: Chromium via chromiumoxide: launch, contexts, timed CDP, capture.
//! - [`providers`]: one folder and spec per provider site (defaults, switches, driver), and
//!   the registry.
//! - [`config`]: the TOML file, validated.
//! - [`gateway`]: assembles a running gateway, reloads its config and shuts it down.
//! - [`reload`]: what a config reload changes (the diff, pure) and the live, swappable config.
//! - [`signals`]: SIGINT and SIGTERM, for the graceful shutdown; SIGHUP, for a reload.
//! - [`demo`] and [`bench`]: the `switchyard demo` and `switchyard bench` commands.
//! - [`decode_cmd`]: `switchyard decode`, a captured body printed as the client's SSE.
//! - [`doctor`]: `switchyard doctor`, which checks every page hook of each configured site.
//! - [`status`]: `switchyard status`, a running gateway's lanes and queue as tables.
//!
//! See ARCHITECTURE.md for how a request flows through these.

pub mod accounts;
pub mod api;
pub mod artifacts;
pub mod bench;
pub mod browser;
pub mod config;
pub mod dashboard;
pub mod decode_cmd;
pub mod demo;
pub mod doctor;
pub mod gateway;
pub mod ids;
pub mod keys;
pub mod lanes;
pub mod login;
pub mod metrics;
pub mod models;
pub mod providers;
pub mod reload;
pub mod scheduler;
pub mod shaping;
pub mod signals;
pub mod status;
pub mod tasks;
