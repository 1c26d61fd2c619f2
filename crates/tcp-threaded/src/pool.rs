//! A fixed-size thread pool, after the Rust book's final web server
//! (chapter 21): jobs go into a channel, N workers take them out one at a
//! time, and dropping the pool closes the channel and joins every worker.
//!
//! Three changes from the book. Workers get a small, explicit stack: a
//! thread that only copies lines needs far less than the 2 MiB default, and
//! with hundreds of workers that is the difference between a few MB and
//! hundreds of MB of address space. A panicking job is caught, so one bad
//! connection cannot quietly shrink the pool. And the pool says when every
//! worker is busy and jobs start to wait, and how long the longest wait
//! was once the queue is empty again: a pool pinned by long connections is
//! otherwise invisible from the outside.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use common::log;

/// A job and when it was queued.
type Job = (Instant, Box<dyn FnOnce() + Send + 'static>);

pub struct ThreadPool {
    workers: Vec<JoinHandle<()>>,
    // An Option so Drop can drop the sender first: that is what tells the
    // workers "no more jobs", ending their `recv()` loops.
    jobs: Option<Sender<Job>>,
    load: Arc<Mutex<Load>>,
}

/// What the workers are doing, for the queueing log lines.
#[derive(Default)]
struct Load {
    workers: usize,
    /// Workers running a job.
    busy: usize,
    /// Jobs sent and not yet taken by a worker.
    queued: usize,
    /// Since when jobs have had to wait, and the longest wait so far.
    waiting_since: Option<Instant>,
    longest_wait: Duration,
    /// When the last "every worker is busy" line was logged, and whether it
    /// was for the present wait: a queue that fills and empties a thousand
    /// times a second must not write a thousand lines.
    last_logged: Option<Instant>,
    logged_this_wait: bool,
}

/// At most one "every worker is busy" line per this long.
const QUIET: Duration = Duration::from_secs(10);

impl ThreadPool {
    /// Starts `size` workers, each with a stack of `stack_size` bytes.
    pub fn new(size: usize, stack_size: usize) -> Result<ThreadPool> {
        let (jobs, queue) = channel::<Job>();
        // One receiver shared by all workers: whoever locks it first gets
        // the next job. The lock is held only while waiting in recv().
        let queue = Arc::new(Mutex::new(queue));
        let load = Arc::new(Mutex::new(Load {
            workers: size,
            ..Load::default()
        }));
        let mut workers = Vec::with_capacity(size);
        for id in 0..size {
            let (queue, load) = (Arc::clone(&queue), Arc::clone(&load));
            let worker = thread::Builder::new()
                .name(format!("worker-{id}"))
                .stack_size(stack_size)
                .spawn(move || work(id, &queue, &load))
                .with_context(|| format!("starting worker {id} of {size}"))?;
            workers.push(worker);
        }
        Ok(ThreadPool {
            workers,
            jobs: Some(jobs),
            load,
        })
    }

    /// Queues `job` for the next free worker.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) -> Result<()> {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| anyhow!("the pool is shutting down"))?;
        {
            let mut load = lock(&self.load);
            load.queued += 1;
            if load.busy + load.queued > load.workers && load.waiting_since.is_none() {
                let now = Instant::now();
                load.waiting_since = Some(now);
                load.logged_this_wait = load.last_logged.is_none_or(|t| t.elapsed() >= QUIET);
                if load.logged_this_wait {
                    load.last_logged = Some(now);
                    log!(
                        "every worker ({}) is busy: new connections wait in the queue \
                         (raise --workers, or lower --max-connection-secs)",
                        load.workers
                    );
                }
            }
        }
        jobs.send((Instant::now(), Box::new(job)))
            .map_err(|_| anyhow!("every worker has exited"))
    }
}

fn work(id: usize, queue: &Mutex<Receiver<Job>>, load: &Mutex<Load>) {
    loop {
        // The guard is a temporary: the lock is released as soon as recv()
        // returns, before the job runs, so other workers can take jobs.
        let next = lock(queue).recv();
        let Ok((queued_at, job)) = next else {
            return; // the sender was dropped: the pool is shutting down
        };
        took(load, queued_at.elapsed());
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            log!("worker-{id}: a job panicked; the worker carries on");
        }
        lock(load).busy -= 1;
    }
}

/// A worker took a job that had waited `waited` in the queue.
fn took(load: &Mutex<Load>, waited: Duration) {
    let mut load = lock(load);
    load.busy += 1;
    load.queued -= 1;
    if load.waiting_since.is_none() {
        return;
    }
    load.longest_wait = load.longest_wait.max(waited);
    if load.queued == 0
        && let Some(since) = load.waiting_since.take()
    {
        let longest = std::mem::take(&mut load.longest_wait);
        if load.logged_this_wait || longest >= Duration::from_secs(1) {
            log!(
                "the queue is empty again after {:.1} s; the longest wait for a worker was {:.1} s",
                since.elapsed().as_secs_f64(),
                longest.as_secs_f64()
            );
        }
    }
}

/// A poisoned lock only means a thread panicked while holding it; the
/// counters and the receiver are still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Drop for ThreadPool {
    /// Closes the queue and waits for every worker to finish its current
    /// job and the jobs still queued. The server makes sure those jobs end
    /// soon (a stop's cutoff ends every wait): a worker stuck on an idle
    /// client would make this join hang, which is the bug in most pool
    /// examples.
    fn drop(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                log!("a worker thread panicked outside a job");
            }
        }
    }
}
