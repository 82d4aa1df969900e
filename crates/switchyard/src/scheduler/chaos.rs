//! The chaos test: the pure [`Core`] driven by a model of supervised lanes through 100,000
//! requests with random cancels, crashes, panics and lanes going offline.
//!
//! The fake lanes follow the supervisor's protocol (`lanes::supervisor`): a crash or a panic
//! fails the request in flight, marks the lane recovering, hands back what sat in its inbox,
//! and later brings the lane up again (or takes it offline). The checks: no lane ever holds
//! more than one request, in-flight never exceeds capacity, every request ends exactly once
//! with an answer or an error, and at the end no slot is left taken. A seeded RNG keeps it
//! deterministic.

use std::collections::{HashMap, HashSet, VecDeque};

use super::core::{Cancelled, Concurrency, Core, Dispatch, JobMeta};
use crate::ids::{LaneId, RequestId};
use crate::models::ProviderKind;

const REQUESTS: u64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Answered,
    Failed,
}

#[derive(Debug, PartialEq, Eq)]
enum Health {
    Up,
    Recovering,
    Offline,
}

struct FakeLane {
    id: LaneId,
    provider: ProviderKind,
    health: Health,
    inbox: VecDeque<RequestId>,
    running: Option<RequestId>,
}

struct World {
    rng: fastrand::Rng,
    concurrency: Concurrency,
    core: Core<RequestId>,
    lanes: Vec<FakeLane>,
    ends: HashMap<RequestId, End>,
    /// Requests whose client went away while the lane held them.
    cancelled: HashSet<RequestId>,
    open: Vec<RequestId>,
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

impl World {
    fn end(&mut self, id: &RequestId, how: End) {
        let before = self.ends.insert(id.clone(), how);
        assert!(before.is_none(), "{id} ended twice");
        self.open.retain(|r| r != id);
    }

    fn lane_mut(&mut self, id: &LaneId) -> &mut FakeLane {
        self.lanes.iter_mut().find(|l| &l.id == id).unwrap()
    }

    fn deliver(&mut self, dispatches: Vec<Dispatch<RequestId>>) {
        for d in dispatches {
            assert_eq!(d.id, d.job);
            let lane = self.lane_mut(&d.lane);
            assert_eq!(
                lane.health,
                Health::Up,
                "dispatched to a lane that is not up"
            );
            assert!(
                lane.inbox.is_empty() && lane.running.is_none(),
                "{} was given a second request",
                lane.id
            );
            lane.inbox.push_back(d.job);
        }
        self.check();
    }

    fn check(&self) {
        let held: usize = self
            .lanes
            .iter()
            .map(|l| l.inbox.len() + usize::from(l.running.is_some()))
            .sum();
        let capacity = match self.concurrency {
            Concurrency::Serial => 1,
            Concurrency::PerLane => self.lanes.len(),
        };
        assert!(
            held <= capacity,
            "{held} requests held, capacity {capacity}"
        );
        assert!(self.core.running() <= capacity);
        assert_eq!(held, self.core.running(), "the core and the lanes disagree");
    }

    fn submit(&mut self, n: u64) {
        let id = RequestId(format!("r{n}"));
        let provider = if self.rng.bool() {
            ProviderKind::DeepSeek
        } else {
            ProviderKind::Glm
        };
        self.open.push(id.clone());
        match self.core.submit(id.clone(), provider, meta(), id.clone()) {
            Ok(d) => self.deliver(d),
            // A 429 or a 503 is an answer to the client too.
            Err((_, job)) => self.end(&job, End::Failed),
        }
    }

    fn cancel(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let id = self.open[self.rng.usize(..self.open.len())].clone();
        match self.core.cancel(&id) {
            Cancelled::Dequeued(job) => self.end(&job, End::Failed),
            // The lane sees the token and stops it at its next step.
            Cancelled::Running(_) | Cancelled::NotFound => {
                self.cancelled.insert(id);
            }
        }
    }

    /// One step of lane `i`.
    fn step(&mut self, i: usize) {
        let roll = self.rng.u32(..100);
        let lane = &self.lanes[i];
        let id = lane.id.clone();
        match lane.health {
            Health::Up if roll < 2 => self.fault(i),
            Health::Up => {
                if let Some(running) = self.lanes[i].running.take() {
                    let how = if self.cancelled.contains(&running) {
                        End::Failed
                    } else {
                        End::Answered
                    };
                    self.end(&running, how);
                    let d = self.core.finished(&id);
                    self.deliver(d);
                } else if let Some(job) = self.lanes[i].inbox.pop_front() {
                    self.lanes[i].running = Some(job);
                }
            }
            Health::Recovering if roll < 5 => {
                // Recovery keeps failing: offline, and a provider without lanes fails its queue.
                self.lanes[i].health = Health::Offline;
                let (d, orphans) = self.core.lane_offline(&id, "recovery failed");
                for (_, job) in orphans {
                    self.end(&job, End::Failed);
                }
                self.deliver(d);
            }
            Health::Recovering | Health::Offline if roll < 40 => {
                self.lanes[i].health = Health::Up;
                let d = self.core.lane_up(id, self.lanes[i].provider);
                self.deliver(d);
            }
            Health::Recovering | Health::Offline => {}
        }
    }

    /// A crash or a panic: the request in flight gets an error, the lane goes recovering and
    /// hands back what it was given but never started.
    fn fault(&mut self, i: usize) {
        let id = self.lanes[i].id.clone();
        if let Some(running) = self.lanes[i].running.take() {
            self.end(&running, End::Failed);
        }
        self.lanes[i].health = Health::Recovering;
        let d = self.core.lane_recovering(&id, "the page crashed");
        let stranded: Vec<RequestId> = self.lanes[i].inbox.drain(..).collect();
        self.deliver(d);
        for job in stranded {
            match self.core.requeue(&id, &job.clone(), job) {
                Ok(d) => self.deliver(d),
                Err(job) => self.end(&job, End::Failed),
            }
        }
    }

    fn run(mut self) {
        let mut submitted = 0;
        let mut steps = 0u64;
        while submitted < REQUESTS || !self.open.is_empty() {
            steps += 1;
            assert!(steps < REQUESTS * 1000, "the model stopped making progress");
            match self.rng.u32(..100) {
                0..30 if submitted < REQUESTS => {
                    self.submit(submitted);
                    submitted += 1;
                }
                30..33 => self.cancel(),
                _ => {
                    let i = self.rng.usize(..self.lanes.len());
                    self.step(i);
                }
            }
        }
        assert_eq!(self.ends.len() as u64, REQUESTS);
        assert!(self.ends.values().any(|e| *e == End::Answered));
        assert_eq!(self.core.running(), 0, "leaked slots");
        assert_eq!(self.core.queued(), 0);
        assert!(
            self.lanes
                .iter()
                .all(|l| l.inbox.is_empty() && l.running.is_none())
        );
        let snap = self.core.snapshot();
        assert!(snap.lanes.iter().all(|l| l.current_request.is_none()));
        assert!(snap.running.is_empty() && snap.pending.is_empty());
    }
}

fn world(seed: u64, concurrency: Concurrency) -> World {
    let mut core = Core::new(concurrency);
    let mut lanes = Vec::new();
    for (provider, prefix) in [
        (ProviderKind::DeepSeek, "deepseek"),
        (ProviderKind::Glm, "glm_chat"),
    ] {
        for n in 1..=3 {
            let id = LaneId(format!("{prefix}:{n}"));
            assert!(core.lane_up(id.clone(), provider).is_empty());
            lanes.push(FakeLane {
                id,
                provider,
                health: Health::Up,
                inbox: VecDeque::new(),
                running: None,
            });
        }
    }
    World {
        rng: fastrand::Rng::with_seed(seed),
        concurrency,
        core,
        lanes,
        ends: HashMap::new(),
        cancelled: HashSet::new(),
        open: Vec::new(),
    }
}

#[test]
fn chaos_per_lane_every_request_ends_and_no_slot_leaks() {
    world(0x5eed_0001, Concurrency::PerLane).run();
}

#[test]
fn chaos_serial_every_request_ends_and_no_slot_leaks() {
    world(0x5eed_0002, Concurrency::Serial).run();
}
