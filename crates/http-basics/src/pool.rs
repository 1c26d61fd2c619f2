//! A fixed-size thread pool, copied from tcp-threaded, which took it from
//! the Rust book's final web server (chapter 21): jobs go into a channel,
//! N workers take them out one at a time, and dropping the pool closes the
//! channel and joins every worker.
//!
//! Two changes from the book. Workers get a small, explicit stack: a
//! thread that serves one connection needs far less than the 2 MiB default, and
//! with hundreds of workers that is the difference between a few MB and
//! hundreds of MB of address space. And a panicking job is caught, so one
//! bad connection cannot quietly shrink the pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use anyhow::{Context, Result, anyhow};
use common::log;

type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct ThreadPool {
    workers: Vec<JoinHandle<()>>,
    // An Option so Drop can drop the sender first: that is what tells the
    // workers "no more jobs", ending their `recv()` loops.
    jobs: Option<Sender<Job>>,
}

impl ThreadPool {
    /// Starts `size` workers, each with a stack of `stack_size` bytes.
    pub fn new(size: usize, stack_size: usize) -> Result<ThreadPool> {
        let (jobs, queue) = channel::<Job>();
        // One receiver shared by all workers: whoever locks it first gets
        // the next job. The lock is held only while waiting in recv().
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = Vec::with_capacity(size);
        for id in 0..size {
            let queue = Arc::clone(&queue);
            let worker = thread::Builder::new()
                .name(format!("worker-{id}"))
                .stack_size(stack_size)
                .spawn(move || work(id, &queue))
                .with_context(|| format!("starting worker {id} of {size}"))?;
            workers.push(worker);
        }
        Ok(ThreadPool {
            workers,
            jobs: Some(jobs),
        })
    }

    /// Queues `job` for the next free worker.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) -> Result<()> {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| anyhow!("the pool is shutting down"))?;
        jobs.send(Box::new(job))
            .map_err(|_| anyhow!("every worker has exited"))
    }
}

fn work(id: usize, queue: &Mutex<Receiver<Job>>) {
    loop {
        // The guard is a temporary: the lock is released as soon as recv()
        // returns, before the job runs, so other workers can take jobs.
        let next = queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        let Ok(job) = next else {
            return; // the sender was dropped: the pool is shutting down
        };
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            log!("worker-{id}: a job panicked; the worker carries on");
        }
    }
}

impl Drop for ThreadPool {
    /// Closes the queue and waits for every worker to finish its current
    /// job and the jobs still queued. The server makes sure those jobs end
    /// soon (see patient.rs): a worker stuck on an idle client would make
    /// this join hang, which is the bug in most pool examples.
    fn drop(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                log!("a worker thread panicked outside a job");
            }
        }
    }
}
