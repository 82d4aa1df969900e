//! The queue state machine, free of IO and time: requests in, dispatch decisions out.
//!
//! [`Core`] holds one FIFO queue per provider and the state of every lane. Each method returns the
//! dispatches it made possible, so the owner task only has to deliver them. Lanes are picked at
//! *dequeue* time: a request waits in its provider's queue and goes to whichever lane of that
//! provider frees up first, so a short request never waits behind a long one while a sibling lane
//! is idle.
//!
//! Architecture Invariant: this module never touches a page, a channel or a clock. It is driven
//! by unit tests with plain values.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::ids::{LaneId, RequestId};
use crate::models::ProviderKind;

/// Pending requests a provider's queue holds before new ones get 429 (the reference's limit).
pub const QUEUE_CAPACITY: usize = 128;

/// How many generations may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Concurrency {
    /// One generation at a time across the gateway, oldest request first, whatever its provider.
    Serial,
    /// Every lane runs one request at a time; lanes overlap.
    PerLane,
}

/// What the API shows about a request while it is queued or running.
#[derive(Debug, Clone, Serialize)]
pub struct JobMeta {
    pub model: String,
    pub stream: bool,
    /// `chat` or `text`.
    pub kind: &'static str,
    pub queued_at: u64,
    /// The name of the API key the request came with (`None` when keys are off).
    pub key_name: Option<String>,
}

/// A decision: give `job` to `lane`.
#[derive(Debug)]
pub struct Dispatch<J> {
    pub lane: LaneId,
    pub id: RequestId,
    pub job: J,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The provider's queue already holds [`QUEUE_CAPACITY`] pending requests.
    QueueFull { pending: usize },
    /// No lane of the provider is up.
    NoLane,
}

/// What a cancel found.
#[derive(Debug)]
pub enum Cancelled<J> {
    /// The request was still queued and is now removed.
    Dequeued(J),
    /// The request is running on this lane; the lane must stop it.
    Running(LaneId),
    /// Unknown or already finished.
    NotFound,
}

/// Whether a lane may be given work, as its supervisor last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Takes requests (free or busy with one).
    Ready,
    /// Bringing its page or browser back; never picked, but its provider's queue waits for it.
    Recovering(String),
    /// Out of service (a tripped breaker, or recovery keeps failing), with the reason.
    Offline(String),
    /// Removed by a config reload: never picked again; it finishes its running request, then
    /// its supervisor stops it and [`Core::remove`] forgets it.
    Retiring(String),
}

/// A request a lane was given.
#[derive(Debug)]
struct Running {
    id: RequestId,
    seq: u64,
    meta: JobMeta,
}

#[derive(Debug)]
struct Slot {
    provider: ProviderKind,
    health: Health,
    running: Option<Running>,
    /// The request that was dispatched when the lane went recovering: its job may still sit in
    /// the lane's inbox, and the lane hands it back with [`Core::requeue`].
    stranded: Option<Running>,
    /// Logical time of the last dispatch, `None` when never used since start.
    last_used: Option<u64>,
    served: u64,
}

#[derive(Debug)]
struct Pending<J> {
    id: RequestId,
    seq: u64,
    meta: JobMeta,
    job: J,
}

/// A lane as the queue sees it.
#[derive(Debug, Clone, Serialize)]
pub struct LaneView {
    pub id: LaneId,
    pub provider: &'static str,
    /// Whether the lane takes requests.
    pub up: bool,
    /// `ready`, `busy`, `recovering` or `offline`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub current_request: Option<RequestId>,
    pub requests_served: u64,
}

/// A [`LaneView`] borrowed from the core ([`Core::lane_refs`]).
#[derive(Debug, Clone, Copy)]
pub struct LaneRef<'a> {
    pub id: &'a LaneId,
    pub provider: &'static str,
    pub up: bool,
    /// `ready`, `busy`, `recovering`, `offline` or `stopping`.
    pub state: &'static str,
    pub reason: Option<&'a str>,
    pub current_request: Option<&'a RequestId>,
    pub requests_served: u64,
}

/// A request as the queue sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    pub id: RequestId,
    pub provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lane: Option<LaneId>,
    #[serde(flatten)]
    pub meta: JobMeta,
}

/// A snapshot for `/api/queue` and `/api/lanes`.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub concurrency: Concurrency,
    pub running: Vec<RequestView>,
    pub pending: Vec<RequestView>,
    pub lanes: Vec<LaneView>,
}

/// The queues and lane states. `J` is whatever a lane needs to run a request.
#[derive(Debug)]
pub struct Core<J> {
    concurrency: Concurrency,
    lanes: BTreeMap<LaneId, Slot>,
    /// Lane ids in the order they first came up; ties between equally good lanes go to the
    /// earlier one.
    order: Vec<LaneId>,
    queues: BTreeMap<ProviderKind, VecDeque<Pending<J>>>,
    next_seq: u64,
    clock: u64,
}

impl<J> Core<J> {
    pub fn new(concurrency: Concurrency) -> Self {
        Core {
            concurrency,
            lanes: BTreeMap::new(),
            order: Vec::new(),
            queues: BTreeMap::new(),
            next_seq: 0,
            clock: 0,
        }
    }

    /// Registers a lane as ready (or marks a known lane ready again) and dispatches what it can
    /// take.
    pub fn lane_up(&mut self, lane: LaneId, provider: ProviderKind) -> Vec<Dispatch<J>> {
        match self.lanes.get_mut(&lane) {
            Some(slot) => {
                // A lane being removed stays so, even if it recovered meanwhile.
                if !matches!(slot.health, Health::Retiring(_)) {
                    slot.health = Health::Ready;
                }
                slot.running = None;
                slot.stranded = None;
            }
            None => {
                self.order.push(lane.clone());
                self.lanes.insert(
                    lane,
                    Slot {
                        provider,
                        health: Health::Ready,
                        running: None,
                        stranded: None,
                        last_used: None,
                        served: 0,
                    },
                );
            }
        }
        self.pump()
    }

    /// The lane is recovering: it is not picked until [`Core::lane_up`]. Its running request is
    /// the lane's to fail, or (if the lane never started it) to hand back with
    /// [`Core::requeue`]. The provider's queue stays: a sibling lane or this one, once back,
    /// takes it.
    pub fn lane_recovering(&mut self, lane: &LaneId, reason: &str) -> Vec<Dispatch<J>> {
        let Some(slot) = self.lanes.get_mut(lane) else {
            return Vec::new();
        };
        if !matches!(slot.health, Health::Retiring(_)) {
            slot.health = Health::Recovering(reason.to_owned());
        }
        if let Some(running) = slot.running.take() {
            slot.stranded = Some(running);
        }
        // In serial mode the lane's request no longer holds the gateway's one slot.
        self.pump()
    }

    /// A recovering lane hands back a job it was given but never started. It goes back to its
    /// place in the queue (by arrival). A job the core does not know is returned.
    pub fn requeue(
        &mut self,
        lane: &LaneId,
        id: &RequestId,
        job: J,
    ) -> Result<Vec<Dispatch<J>>, J> {
        let Some(slot) = self.lanes.get_mut(lane) else {
            return Err(job);
        };
        let Some(running) = slot.stranded.take_if(|r| &r.id == id) else {
            return Err(job);
        };
        let provider = slot.provider;
        let queue = self.queues.entry(provider).or_default();
        let at = queue.partition_point(|p| p.seq < running.seq);
        queue.insert(
            at,
            Pending {
                id: running.id,
                seq: running.seq,
                meta: running.meta,
                job,
            },
        );
        Ok(self.pump())
    }

    /// Takes a lane out of service with a reason. Its running request (if any) is the lane's to
    /// fail. When no lane of the provider is left ready or recovering, the provider's queued
    /// requests are returned: nothing would run them.
    pub fn lane_offline(
        &mut self,
        lane: &LaneId,
        reason: &str,
    ) -> (Vec<Dispatch<J>>, Vec<(RequestId, J)>) {
        let Some(slot) = self.lanes.get_mut(lane) else {
            return (Vec::new(), Vec::new());
        };
        if !matches!(slot.health, Health::Retiring(_)) {
            slot.health = Health::Offline(reason.to_owned());
        }
        slot.running = None;
        slot.stranded = None;
        let provider = slot.provider;
        let orphans = self.orphans(provider);
        (self.pump(), orphans)
    }

    /// A config reload changed how requests share the lanes (a second provider, or a single
    /// lane left). Running requests go on; what may start now starts.
    pub fn set_concurrency(&mut self, concurrency: Concurrency) -> Vec<Dispatch<J>> {
        self.concurrency = concurrency;
        self.pump()
    }

    /// A config reload removes the lane: it is never picked again, and its running request (if
    /// any) goes on to its end. When no lane of the provider is left ready or recovering, the
    /// provider's queued requests are returned: nothing would run them.
    pub fn retire(&mut self, lane: &LaneId, reason: &str) -> Vec<(RequestId, J)> {
        let Some(slot) = self.lanes.get_mut(lane) else {
            return Vec::new();
        };
        slot.health = Health::Retiring(reason.to_owned());
        let provider = slot.provider;
        self.orphans(provider)
    }

    /// Forgets a retired lane once its supervisor has stopped (after handing back what sat in
    /// its inbox). Returns what that made possible and, as [`Core::retire`], the provider's
    /// queued requests when it has no lane left.
    pub fn remove(&mut self, lane: &LaneId) -> (Vec<Dispatch<J>>, Vec<(RequestId, J)>) {
        let Some(slot) = self.lanes.remove(lane) else {
            return (Vec::new(), Vec::new());
        };
        self.order.retain(|l| l != lane);
        let orphans = self.orphans(slot.provider);
        (self.pump(), orphans)
    }

    /// The provider's queued requests when it has no lane left to run them.
    fn orphans(&mut self, provider: ProviderKind) -> Vec<(RequestId, J)> {
        if self.has_lane(provider) {
            return Vec::new();
        }
        self.queues
            .get_mut(&provider)
            .map(|q| q.drain(..).map(|p| (p.id, p.job)).collect())
            .unwrap_or_default()
    }

    /// Admits a request into its provider's queue and dispatches what became possible.
    pub fn submit(
        &mut self,
        id: RequestId,
        provider: ProviderKind,
        meta: JobMeta,
        job: J,
    ) -> Result<Vec<Dispatch<J>>, (Rejection, J)> {
        if !self.has_lane(provider) {
            return Err((Rejection::NoLane, job));
        }
        let queue = self.queues.entry(provider).or_default();
        if queue.len() >= QUEUE_CAPACITY {
            return Err((
                Rejection::QueueFull {
                    pending: queue.len(),
                },
                job,
            ));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        queue.push_back(Pending { id, seq, meta, job });
        Ok(self.pump())
    }

    /// A lane finished its request (completed, failed or stopped) and is free again.
    pub fn finished(&mut self, lane: &LaneId) -> Vec<Dispatch<J>> {
        if let Some(slot) = self.lanes.get_mut(lane) {
            slot.running = None;
        }
        self.pump()
    }

    /// Cancels a request: removed if queued; reported with its lane if running.
    pub fn cancel(&mut self, id: &RequestId) -> Cancelled<J> {
        for queue in self.queues.values_mut() {
            if let Some(pos) = queue.iter().position(|p| &p.id == id) {
                if let Some(p) = queue.remove(pos) {
                    return Cancelled::Dequeued(p.job);
                }
            }
        }
        for (lane, slot) in &self.lanes {
            if slot.running.as_ref().is_some_and(|r| &r.id == id) {
                return Cancelled::Running(lane.clone());
            }
        }
        Cancelled::NotFound
    }

    /// How many requests are running.
    pub fn running(&self) -> usize {
        self.lanes.values().filter(|s| s.running.is_some()).count()
    }

    /// A queued request's place in line: its 1-based position and how many wait in the same
    /// line. The line is its provider's queue, or in serial mode every queue, by arrival.
    /// `None` when it is not queued.
    pub fn position(&self, id: &RequestId) -> Option<(usize, usize)> {
        let (provider, seq) = self
            .queues
            .iter()
            .find_map(|(provider, q)| q.iter().find(|p| &p.id == id).map(|p| (*provider, p.seq)))?;
        let line: Vec<u64> = match self.concurrency {
            Concurrency::Serial => self
                .queues
                .values()
                .flat_map(|q| q.iter().map(|p| p.seq))
                .collect(),
            Concurrency::PerLane => self
                .queues
                .get(&provider)
                .map(|q| q.iter().map(|p| p.seq).collect())
                .unwrap_or_default(),
        };
        let ahead = line.iter().filter(|s| **s < seq).count();
        Some((ahead + 1, line.len()))
    }

    /// Removes every pending request; returns them in arrival order.
    pub fn clear(&mut self) -> Vec<(RequestId, J)> {
        let mut all: Vec<Pending<J>> = self.queues.values_mut().flat_map(|q| q.drain(..)).collect();
        all.sort_by_key(|p| p.seq);
        all.into_iter().map(|p| (p.id, p.job)).collect()
    }

    /// How many requests wait in the queues.
    pub fn queued(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Every lane as the board copies it, borrowed, in lane order: the scheduler hands these
    /// to the board after every command, so nothing is cloned unless a lane changed.
    pub fn lane_refs(&self) -> impl Iterator<Item = LaneRef<'_>> {
        self.order.iter().filter_map(|lane| {
            let slot = self.lanes.get(lane)?;
            let (state, reason) = match &slot.health {
                Health::Ready if slot.running.is_some() => ("busy", None),
                Health::Ready => ("ready", None),
                Health::Recovering(why) => ("recovering", Some(why.as_str())),
                Health::Offline(why) => ("offline", Some(why.as_str())),
                Health::Retiring(why) => ("stopping", Some(why.as_str())),
            };
            Some(LaneRef {
                id: lane,
                provider: slot.provider.prefix(),
                up: slot.health == Health::Ready,
                state,
                reason,
                current_request: slot.running.as_ref().map(|r| &r.id),
                requests_served: slot.served,
            })
        })
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut running = Vec::new();
        for lane in &self.order {
            let Some(slot) = self.lanes.get(lane) else {
                continue;
            };
            if let Some(r) = &slot.running {
                running.push(RequestView {
                    id: r.id.clone(),
                    provider: slot.provider.prefix(),
                    lane: Some(lane.clone()),
                    meta: r.meta.clone(),
                });
            }
        }
        let lanes = self
            .lane_refs()
            .map(|v| LaneView {
                id: v.id.clone(),
                provider: v.provider,
                up: v.up,
                state: v.state,
                reason: v.reason.map(str::to_owned),
                current_request: v.current_request.cloned(),
                requests_served: v.requests_served,
            })
            .collect();
        let mut pending: Vec<(u64, RequestView)> = self
            .queues
            .iter()
            .flat_map(|(provider, q)| {
                q.iter().map(|p| {
                    (
                        p.seq,
                        RequestView {
                            id: p.id.clone(),
                            provider: provider.prefix(),
                            lane: None,
                            meta: p.meta.clone(),
                        },
                    )
                })
            })
            .collect();
        pending.sort_by_key(|(seq, _)| *seq);
        Snapshot {
            concurrency: self.concurrency,
            running,
            pending: pending.into_iter().map(|(_, v)| v).collect(),
            lanes,
        }
    }

    /// Whether the provider has a lane that takes requests now or will after recovering.
    fn has_lane(&self, provider: ProviderKind) -> bool {
        self.lanes.values().any(|s| {
            s.provider == provider && matches!(s.health, Health::Ready | Health::Recovering(_))
        })
    }

    /// Hands queued requests to free lanes until nothing more can start.
    fn pump(&mut self) -> Vec<Dispatch<J>> {
        let mut out = Vec::new();
        loop {
            if self.concurrency == Concurrency::Serial
                && self.lanes.values().any(|s| s.running.is_some())
            {
                break;
            }
            // The oldest head among providers that have a free lane. In serial mode no lane is
            // busy here, so this is strict global arrival order; in per-lane mode the choice of
            // provider does not matter, every startable request starts in this loop.
            let candidate = self
                .queues
                .iter()
                .filter_map(|(provider, q)| q.front().map(|p| (*provider, p.seq)))
                .filter(|(provider, _)| self.free_lane(*provider).is_some())
                .min_by_key(|(_, seq)| *seq);
            let Some((provider, _)) = candidate else {
                break;
            };
            let (Some(lane), Some(pending)) = (
                self.free_lane(provider),
                self.queues.get_mut(&provider).and_then(|q| q.pop_front()),
            ) else {
                break;
            };
            self.clock += 1;
            if let Some(slot) = self.lanes.get_mut(&lane) {
                slot.running = Some(Running {
                    id: pending.id.clone(),
                    seq: pending.seq,
                    meta: pending.meta,
                });
                slot.last_used = Some(self.clock);
                slot.served += 1;
            }
            out.push(Dispatch {
                lane,
                id: pending.id,
                job: pending.job,
            });
        }
        out
    }

    /// The best free lane of a provider: never used since start first (in the order they came
    /// up), then the least recently used. Only ready lanes are picked; a recovering lane never is.
    fn free_lane(&self, provider: ProviderKind) -> Option<LaneId> {
        self.order
            .iter()
            .filter_map(|id| self.lanes.get(id).map(|s| (id, s)))
            .filter(|(_, s)| {
                s.provider == provider && s.health == Health::Ready && s.running.is_none()
            })
            .min_by_key(|(_, s)| s.last_used.map_or((0, 0), |t| (1, t)))
            .map(|(id, _)| id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(s: &str) -> LaneId {
        LaneId(s.to_owned())
    }
    fn rid(s: &str) -> RequestId {
        RequestId(s.to_owned())
    }
    fn meta() -> JobMeta {
        JobMeta {
            model: "m".into(),
            stream: true,
            kind: "chat",
            queued_at: 0,
            key_name: None,
        }
    }
    fn ids(d: &[Dispatch<&'static str>]) -> Vec<(String, String)> {
        d.iter()
            .map(|d| (d.lane.0.clone(), d.id.0.clone()))
            .collect()
    }
    fn pair(l: &str, r: &str) -> (String, String) {
        (l.to_owned(), r.to_owned())
    }

    const DS: ProviderKind = ProviderKind::DeepSeek;
    const GLM: ProviderKind = ProviderKind::Glm;

    #[test]
    fn serial_mode_runs_one_at_a_time_in_global_arrival_order() {
        let mut core = Core::new(Concurrency::Serial);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("glm_chat:1"), GLM);
        let d = core.submit(rid("a"), DS, meta(), "a").unwrap();
        assert_eq!(ids(&d), vec![pair("deepseek:1", "a")]);
        // Another provider's lane is idle, but serial mode holds the request.
        assert!(core.submit(rid("b"), GLM, meta(), "b").unwrap().is_empty());
        assert!(core.submit(rid("c"), DS, meta(), "c").unwrap().is_empty());
        // b arrived before c, so b goes next even though c's provider just freed up.
        assert_eq!(
            ids(&core.finished(&lane("deepseek:1"))),
            vec![pair("glm_chat:1", "b")]
        );
        assert_eq!(
            ids(&core.finished(&lane("glm_chat:1"))),
            vec![pair("deepseek:1", "c")]
        );
        assert!(core.finished(&lane("deepseek:1")).is_empty());
    }

    #[test]
    fn per_lane_mode_overlaps_providers_but_serialises_a_lane() {
        let mut core = Core::new(Concurrency::PerLane);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("glm_chat:1"), GLM);
        assert_eq!(
            ids(&core.submit(rid("a"), DS, meta(), "a").unwrap()).len(),
            1
        );
        assert_eq!(
            ids(&core.submit(rid("b"), GLM, meta(), "b").unwrap()),
            vec![pair("glm_chat:1", "b")]
        );
        assert!(core.submit(rid("c"), DS, meta(), "c").unwrap().is_empty());
        assert_eq!(
            ids(&core.finished(&lane("deepseek:1"))),
            vec![pair("deepseek:1", "c")]
        );
    }

    #[test]
    fn pick_at_dequeue_lets_a_short_request_use_the_sibling_lane() {
        let mut core = Core::new(Concurrency::PerLane);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("deepseek:2"), DS);
        core.lane_up(lane("deepseek:3"), DS);
        let first: Vec<_> = ["long1", "long2", "short"]
            .iter()
            .flat_map(|r| ids(&core.submit(rid(r), DS, meta(), "x").unwrap()))
            .collect();
        assert_eq!(
            first,
            vec![
                pair("deepseek:1", "long1"),
                pair("deepseek:2", "long2"),
                pair("deepseek:3", "short")
            ]
        );
        assert!(
            core.submit(rid("next"), DS, meta(), "x")
                .unwrap()
                .is_empty()
        );
        // Lane 3 frees first: the waiting request goes there, not to a lane picked at enqueue.
        assert_eq!(
            ids(&core.finished(&lane("deepseek:3"))),
            vec![pair("deepseek:3", "next")]
        );
    }

    #[test]
    fn free_lanes_are_chosen_never_used_first_then_least_recently_used() {
        let mut core = Core::new(Concurrency::PerLane);
        core.lane_up(lane("glm_chat:1"), GLM);
        core.lane_up(lane("glm_chat:2"), GLM);
        core.lane_up(lane("glm_chat:3"), GLM);
        let mut order = Vec::new();
        for r in ["a", "b", "c", "d", "e"] {
            let d = core.submit(rid(r), GLM, meta(), "x").unwrap();
            let lane_id = d[0].lane.clone();
            order.push(lane_id.0.clone());
            core.finished(&lane_id);
        }
        // 1 then the never-used 2 and 3, then least recently used: 1, 2.
        assert_eq!(
            order,
            vec![
                "glm_chat:1",
                "glm_chat:2",
                "glm_chat:3",
                "glm_chat:1",
                "glm_chat:2"
            ]
        );
    }

    #[test]
    fn admission_rejects_a_full_queue_and_a_provider_without_lanes() {
        let mut core = Core::new(Concurrency::Serial);
        assert_eq!(
            core.submit(rid("x"), DS, meta(), "x").unwrap_err().0,
            Rejection::NoLane
        );
        core.lane_up(lane("deepseek:1"), DS);
        core.submit(rid("running"), DS, meta(), "x").unwrap();
        for i in 0..QUEUE_CAPACITY {
            core.submit(rid(&format!("p{i}")), DS, meta(), "x").unwrap();
        }
        assert_eq!(
            core.submit(rid("over"), DS, meta(), "x").unwrap_err().0,
            Rejection::QueueFull { pending: 128 }
        );
    }

    #[test]
    fn cancel_removes_queued_and_reports_running() {
        let mut core = Core::new(Concurrency::Serial);
        core.lane_up(lane("deepseek:1"), DS);
        core.submit(rid("a"), DS, meta(), "job-a").unwrap();
        core.submit(rid("b"), DS, meta(), "job-b").unwrap();
        assert!(matches!(
            core.cancel(&rid("b")),
            Cancelled::Dequeued("job-b")
        ));
        assert!(matches!(core.cancel(&rid("a")), Cancelled::Running(l) if l.0 == "deepseek:1"));
        assert!(matches!(core.cancel(&rid("zz")), Cancelled::NotFound));
        assert!(core.finished(&lane("deepseek:1")).is_empty());
        assert!(core.snapshot().pending.is_empty());
    }

    #[test]
    fn a_provider_losing_its_last_lane_returns_its_queue() {
        let mut core = Core::new(Concurrency::PerLane);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("deepseek:2"), DS);
        core.submit(rid("a"), DS, meta(), "a").unwrap();
        core.submit(rid("b"), DS, meta(), "b").unwrap();
        core.submit(rid("c"), DS, meta(), "c").unwrap();
        assert!(core.lane_offline(&lane("deepseek:1"), "gone").1.is_empty());
        let orphans: Vec<_> = core
            .lane_offline(&lane("deepseek:2"), "gone")
            .1
            .into_iter()
            .map(|(id, _)| id.0)
            .collect();
        assert_eq!(orphans, vec!["c"]);
        assert_eq!(
            core.submit(rid("d"), DS, meta(), "d").unwrap_err().0,
            Rejection::NoLane
        );
        // Back up: it takes new work again.
        assert_eq!(core.lane_up(lane("deepseek:1"), DS).len(), 0);
        assert_eq!(core.submit(rid("e"), DS, meta(), "e").unwrap().len(), 1);
    }

    #[test]
    fn a_retiring_lane_finishes_its_request_is_never_picked_and_is_forgotten() {
        let mut core = Core::new(Concurrency::PerLane);
        core.lane_up(lane("glm_chat:1"), GLM);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("deepseek:2"), DS);
        core.submit(rid("a"), DS, meta(), "a").unwrap();
        core.submit(rid("g"), GLM, meta(), "g").unwrap();
        // deepseek:1 runs `a`; retiring it keeps `a` running, and deepseek:2 stays.
        assert!(core.retire(&lane("deepseek:1"), "removed").is_empty());
        let snap = core.snapshot();
        assert_eq!(snap.lanes[1].state, "stopping");
        assert_eq!(snap.lanes[1].current_request, Some(rid("a")));
        // A recovery report does not bring a retiring lane back.
        core.lane_up(lane("deepseek:1"), DS);
        assert_eq!(core.snapshot().lanes[1].state, "stopping");
        let d = core.submit(rid("b"), DS, meta(), "b").unwrap();
        assert_eq!(ids(&d), vec![pair("deepseek:2", "b")]);
        core.submit(rid("c"), DS, meta(), "c").unwrap();
        assert!(
            core.finished(&lane("deepseek:1")).is_empty(),
            "never picked again"
        );
        let (d, orphans) = core.remove(&lane("deepseek:1"));
        assert!(d.is_empty() && orphans.is_empty());
        assert_eq!(core.snapshot().lanes.len(), 2);
        // The provider's last lane: its queue comes back to be failed.
        core.submit(rid("g2"), GLM, meta(), "g2").unwrap();
        let orphans: Vec<_> = core
            .retire(&lane("glm_chat:1"), "removed")
            .into_iter()
            .map(|(id, _)| id.0)
            .collect();
        assert_eq!(orphans, vec!["g2"]);
        assert_eq!(
            core.submit(rid("g3"), GLM, meta(), "g3").unwrap_err().0,
            Rejection::NoLane
        );
    }

    #[test]
    fn a_recovering_lane_is_never_picked_and_hands_back_its_unstarted_job_in_place() {
        let mut core = Core::new(Concurrency::PerLane);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("deepseek:2"), DS);
        // a runs on lane 1, b sits in lane 2's inbox (not started), c and d wait.
        core.submit(rid("a"), DS, meta(), "a").unwrap();
        core.submit(rid("b"), DS, meta(), "b").unwrap();
        core.submit(rid("c"), DS, meta(), "c").unwrap();
        core.submit(rid("d"), DS, meta(), "d").unwrap();
        assert!(
            core.lane_recovering(&lane("deepseek:2"), "the page crashed")
                .is_empty()
        );
        assert_eq!(core.running(), 1);
        // The provider still has a lane coming back: new requests are admitted and wait.
        assert!(core.submit(rid("e"), DS, meta(), "e").unwrap().is_empty());
        // Lane 2 hands back b: it goes before c, and nothing is dispatched to lane 2.
        assert!(
            core.requeue(&lane("deepseek:2"), &rid("b"), "b")
                .unwrap()
                .is_empty()
        );
        assert!(core.requeue(&lane("deepseek:2"), &rid("zz"), "zz").is_err());
        let pending: Vec<_> = core
            .snapshot()
            .pending
            .iter()
            .map(|p| p.id.0.clone())
            .collect();
        assert_eq!(pending, vec!["b", "c", "d", "e"]);
        let view = &core.snapshot().lanes[1];
        assert_eq!(
            (view.state, view.reason.as_deref()),
            ("recovering", Some("the page crashed"))
        );
        // Lane 1 frees up and takes b; lane 2 back up takes c.
        assert_eq!(
            ids(&core.finished(&lane("deepseek:1"))),
            vec![pair("deepseek:1", "b")]
        );
        assert_eq!(
            ids(&core.lane_up(lane("deepseek:2"), DS)),
            vec![pair("deepseek:2", "c")]
        );
    }

    #[test]
    fn serial_mode_frees_the_gateway_slot_when_the_running_lane_recovers() {
        let mut core = Core::new(Concurrency::Serial);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("glm_chat:1"), GLM);
        core.submit(rid("a"), DS, meta(), "a").unwrap();
        assert!(core.submit(rid("b"), GLM, meta(), "b").unwrap().is_empty());
        assert_eq!(
            ids(&core.lane_recovering(&lane("deepseek:1"), "crashed")),
            vec![pair("glm_chat:1", "b")]
        );
        // Offline with a queue and no lane left: the queue is returned.
        core.submit(rid("c"), DS, meta(), "c").unwrap();
        let (_, orphans) = core.lane_offline(&lane("deepseek:1"), "gone");
        assert_eq!(orphans.len(), 1);
        assert_eq!(core.snapshot().lanes[0].state, "offline");
    }

    #[test]
    fn position_counts_the_line_a_request_waits_in() {
        let mut core = Core::new(Concurrency::PerLane);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("glm_chat:1"), GLM);
        core.submit(rid("a"), DS, meta(), "a").unwrap();
        core.submit(rid("g"), GLM, meta(), "g").unwrap();
        core.submit(rid("b"), DS, meta(), "b").unwrap();
        core.submit(rid("h"), GLM, meta(), "h").unwrap();
        core.submit(rid("c"), DS, meta(), "c").unwrap();
        assert_eq!(core.running(), 2);
        assert_eq!(core.position(&rid("a")), None, "running, not queued");
        assert_eq!(core.position(&rid("b")), Some((1, 2)));
        assert_eq!(core.position(&rid("c")), Some((2, 2)));
        assert_eq!(core.position(&rid("h")), Some((1, 1)));

        // Serial mode: one line across providers, by arrival.
        let mut core = Core::new(Concurrency::Serial);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("glm_chat:1"), GLM);
        core.submit(rid("a"), DS, meta(), "a").unwrap();
        core.submit(rid("g"), GLM, meta(), "g").unwrap();
        core.submit(rid("b"), DS, meta(), "b").unwrap();
        assert_eq!(core.position(&rid("g")), Some((1, 2)));
        assert_eq!(core.position(&rid("b")), Some((2, 2)));
    }

    #[test]
    fn clear_removes_every_pending_request_in_arrival_order() {
        let mut core = Core::new(Concurrency::Serial);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("glm_chat:1"), GLM);
        core.submit(rid("a"), DS, meta(), "a").unwrap();
        core.submit(rid("g"), GLM, meta(), "g").unwrap();
        core.submit(rid("b"), DS, meta(), "b").unwrap();
        let cleared: Vec<_> = core
            .clear()
            .into_iter()
            .map(|(id, job)| (id.0, job))
            .collect();
        assert_eq!(cleared, vec![("g".to_owned(), "g"), ("b".to_owned(), "b")]);
        assert!(core.snapshot().pending.is_empty());
        assert_eq!(core.running(), 1, "the running request is not touched");
        assert_eq!(core.finished(&lane("deepseek:1")).len(), 0);
    }

    #[test]
    fn snapshot_lists_running_then_pending_in_arrival_order() {
        let mut core = Core::new(Concurrency::Serial);
        core.lane_up(lane("deepseek:1"), DS);
        core.lane_up(lane("glm_chat:1"), GLM);
        core.submit(rid("a"), DS, meta(), "a").unwrap();
        core.submit(rid("b"), GLM, meta(), "b").unwrap();
        core.submit(rid("c"), DS, meta(), "c").unwrap();
        let snap = core.snapshot();
        let running: Vec<_> = snap.running.iter().map(|r| r.id.0.as_str()).collect();
        let pending: Vec<_> = snap.pending.iter().map(|r| r.id.0.as_str()).collect();
        assert_eq!(running, vec!["a"]);
        assert_eq!(pending, vec!["b", "c"]);
        assert_eq!(snap.lanes[0].current_request, Some(rid("a")));
        assert_eq!(snap.lanes[0].requests_served, 1);
    }
}
