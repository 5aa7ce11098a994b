//! Each primitive knows where it was made, which tasks wait on it and (a mutex) which task
//! holds it: what a report of who-waits-on-whom will read. Checked through `Debug` and the
//! accessors, with the ids of the tasks that really wait.

use std::sync::Arc;

use nbio::sync::{mpsc, oneshot, Mutex, Notify, Semaphore};
use nbio_tests::watched;

/// Yields a few times: every task spawned before is waiting by the end.
async fn settle() {
    for _ in 0..4 {
        nbio::yield_now().await;
    }
}

#[test]
fn every_constructor_records_the_line_that_called_it() {
    let (tx, _rx) = mpsc::channel::<u8>(1);
    let line = line!() - 1;
    assert_eq!((tx.made_at().file(), tx.made_at().line()), (file!(), line));
    let (tx, _rx) = mpsc::unbounded_channel::<u8>();
    let line = line!() - 1;
    assert_eq!(tx.made_at().line(), line);
    let (tx, rx) = oneshot::channel::<u8>();
    let line = line!() - 1;
    assert_eq!(tx.made_at().line(), line);
    assert_eq!(rx.made_at().map(|at| at.line()), Some(line));
    let (mutex, semaphore, notify) = (Mutex::new(()), Semaphore::new(1), Notify::new());
    let line = line!() - 1;
    assert_eq!(mutex.made_at().line(), line);
    assert_eq!(semaphore.made_at().line(), line);
    assert_eq!(notify.made_at().line(), line);
}

#[test]
fn a_full_channel_names_the_tasks_parked_on_it_and_the_waiting_receiver() {
    watched(|| {
        nbio::block_on(async {
            let (tx, rx) = mpsc::channel(1);
            tx.send(0).await.unwrap();
            let parked = nbio::spawn({
                let tx = tx.clone();
                async move {
                    let _refused = tx.send(1).await; // the receiver goes below
                }
            });
            settle().await;
            let shown = format!("{tx:?}");
            let id = parked.id().as_u64();
            assert!(
                shown.contains(&format!("parked_tasks: [TaskId({id})]")),
                "{shown}"
            );
            assert!(
                shown.contains("parked_senders: 1") && shown.contains(file!()),
                "{shown}"
            );
            drop(rx);
            parked.await.unwrap();

            let (tx, mut rx) = mpsc::unbounded_channel::<u8>();
            let receiver = nbio::spawn(async move { rx.recv().await });
            settle().await;
            let shown = format!("{tx:?}");
            let id = receiver.id().as_u64();
            assert!(
                shown.contains(&format!("receiver_waiting: Some(TaskId({id}))")),
                "{shown}"
            );
            drop(tx);
            assert_eq!(receiver.await.unwrap(), None);
        });
    });
}

#[test]
fn a_mutex_semaphore_and_notify_name_their_waiting_tasks() {
    watched(|| {
        nbio::block_on(async {
            let mutex = Arc::new(Mutex::new(()));
            let semaphore = Arc::new(Semaphore::new(0));
            let notify = Arc::new(Notify::new());
            let guard = mutex.lock().await;
            let on_mutex = nbio::spawn({
                let mutex = Arc::clone(&mutex);
                async move { drop(mutex.lock().await) }
            });
            let on_semaphore = nbio::spawn({
                let semaphore = Arc::clone(&semaphore);
                async move { drop(semaphore.acquire().await.unwrap()) }
            });
            let on_notify = nbio::spawn({
                let notify = Arc::clone(&notify);
                async move { notify.notified().await }
            });
            settle().await;
            let waiting = |shown: String, id: nbio::task::TaskId| {
                assert!(
                    shown.contains(&format!("waiting_tasks: [{id:?}]")),
                    "{shown}"
                );
            };
            waiting(format!("{mutex:?}"), on_mutex.id());
            waiting(format!("{semaphore:?}"), on_semaphore.id());
            waiting(format!("{notify:?}"), on_notify.id());
            drop(guard);
            semaphore.add_permits(1);
            notify.notify_one();
            on_mutex.await.unwrap();
            on_semaphore.await.unwrap();
            on_notify.await.unwrap();
            assert!(format!("{mutex:?}").contains("waiting_tasks: []"));
        });
    });
}
