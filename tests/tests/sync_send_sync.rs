//! Compile-time checks: every primitive of `nbio::sync` is `Send + Sync` when its data is
//! `Send`, and so are the futures of its methods, so a task using them can be `spawn`ed. (A
//! type that lost one of these bounds would fail to compile this file.)

use std::rc::Rc;

use nbio::sync::{mpsc, oneshot, Mutex, Notify, Semaphore};

fn send_sync<T: Send + Sync>(_: &T) {}
fn send<T: Send>(_: &T) {}

#[test]
fn every_primitive_and_its_futures_are_send_and_sync() {
    let (tx, mut rx) = oneshot::channel::<Vec<u8>>();
    send_sync(&tx);
    send_sync(&rx);
    let (mut tx2, rx2) = oneshot::channel::<u8>();
    send(&tx2.closed());
    drop((rx2, tx));
    let _ = rx.try_recv();

    let (tx, mut rx) = mpsc::channel::<String>(1);
    send_sync(&tx);
    send_sync(&rx);
    send_sync(&tx.send(String::new()));
    send_sync(&rx.recv());
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    send_sync(&tx);
    send_sync(&rx.recv());

    let mutex = Mutex::new(0u64);
    send_sync(&mutex);
    send_sync(&mutex.lock());
    send_sync(&mutex.try_lock().unwrap());

    let notify = Notify::new();
    send_sync(&notify);
    send_sync(&notify.notified());

    let semaphore = Semaphore::new(1);
    send_sync(&semaphore);
    send_sync(&semaphore.acquire());
    send_sync(&semaphore.try_acquire().unwrap());
}

#[test]
fn a_task_holding_a_guard_across_an_await_can_be_spawned() {
    nbio::block_on(async {
        let mutex = std::sync::Arc::new(Mutex::new(Vec::new()));
        let task = nbio::spawn({
            let mutex = std::sync::Arc::clone(&mutex);
            async move {
                let mut guard = mutex.lock().await;
                nbio::yield_now().await;
                guard.push(1);
            }
        });
        task.await.unwrap();
        assert_eq!(*mutex.lock().await, [1]);
    });
}

#[test]
fn a_mutex_guard_is_sync_only_when_the_data_is() {
    // `Cell` is Send but not Sync: the mutex may be shared, its guard may be sent, but `&guard`
    // may not cross threads. Checked here by what compiles: the guard is Send.
    let mutex = Mutex::new(std::cell::Cell::new(1));
    send_sync(&mutex);
    send(&mutex.try_lock().unwrap());
    // Data that is not Send at all keeps the channel from crossing threads; it still works on
    // one thread.
    let (tx, mut rx) = mpsc::unbounded_channel::<Rc<u8>>();
    tx.send(Rc::new(1)).unwrap();
    assert_eq!(*rx.try_recv().unwrap(), 1);
}
