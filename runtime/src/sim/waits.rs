//! What a host's task waits on in the simulated network, for the dump and the deadlock report:
//! "task#7 on db2 waits on recv from db3:7000, partitioned since 4.20 s".
//!
//! Nothing is recorded as tasks wait: the network already holds the waker of every task
//! waiting on it (a read's, a write's, an accept's), and the dump hands over a waker of each
//! task it describes. So the description is found when a dump asks, by looking for a waker
//! that `will_wake` the same task among the network's, and costs nothing before.

use std::net::SocketAddr;
use std::task::Waker;

use super::tcp::Phase;
use super::world::{HostId, State};
use crate::observe::human;

impl State {
    /// What the task `task` wakes waits on in the network, if it waits there.
    pub(crate) fn net_wait_of(&self, task: &Waker) -> Option<String> {
        let is = |waker: &Option<Waker>| waker.as_ref().is_some_and(|w| w.will_wake(task));
        for end in &self.tcp.ends {
            let what = if is(&end.read_waker) {
                "recv from"
            } else if !is(&end.write_waker) {
                continue;
            } else if end.phase == Phase::Connecting {
                "connect to"
            } else {
                "room to send to" // the send window is full
            };
            return Some(self.link(what, end.host, end.peer_host, end.peer));
        }
        if let Some((addr, _)) = (self.tcp.listeners.iter()).find(|(_, l)| is(&l.waker)) {
            return Some(format!("accept on {addr}"));
        }
        let socket = self.udp.waited_on_by(task)?;
        Some(format!("recv_from on {socket}"))
    }

    /// "recv from db3:7000", and what keeps the two hosts apart, if anything.
    fn link(&self, what: &str, from: HostId, to: HostId, peer: SocketAddr) -> String {
        let mut text = format!("{what} {}:{}", self.name(to), peer.port());
        if let Some((how, since)) = self.cut_since(from, to) {
            text.push_str(&format!(", {how} since {}", human(since)));
        } else if !self.hosts[to as usize].alive {
            text.push_str(", whose host is down");
        }
        text
    }
}
