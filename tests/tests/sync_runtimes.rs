//! The primitives need no runtime of their own, only wakers: they work between two nbio
//! runtimes on different threads, and with another executor (futures-lite's `block_on`).

use std::sync::Arc;
use std::thread;

use nbio::sync::{mpsc, oneshot, Mutex, Notify};
use nbio_tests::watched;

#[test]
fn a_oneshot_crosses_from_one_runtime_to_another_on_another_thread() {
    watched(|| {
        let (tx, rx) = oneshot::channel();
        let sender = thread::spawn(move || {
            let runtime = nbio::Runtime::new().unwrap();
            runtime.block_on(async move {
                nbio::time::sleep(std::time::Duration::from_millis(5)).await;
                tx.send(String::from("across")).unwrap();
            })
        });
        let runtime = nbio::Runtime::new().unwrap();
        assert_eq!(runtime.block_on(rx).unwrap(), "across");
        sender.join().unwrap();
    });
}

#[test]
fn a_channel_feeds_another_executor_and_a_mutex_is_shared_with_it() {
    watched(|| {
        let (tx, mut rx) = mpsc::channel(2);
        let mutex = Arc::new(Mutex::new(0));
        let notify = Arc::new(Notify::new());
        let foreign = thread::spawn({
            let (mutex, notify) = (Arc::clone(&mutex), Arc::clone(&notify));
            move || {
                futures_lite::future::block_on(async move {
                    let mut sum = 0;
                    while let Some(n) = rx.recv().await {
                        sum += n;
                        *mutex.lock().await += 1;
                    }
                    notify.notified().await;
                    sum
                })
            }
        });
        nbio::block_on(async {
            for n in 1..=100 {
                tx.send(n).await.unwrap();
                *mutex.lock().await += 1;
            }
            drop(tx);
        });
        notify.notify_one();
        assert_eq!(foreign.join().unwrap(), 5050);
        assert_eq!(Arc::try_unwrap(mutex).unwrap().into_inner(), 200);
    });
}
