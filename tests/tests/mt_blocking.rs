//! The blocking pool on the multi-thread flavour: jobs run on the pool's threads, never on a
//! worker; a `Handle` reaches the pool from any thread; files work from any worker; shutdown
//! waits for a job only as long as it is told to.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use nbio::Runtime;
use nbio_tests::{eventually, watched, TempDir};

const LONG: Duration = Duration::from_secs(10);

fn two_workers() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_string()
}

#[test]
fn a_job_spawned_by_a_worker_task_runs_on_a_pool_thread_and_returns_to_it() {
    watched(|| {
        let rt = two_workers();
        let (spawner, job_thread) = rt.block_on(async {
            nbio::spawn(async {
                let job = nbio::spawn_blocking(thread_name);
                (thread_name(), job.await.unwrap())
            })
            .await
            .unwrap()
        });
        assert!(spawner.starts_with("nbio-worker-"), "{spawner}");
        assert!(!job_thread.starts_with("nbio-worker-"), "{job_thread}");
        assert_eq!(rt.stats().blocking_jobs_run, 1);
    });
}

#[test]
fn a_handle_spawns_blocking_jobs_from_a_plain_thread_on_either_flavour() {
    watched(|| {
        for rt in [Runtime::new().unwrap(), two_workers()] {
            let handle = rt.handle();
            let job = std::thread::spawn(move || handle.spawn_blocking(|| 6 * 7))
                .join()
                .unwrap();
            assert_eq!(rt.block_on(job).unwrap(), 42);
        }
    });
}

#[test]
fn workers_keep_running_tasks_while_every_pool_thread_blocks() {
    watched(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .max_blocking_threads(4)
            .build()
            .unwrap();
        let (release, wait) = mpsc::channel::<()>();
        let wait = std::sync::Arc::new(std::sync::Mutex::new(wait));
        rt.block_on(async {
            // Four jobs hold all four pool threads until the ticker below is done: if a job
            // held a worker, or the workers waited for the pool, the ticker would never finish.
            let jobs: Vec<_> = (0..4)
                .map(|_| {
                    let wait = std::sync::Arc::clone(&wait);
                    nbio::spawn_blocking(move || wait.lock().unwrap().recv().unwrap())
                })
                .collect();
            let ticker = nbio::spawn(async {
                for _ in 0..5 {
                    nbio::time::sleep(Duration::from_millis(2)).await;
                }
            });
            ticker.await.unwrap();
            assert_eq!(
                nbio::stats().blocking_jobs_run,
                0,
                "a job ended before the ticker"
            );
            for _ in 0..4 {
                release.send(()).unwrap();
            }
            for job in jobs {
                job.await.unwrap();
            }
        });
    });
}

#[test]
fn files_are_read_and_written_from_worker_tasks() {
    watched(|| {
        let dir = TempDir::new();
        let path = dir.path().join("note.txt");
        let rt = two_workers();
        let read = rt.block_on(async move {
            nbio::spawn(async move {
                nbio::fs::write(&path, b"from a worker").await.unwrap();
                nbio::fs::read_to_string(&path).await.unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(read, "from a worker");
    });
}

#[test]
fn shutdown_timeout_on_worker_threads_names_a_job_that_outlives_its_grace() {
    watched(|| {
        let rt = two_workers();
        let (release, wait) = mpsc::channel::<()>();
        let stuck = rt.spawn_blocking(move || wait.recv().unwrap());
        eventually(LONG, || rt.stats().blocking_jobs_running == 1).expect("the job starts");
        assert_eq!(rt.dump().jobs().len(), 1, "{}", rt.dump());
        let grace = Duration::from_millis(100);
        let began = Instant::now();
        let report = rt.shutdown_timeout(grace);
        let took = began.elapsed();
        assert!(took >= grace, "returned after {took:?}, before its grace");
        assert!(
            took < grace + LONG * nbio_tests::slowdown(),
            "took {took:?}"
        );
        assert_eq!(report.still_running().len(), 1, "{report}");
        assert_eq!(report.still_running()[0].id, stuck.id());
        assert!(report.to_string().contains("mt_blocking.rs"), "{report}");
        release.send(()).unwrap();
        drop(stuck);
    });
}
