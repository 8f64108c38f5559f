//! A worker pool on one link: one producer (the primary) and three worker
//! processes (secondaries that opened the same segment). The rings are
//! MPMC, so the workers share the producer's ring: each job is taken by
//! exactly one of them, and all of them answer on the other ring.
//!
//! Run with `cargo run --release --example worker_pool`.

use std::collections::BTreeMap;
use std::process::{Child, Command, ExitCode};
use std::time::Duration;

use hqq::{LinkConfig, StandardLink};

/// Set in a worker's environment to `"<segment name> <worker number>"`.
const WORKER_ENV: &str = "HQQ_WORKER_POOL_WORKER";
/// Worker processes.
const WORKERS: usize = 3;
/// Jobs the producer hands out.
const JOBS: u64 = 3_000;
/// No receive waits longer than this: a vanished peer is an error, not a hang.
const PATIENCE: Duration = Duration::from_secs(10);
/// The message that tells one worker to stop (each worker takes exactly one).
const STOP: &[u8] = b"stop";

type Error = Box<dyn std::error::Error>;

fn open_config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config.slots(64).buffer_size(64);
    config
}

fn main() -> ExitCode {
    let result = match std::env::var(WORKER_ENV) {
        Ok(role) => worker(&role),
        Err(_) => producer(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("worker_pool: {error}");
            ExitCode::FAILURE
        }
    }
}

fn producer() -> Result<(), Error> {
    let name = format!("hqq-worker-pool-{}", std::process::id());
    let link = StandardLink::create(&name, &open_config())?;
    link.set_read_timeout(Some(PATIENCE));
    link.set_write_timeout(Some(PATIENCE));
    let exe = std::env::current_exe()?;
    let workers = (0..WORKERS)
        .map(|w| {
            Command::new(&exe)
                .env(WORKER_ENV, format!("{name} {w}"))
                .spawn()
        })
        .collect::<Result<Vec<Child>, _>>()?;
    println!("producer: {JOBS} jobs for {WORKERS} workers on /dev/shm/{name}");

    // Jobs and answers interleave: the producer sends a job when the ring
    // has room and reads an answer otherwise, so neither ring can fill up
    // with both sides waiting.
    let mut done_by: BTreeMap<u64, usize> = BTreeMap::new();
    let mut per_worker = [0u64; WORKERS];
    let mut buf = [0u8; 64];
    let mut next = 0;
    while (done_by.len() as u64) < JOBS {
        if next < JOBS && link.try_send(&next.to_le_bytes()).is_ok() {
            next += 1;
            continue;
        }
        // An answer: 8 bytes of job number, 1 byte of worker number.
        let n = link.recv(&mut buf)?;
        let answer = buf.get(..n).filter(|a| a.len() == 9).ok_or("bad answer")?;
        let job = u64::from_le_bytes(answer[..8].try_into()?);
        let worker = usize::from(answer[8]);
        *per_worker.get_mut(worker).ok_or("bad worker number")? += 1;
        if done_by.insert(job, worker).is_some() || job >= JOBS {
            return Err(format!("job {job} answered twice or never sent").into());
        }
    }
    for _ in 0..WORKERS {
        link.send(STOP)?;
    }
    for (w, mut child) in workers.into_iter().enumerate() {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("worker {w} exited with {status}").into());
        }
    }
    for (w, count) in per_worker.iter().enumerate() {
        println!("worker {w}: {count} jobs");
    }
    println!(
        "every one of the {JOBS} jobs was done exactly once ({} answers)",
        done_by.len()
    );
    Ok(())
}

fn worker(role: &str) -> Result<(), Error> {
    let (name, number) = role.split_once(' ').ok_or("bad worker role")?;
    let number: u8 = number.parse()?;
    // Another secondary on the same segment: it shares the rings.
    let link = StandardLink::open(name, &open_config())?;
    link.set_read_timeout(Some(PATIENCE));
    link.set_write_timeout(Some(PATIENCE));
    let mut buf = [0u8; 64];
    loop {
        let n = link.recv(&mut buf)?;
        let job = buf.get(..n).ok_or("bad job")?;
        if job == STOP {
            return Ok(());
        }
        let mut answer = [0u8; 9];
        answer[..8].copy_from_slice(job.get(..8).ok_or("short job")?);
        answer[8] = number;
        link.send(&answer)?;
    }
}
